#!/usr/bin/env bash
# Sets a fresh Debian 12 machine up for this project: the apt packages the guest
# harness and the cmake-js build need, then npm ci (which builds the addon) and the
# TypeScript build. Needs root for apt-get (skipped when everything is there).
set -euo pipefail
cd "$(dirname "$0")/.."

# qemu + busybox + cpio/kmod/xz/zstd: the QEMU guest (test/vm/harness/README.md);
# flex/bison/libelf-dev/bc: building the custom guest kernel (VFIO_VM_KERNEL=custom);
# tshark: reading back the e1000e capture. cmake + ninja: the cmake-js build of the same
# addon. g++/make/python3: node-gyp; g++-aarch64-linux-gnu: the arm64 prebuilt addon.
packages=(qemu-system-x86 busybox-static cpio kmod xz-utils zstd flex bison libelf-dev bc tshark cmake ninja-build python3 make g++ g++-aarch64-linux-gnu)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

npm ci --no-audit --no-fund
npm run build:ts
