#!/bin/sh
# cross's pre-build step for every target (Cross.toml): libclang, which
# bindgen needs for the camera (V4L2) bindings and cross's own images lack.
# In an image that has it (tools/cross-image.sh, used by CI, which reaches
# no package mirror from a container) there is nothing to do.
set -e
if dpkg-query -W -f='${Status}' libclang-dev 2>/dev/null | grep -q "install ok installed"; then
    exit 0
fi
apt-get update
apt-get install --assume-yes --no-install-recommends libclang-dev clang
