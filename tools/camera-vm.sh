#!/usr/bin/env bash
# camera-vm.sh - run a command in a throw-away VM that has a real V4L2 camera
# driver (the kernel's `vivid` test driver) at /dev/video0, and the network
# drivers the fault tests need (veth, netem) that a container host may lack.
#
#   tools/camera-vm.sh [--camera vivid|vimc] [--vivid "MODULE OPTIONS"] [--timeout SECONDS] COMMAND [ARGS...]
#   tools/camera-vm.sh --prepare   # only fetch and build what the VM boots (the cache below)
#
# framewire's camera tests use it: this machine has no camera, and a kernel
# driver is the only honest stand-in for one (real ioctls, real mmap buffers,
# real timestamps, real unplug). Debian's stock kernel boots under qemu from
# a small busybox initramfs that loads vivid and mounts the host's /usr and
# /etc read-only (so host binaries run unchanged), the current directory and
# the command's directory read-only, and a job directory read-write; then it
# runs COMMAND as root in a chroot. COMMAND's stdout and stderr come back
# live and the script exits with its status (124: timeout, 125: the VM failed).
#
# With `--camera vimc` the camera is the kernel's `vimc` instead: a camera
# behind a media controller graph (sensor, debayer, scaler, capture), as a
# Raspberry Pi's camera module is, which libcamera drives with its vimc
# pipeline handler (so `libcamerify` on the host's libcamera runs through
# it). Debian's kernel lacks vimc; it is built from Debian's linux-source
# package for the same kernel, the way v4l2loopback is.
#
# Inside the VM, $CAMERA_VM_VIVID_KO is vivid's module file and
# $CAMERA_VM_VIVID_OPTIONS its options, so a test can unplug the camera
# (`busybox rmmod vivid`) and plug it back (`busybox insmod ...`).
# /dev/video10 is a v4l2loopback device ($CAMERA_VM_LOOPBACK): whatever a
# program writes to it (e.g. MJPEG frames) is what a reader captures, so
# MJPEG cameras can be played too. v4l2loopback is built once from Debian's
# v4l2loopback-dkms source against the kernel's headers (gcc and make).
# The VM has no network device; loopback is up.
#
# Needs: qemu-system-x86, busybox-static and kmod (installed with apt-get when
# missing and running as root). The kernel is fetched with `apt-get download`
# and kept in $CAMERA_VM_CACHE (default /var/tmp/framewire-camera-vm).
set -euo pipefail

CAMERA=vivid
VIVID="n_devs=1 node_types=0x1 num_inputs=1 input_types=0x0"
TIMEOUT=300
CACHE=${CAMERA_VM_CACHE:-/var/tmp/framewire-camera-vm}

fail() { echo "camera-vm: $*" >&2; exit 125; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) PREPARE=1; shift ;;
    --camera) CAMERA=$2; shift 2 ;;
    --vivid) VIVID=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; break ;;
    -*) fail "unknown option $1 (see --help)" ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || [ -n "${PREPARE:-}" ] || fail "usage: camera-vm.sh [--camera vivid|vimc] [--vivid OPTIONS] [--timeout SECONDS] COMMAND [ARGS...]"
case "$CAMERA" in vivid | vimc) ;; *) fail "--camera is vivid or vimc, not $CAMERA" ;; esac

# ------------------------------------------------------------ host packages
missing=()
command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v cpio >/dev/null || missing+=(cpio)
command -v make >/dev/null || missing+=(make)
command -v gcc >/dev/null || missing+=(gcc)
command -v depmod >/dev/null || [ -x /sbin/depmod ] || missing+=(kmod)
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "install these packages first: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update >/dev/null 2>&1; apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null; } \
    || fail "apt-get install ${missing[*]} failed"
fi
export PATH=$PATH:/sbin:/usr/sbin

# ------------------------------------------------------ kernel and initramfs
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9   # one builder at a time; runs themselves share the cache read-only
# Bump when the initramfs changes, so cached ones are rebuilt.
LAYOUT=4
if [ "$(cat "$CACHE/ready" 2>/dev/null)" != "$LAYOUT" ]; then
  rm -rf "$CACHE/kernel" "$CACHE/initrd" && mkdir -p "$CACHE/kernel"
  package=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2}' | head -n 1)
  [ -n "$package" ] || { apt-get update >/dev/null 2>&1 || true;
    package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2}' | head -n 1); }
  [ -n "$package" ] || fail "cannot find Debian's linux-image package"
  ( cd "$CACHE/kernel" && apt-get download "$package" >/dev/null 2>&1 ) \
    || fail "apt-get download $package failed"
  dpkg-deb -x "$CACHE"/kernel/*.deb "$CACHE/kernel/root"
  release=${package#linux-image-}
  modules="$CACHE/kernel/root/lib/modules/$release"
  [ -d "$modules/kernel/drivers/media/test-drivers/vivid" ] || fail "$package has no vivid driver"
  depmod -b "$CACHE/kernel/root" "$release"
  cp "$CACHE"/kernel/root/boot/vmlinuz-"$release" "$CACHE/vmlinuz"

  # v4l2loopback, built against this kernel's headers without installing them.
  src="$CACHE/kernel/src"
  abi=${release%-amd64}
  kbuild="linux-kbuild-$(echo "$release" | cut -d. -f1,2)"
  ( cd "$CACHE/kernel" && apt-get download v4l2loopback-dkms "linux-headers-$release" \
      "linux-headers-$abi-common" "$kbuild" >/dev/null 2>&1 ) \
    || fail "apt-get download of v4l2loopback-dkms and the kernel headers failed"
  for deb in "$CACHE"/kernel/v4l2loopback-dkms_*.deb "$CACHE"/kernel/linux-headers-*.deb "$CACHE"/kernel/linux-kbuild-*.deb; do
    dpkg-deb -x "$deb" "$src"
  done
  headers="$src/usr/src/linux-headers-$release"
  sed -i "s#include /usr/src/#include $src/usr/src/#" "$headers/Makefile"
  loopback=$(echo "$src"/usr/src/v4l2loopback-*)
  make -s -C "$headers" M="$loopback" modules >/dev/null 2>&1 || fail "building v4l2loopback failed"

  # vimc, from the source of the same kernel (only its directory is unpacked).
  version=$(dpkg-deb -f "$CACHE"/kernel/linux-image-*.deb Version)
  ( cd "$CACHE/kernel" && apt-get download "linux-source-$(echo "$release" | cut -d. -f1,2)=$version" >/dev/null 2>&1 ) \
    || fail "apt-get download of linux-source $version failed"
  vimc_dir=linux-source-$(echo "$release" | cut -d. -f1,2)/drivers/media/test-drivers/vimc
  dpkg-deb --fsys-tarfile "$CACHE"/kernel/linux-source-*.deb | tar -xO --wildcards './usr/src/linux-source-*.tar.xz' \
    | xz -dc | tar -x -C "$src" "$vimc_dir" || fail "unpacking vimc's source failed"
  make -s -C "$headers" M="$src/$vimc_dir" CONFIG_VIDEO_VIMC=m modules >/dev/null 2>&1 || fail "building vimc failed"

  # The initramfs: busybox, and the modules for 9p, virtio and vivid in load order.
  tree="$CACHE/initrd"
  mkdir -p "$tree/bin" "$tree/modules"
  cp /bin/busybox "$tree/bin/busybox"
  : > "$tree/modules/order"
  cp "$loopback/v4l2loopback.ko" "$src/$vimc_dir/vimc.ko" "$tree/modules/"
  for module in virtio_pci 9pnet_virtio 9p veth sch_netem vivid; do
    modprobe -d "$CACHE/kernel/root" -S "$release" --show-depends "$module" | while read -r kind path _; do
      [ "$kind" = insmod ] || continue
      name=$(basename "$path")
      grep -qx "$name" "$tree/modules/order" && continue
      case "$path" in
        *.xz) xz -dc "$path" > "$tree/modules/${name%.xz}"; name=${name%.xz} ;;
        *.zst) zstd -qdc "$path" > "$tree/modules/${name%.zst}"; name=${name%.zst} ;;
        *) cp "$path" "$tree/modules/$name" ;;
      esac
      grep -qx "$name" "$tree/modules/order" || echo "$name" >> "$tree/modules/order"
    done
  done
  # The camera loads last: vivid with the options the job directory holds,
  # or vimc (whose modules vivid's include).
  cat > "$tree/init" <<'INIT'
#!/bin/busybox sh
B=/bin/busybox
$B mkdir -p /proc /sys /dev /job /newroot
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for name in $($B cat /modules/order); do
  [ "$name" = vivid.ko ] || $B insmod "/modules/$name"
done
$B mount -t 9p -o trans=virtio,version=9p2000.L job /job
if [ "$($B cat /job/camera)" = vimc ]; then
  $B insmod /modules/vimc.ko
else
  $B insmod /modules/vivid.ko $($B cat /job/vivid-options)
fi
$B insmod /modules/v4l2loopback.ko video_nr=10 exclusive_caps=1 card_label=loopback
R=/newroot
$B mount -t tmpfs root $R
$B mkdir -p $R/usr $R/etc $R/proc $R/sys $R/dev $R/tmp $R/run $R/job $R/var/tmp
for tag in usr etc; do
  $B mount -t 9p -o trans=virtio,version=9p2000.L,ro "$tag" "$R/$tag"
done
for link in bin sbin lib lib64; do $B ln -s "usr/$link" "$R/$link"; done
$B mount --move /job $R/job
$B mount -t proc proc $R/proc
$B mount -t sysfs sys $R/sys
$B mount -t devtmpfs dev $R/dev
$B mount -t tmpfs tmp $R/tmp
$B mount -t tmpfs run $R/run
$B mount -t tmpfs vartmp $R/var/tmp
# The host directories last, so one under /tmp is not hidden by the tmpfs.
i=0
while read -r path; do
  $B mkdir -p "$R$path"
  $B mount -t 9p -o trans=virtio,version=9p2000.L,ro "dir$i" "$R$path"
  i=$((i + 1))
done < $R/job/dirs
$B cp /modules/vivid.ko $R/run/vivid.ko
$B ip link set lo up
$B chroot $R /bin/bash /job/run.sh > $R/job/stdout 2> $R/job/stderr
echo $? > $R/job/rc
$B sync
$B poweroff -f
INIT
  chmod +x "$tree/init"
  ( cd "$tree" && find . | cpio -o -H newc --quiet | gzip -1 > "$CACHE/initrd.gz" )
  rm -rf "$CACHE/kernel"
  echo "$LAYOUT" > "$CACHE/ready"
fi
flock -u 9
[ -z "${PREPARE:-}" ] || exit 0

# ------------------------------------------------------------------- the run
job=$(mktemp -d /tmp/camera-vm.XXXXXX)
trap 'kill "${qemu_pid:-}" 2>/dev/null || true; rm -rf "$job"' EXIT
echo "$VIVID" > "$job/vivid-options"
echo "$CAMERA" > "$job/camera"
program=$(type -P "$1" || true)
[ -n "$program" ] || fail "$1: command not found"
dirs=("$PWD" "$(cd "$(dirname "$program")" && pwd)")
printf '%s\n' "${dirs[@]}" > "$job/dirs"
{
  echo "export PATH=/usr/local/bin:/usr/bin:/usr/sbin HOME=/tmp TMPDIR=/tmp"
  echo "export CAMERA_VM=1 CAMERA_VM_CAMERA=$CAMERA CAMERA_VM_VIVID_KO=/run/vivid.ko CAMERA_VM_VIVID_OPTIONS='$VIVID' CAMERA_VM_LOOPBACK=/dev/video10"
  for name in RUST_LOG RUST_BACKTRACE NO_COLOR; do
    [ -n "${!name:-}" ] && printf 'export %s=%q\n' "$name" "${!name}"
  done
  for name in $(compgen -e | grep '^FRAMEWIRE_' || true); do printf 'export %s=%q\n' "$name" "${!name}"; done
  printf 'cd %q\n' "$PWD"
  printf '%q ' "$program" "${@:2}"
  echo
} > "$job/run.sh"
: > "$job/stdout"; : > "$job/stderr"

shares=(-virtfs "local,path=/usr,mount_tag=usr,security_model=none,readonly=on"
        -virtfs "local,path=/etc,mount_tag=etc,security_model=none,readonly=on"
        -virtfs "local,path=$job,mount_tag=job,security_model=none")
for i in "${!dirs[@]}"; do
  shares+=(-virtfs "local,path=${dirs[$i]},mount_tag=dir$i,security_model=none,readonly=on")
done
qemu-system-x86_64 -nodefaults -nographic -no-reboot -accel tcg -cpu max -smp 2 -m 1024 \
  -kernel "$CACHE/vmlinuz" -initrd "$CACHE/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1 mitigations=off" \
  -serial "file:$job/console" -nic none "${shares[@]}" &
qemu_pid=$!
tail -q -n +1 -f "$job/stdout" --pid=$qemu_pid &
tail -q -n +1 -f "$job/stderr" --pid=$qemu_pid >&2 &
deadline=$((SECONDS + TIMEOUT))
while kill -0 $qemu_pid 2>/dev/null; do
  if [ $SECONDS -ge $deadline ]; then
    kill $qemu_pid; wait $qemu_pid 2>/dev/null || true
    echo "camera-vm: timed out after $TIMEOUT s" >&2; exit 124
  fi
  sleep 0.2
done
wait $qemu_pid 2>/dev/null || true
sleep 0.3 # let the tails flush
if [ ! -s "$job/rc" ]; then
  echo "camera-vm: the VM stopped without running the command; its console:" >&2
  tail -n 30 "$job/console" >&2
  exit 125
fi
exit "$(cat "$job/rc")"
