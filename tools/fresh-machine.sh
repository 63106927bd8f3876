#!/usr/bin/env bash
# A newcomer's machine, for the quick-start test: a fresh Debian 12 root made
# with debootstrap, holding what a desktop with the Rust toolchain has and
# nothing this host installed, with a clone of the repository in the home of
# an ordinary user who may use sudo.
#
#   tools/fresh-machine.sh make ROOT REPO     # builds ROOT (about 3 min)
#   tools/fresh-machine.sh run ROOT COMMAND   # runs COMMAND as that user, in the clone
#
# `make` adds to Debian's base system: sudo, curl and ca-certificates (what
# installing rustup took), the client side of a desktop's display (Mesa's
# Vulkan driver and loader, the X11 client libraries), and the host's Rust
# toolchain for this machine only (its other targets are left out; rustup's
# own servers cannot be reached from here). Not a compiler, libclang or nasm:
# finding and installing those is the quick start's job. `run` works in a
# mount namespace of its own (nothing to clean up after a kill), with the
# host's /tmp/.X11-unix (the display, an X server on the host) and DISPLAY.
# Needs root, debootstrap, unshare (util-linux) and the network to Debian's
# mirror and the crate registry.
set -euo pipefail

user=newcomer
desktop_packages=(sudo curl ca-certificates mesa-vulkan-drivers libvulkan1 libx11-xcb1
                  libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6)

# Runs "$@" inside the root with /proc, /sys, /dev and the display mounted
# (in place of this script when $replace is `exec`).
inside() {
    local root=$1
    shift
    ${replace:-} unshare --mount --propagation private --fork --kill-child=SIGTERM \
        bash -c 'root=$1; shift
                 mount -t proc proc "$root/proc"
                 mount --rbind /sys "$root/sys"
                 mount --rbind /dev "$root/dev"
                 mkdir -p "$root/tmp/.X11-unix"
                 [ -d /tmp/.X11-unix ] && mount --bind /tmp/.X11-unix "$root/tmp/.X11-unix"
                 exec chroot "$root" "$@"' inside "$root" "$@"
}

make_root() {
    local root=$1 repo=$2
    [ "$(id -u)" -eq 0 ] || { echo "making a root needs root" >&2; exit 1; }
    command -v debootstrap >/dev/null || { echo "needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }
    rm -rf "$root"
    debootstrap bookworm "$root" http://deb.debian.org/debian
    cp /etc/resolv.conf "$root/etc/resolv.conf"
    printf '127.0.1.1\t%s\n' "$(hostname)" >> "$root/etc/hosts" # as the installer writes it
    inside "$root" apt-get update -q
    inside "$root" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${desktop_packages[@]}"
    # The certificate authorities this network's HTTPS goes through (a
    # machine here trusts them, or no crate downloads): the host's local ones.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/"
        inside "$root" update-ca-certificates
    fi
    inside "$root" useradd --create-home --shell /bin/bash "$user"
    echo "$user ALL=(ALL) NOPASSWD: ALL" > "$root/etc/sudoers.d/$user"

    # The Rust toolchain as rustup installs it: the toolchain under ~/.rustup,
    # rustup and its proxies in ~/.cargo/bin, put on PATH by ~/.cargo/env.
    local home=$root/home/$user host_triple sysroot toolchain
    host_triple=$(rustc -vV | sed -n 's/^host: //p')
    sysroot=$(rustc --print sysroot)
    toolchain=$home/.rustup/toolchains/stable-$host_triple
    mkdir -p "$toolchain" "$home/.cargo/bin"
    tar -C "$sysroot" --exclude='./share/doc' --exclude='./lib/rustlib/src' -cf - . | tar -C "$toolchain" -xf -
    for target in "$toolchain"/lib/rustlib/*-*-*/; do
        [ "$(basename "$target")" = "$host_triple" ] || rm -rf "$target"
    done
    printf 'version = "12"\ndefault_toolchain = "stable-%s"\nprofile = "default"\nauto_self_update = "disable"\n' \
        "$host_triple" > "$home/.rustup/settings.toml"
    cp "$(command -v rustup)" "$home/.cargo/bin/rustup"
    for proxy in cargo rustc rustdoc rust-gdb rust-lldb rustfmt cargo-fmt cargo-clippy clippy-driver; do
        ln -sf rustup "$home/.cargo/bin/$proxy"
    done
    echo 'export PATH="$HOME/.cargo/bin:$PATH"' > "$home/.cargo/env"
    echo '. "$HOME/.cargo/env"' >> "$home/.profile"

    git clone --quiet "$repo" "$home/framewire"
    inside "$root" chown -R "$user:$user" "/home/$user"
}

run_in_root() {
    local root=$1
    shift
    # `exec` all the way down: the command's exit status is this script's,
    # and when this script's process (unshare, which ignores SIGTERM) is
    # killed, the command gets a SIGTERM.
    # XDG_RUNTIME_DIR as a desktop session's login sets it.
    local uid
    uid=$(chroot "$root" id -u "$user")
    mkdir -p "$root/run/user/$uid"
    chown "$uid:$uid" "$root/run/user/$uid"
    chmod 700 "$root/run/user/$uid"
    replace=exec inside "$root" runuser --login "$user" --whitelist-environment=DISPLAY \
        --command "export XDG_RUNTIME_DIR=/run/user/\$(id -u); cd ~/framewire && exec $*"
}

case "${1:-}" in
    make) [ $# -eq 3 ] || { echo "usage: $0 make ROOT REPO" >&2; exit 2; }; make_root "$2" "$3" ;;
    run) [ $# -ge 3 ] || { echo "usage: $0 run ROOT COMMAND..." >&2; exit 2; }; root=$2; shift 2; run_in_root "$root" "$@" ;;
    *) echo "usage: $0 make ROOT REPO | run ROOT COMMAND..." >&2; exit 2 ;;
esac
