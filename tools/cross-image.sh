#!/usr/bin/env bash
# Builds, without any container registry, a local image that stands in for
# cross's own (ghcr.io/cross-rs/*, which CI cannot pull): a Debian 12 root
# made with debootstrap holding Debian's cross compilers for arm64 and armhf,
# their C libraries, the host's C compiler and libclang (bindgen), imported
# into podman.
#
#   tools/cross-image.sh [IMAGE]   # default localhost/framewire-cross:bookworm
#
# cross mounts the host's Rust toolchain, cargo home and the project into
# the container, so the image needs no Rust. The project's
# `.cargo/config.toml` names the linkers and the sysroots bindgen reads.
# Use it with cross's image override, e.g.
#
#   CROSS_CONTAINER_ENGINE=podman \
#   CROSS_TARGET_AARCH64_UNKNOWN_LINUX_GNU_IMAGE=localhost/framewire-cross:bookworm \
#   cross build --release --target aarch64-unknown-linux-gnu -p framewire-sender
#
# Podman as root here needs runc and ulimits below the hard limits:
# `CONTAINERS_CONF=tools/containers.conf`. Needs root, debootstrap, podman.
set -euo pipefail
cd "$(dirname "$0")/.."

image=${1:-localhost/framewire-cross:bookworm}
# gcc and libc6-dev: the host's C compiler, for build scripts and proc macros.
packages=(gcc libc6-dev gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf
          libc6-dev-armhf-cross libclang-dev)
# Not in /tmp: a tmpfs mounted nodev there (systemd's tmp.mount) makes
# debootstrap refuse the root, which needs device nodes.
root=$(mktemp -d /var/tmp/framewire-cross-image.XXXXXX)
trap 'rm -rf "$root"' EXIT

debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" apt-get update -q
chroot "$root" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${packages[@]}"
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root/etc/resolv.conf"
tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - "$image"
echo "built $image"
