#!/usr/bin/env bash
# The README's first command: sets up what framewire's build and its demo
# need, builds both programs in release mode, and starts the demo (the
# receiver's window showing a sender's live test pattern over TCP on this
# machine). Arguments go to `framewire-receiver --demo`.
#
# Each need is probed for what it is (a working C compiler, libclang, nasm, a
# Vulkan driver, the X11 client libraries), not by package name, so a machine
# that has everything gets nothing but the build. On Debian and Ubuntu what
# is missing is installed with apt-get (through sudo when not root), saying
# what and why; elsewhere the script names what to install and stops.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v cargo >/dev/null; then
    echo "cargo is not on PATH: install Rust with rustup (https://rustup.rs), open a new shell, run $0 again." >&2
    exit 1
fi

missing=()  # Debian/Ubuntu package names
reasons=()  # why each is needed, for the message
need() { missing+=("$1"); reasons+=("$1: $2"); }

has_library() { /sbin/ldconfig -p 2>/dev/null | grep -q "$1"; }

# Rust's linker, mozjpeg's and ring's C: a compiler that can build a program.
if ! command -v cc >/dev/null || ! printf 'int main(void){return 0;}\n' | cc -x c - -o /dev/null 2>/dev/null; then
    need gcc "a C compiler (Rust links with it; mozjpeg and ring are C)"
    need libc6-dev "the C library's headers and start files"
fi
# bindgen reads the kernel's V4L2 header through libclang and clang's own headers.
if [ -z "${LIBCLANG_PATH:-}" ]; then
    if command -v dpkg-query >/dev/null; then
        dpkg-query -W -f='${Status}' libclang-dev 2>/dev/null | grep -q "install ok installed" \
            || need libclang-dev "libclang, which generates the camera (V4L2) bindings at build time"
    elif ! has_library 'libclang.*\.so'; then
        need libclang-dev "libclang, which generates the camera (V4L2) bindings at build time"
    fi
fi
# mozjpeg's SIMD on x86; without it the sender encodes about six times slower.
case "$(uname -m)" in
    x86_64 | i?86) command -v nasm >/dev/null || need nasm "the assembler for mozjpeg's SIMD (x86 encodes ~6x slower without)" ;;
esac
# The window: a Vulkan loader and driver (Mesa's lavapipe runs on any CPU),
# and the X11 libraries winit opens at run time.
has_library 'libvulkan\.so\.1' || need libvulkan1 "the Vulkan loader the window draws through"
compgen -G '/usr/share/vulkan/icd.d/*.json' >/dev/null || compgen -G '/etc/vulkan/icd.d/*.json' >/dev/null \
    || need mesa-vulkan-drivers "a Vulkan driver (Mesa's; runs on the CPU when there is no GPU)"
for library in libX11-xcb.so.1:libx11-xcb1 libxkbcommon-x11.so.0:libxkbcommon-x11-0 \
               libXcursor.so.1:libxcursor1 libXrandr.so.2:libxrandr2 libXi.so.6:libxi6; do
    has_library "${library%%:*}" || need "${library##*:}" "the X11 client library ${library%%:*} the window opens"
done

if [ ${#missing[@]} -gt 0 ]; then
    echo "framewire's build and demo need:"
    printf '  %s\n' "${reasons[@]}"
    if ! command -v apt-get >/dev/null; then
        echo "This is not Debian or Ubuntu: install your distribution's packages for the above" \
             "(a C compiler, libclang, nasm, a Vulkan driver, the X11 client libraries), then run $0 again." >&2
        exit 1
    fi
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null; then
        as_root=(sudo)
        echo "Installing them with sudo apt-get (it may ask for your password)."
    else
        echo "Installing them needs root, and sudo is not installed: as root, run" >&2
        echo "  apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "+ apt-get install ${missing[*]}"
    "${as_root[@]}" apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# A mozjpeg built here before nasm was (by a first `cargo build`, say) stays
# without its SIMD code until it is built again; the sender's build stops on
# it (sender/build.rs), so it is rebuilt now.
if compgen -G 'target/release/build/mozjpeg-sys-*/out/*jsimd_none.o' >/dev/null && command -v nasm >/dev/null; then
    echo "+ cargo clean --release -p mozjpeg-sys  (built before nasm was installed: without its SIMD)"
    cargo clean --release -p mozjpeg-sys
fi
cargo build --release --locked -p framewire-receiver -p framewire-sender
exec ./target/release/framewire-receiver --demo "$@"
