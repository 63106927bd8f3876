#!/usr/bin/env bash
# Packs the receiver for people without a Rust toolchain, from release
# builds that already exist (.ci/run makes them):
#   target/debian/framewire-receiver_VERSION-1_amd64.deb   (cargo-deb)
#   target/windows/framewire-receiver-VERSION-windows-x86_64.zip
# The zip holds framewire-receiver.exe, the README, the guide it links to
# (docs/) and the licences; the
# receiver is built for Windows with mingw-w64:
#   cargo build --release --target x86_64-pc-windows-gnu -p framewire-receiver
# tests/tests/packages.rs checks what both hold and runs what they carry.
set -euo pipefail
cd "$(dirname "$0")/.."

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
windows_exe=target/x86_64-pc-windows-gnu/release/framewire-receiver.exe
for built in target/release/framewire-receiver "$windows_exe"; do
    [ -x "$built" ] || { echo "$built is missing: build it first (see the top of $0)" >&2; exit 1; }
done

mkdir -p target/debian
cargo deb --no-build -p framewire-receiver --output target/debian/

zip=target/windows/framewire-receiver-$version-windows-x86_64.zip
mkdir -p target/windows
rm -f "$zip"
zip -q -j -X "$zip" "$windows_exe" README.md LICENSE-MIT LICENSE-APACHE
zip -q -X "$zip" docs/*.md docs/*.png
ls -l target/debian/framewire-receiver_*.deb "$zip"
