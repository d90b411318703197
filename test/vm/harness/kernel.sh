#!/usr/bin/env bash
# Fetches Debian 12's stock kernel -- the concrete linux-image-6.1.0-*-amd64 package that
# linux-image-amd64 depends on -- into the cache and prints the directory that holds it:
#   DIR/vmlinuz   DIR/config   DIR/version   DIR/root/lib/modules/<version>/ (depmod'ed)
# The package is unpacked with dpkg-deb -x, never installed into the host. The caller holds
# the cache lock (run.sh), so this script does not lock on its own.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

# linux-image-amd64 is a metapackage whose dependency names the kernel Debian currently
# ships, pinned by version: "Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)". Prints
# "<package> <version>", or nothing when the package lists are missing. One apt-cache call:
# each one parses all package lists (about 1 s here, the binary cache is disabled).
resolve_pkg() {
  apt-cache show --no-all-versions linux-image-amd64 2>/dev/null |
    sed -n 's/^Depends:.*\(linux-image-[0-9][^ ,]*\) (= \([^)]*\)).*/\1 \2/p' | head -n 1
}

apt_update() {
  [ "$(id -u)" = 0 ] || vm_die "apt package lists are missing or stale; run 'apt-get update' as root"
  vm_log "apt-get update (package lists missing or stale)"
  apt-get update -qq >&2
}

resolved="$(resolve_pkg || true)"
if [ -z "$resolved" ]; then
  apt_update
  resolved="$(resolve_pkg || true)"
  [ -n "$resolved" ] || vm_die "apt-cache cannot resolve linux-image-amd64 (is this Debian 12?)"
fi
read -r pkg pkgver <<<"$resolved"
ver="${pkg#linux-image-}"
dir="$VM_CACHE/kernel/${ver}_${pkgver}"

if [ -f "$dir/complete" ]; then
  touch "$dir/complete" # marks it as in use for the pruning below
  echo "$dir"
  exit 0
fi

vm_log "fetching kernel $pkg $pkgver"
mkdir -p "$VM_CACHE/kernel"
tmp="$(mktemp -d "$VM_CACHE/kernel/.tmp.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# Root's apt drops to the _apt user to download and warns when that user cannot write the
# target directory; downloading as root into our private temp dir is fine.
download() { (cd "$tmp" && apt-get download -q -o APT::Sandbox::User=root "$pkg=$pkgver" >&2); }
# A stale list can name a .deb the mirror has already dropped (security updates replace the
# ABI package); refresh once and retry before giving up.
if ! download; then
  apt_update
  download || vm_die "apt-get download $pkg failed"
fi

dpkg-deb -x "$tmp"/*.deb "$tmp/x"
[ -d "$tmp/x/lib/modules/$ver" ] || vm_die "$pkg has no lib/modules/$ver"
mkdir -p "$tmp/out/root/lib/modules"
mv "$tmp/x/boot/vmlinuz-$ver" "$tmp/out/vmlinuz"
mv "$tmp/x/boot/config-$ver" "$tmp/out/config"
mv "$tmp/x/lib/modules/$ver" "$tmp/out/root/lib/modules/"
# The package ships no modules.dep (postinst makes it); build it for modprobe --show-depends.
depmod -b "$tmp/out/root" "$ver"
echo "$ver" >"$tmp/out/version"
touch "$tmp/out/complete"

# Publish atomically: an interrupted fetch leaves only a temp dir behind, never half a kernel.
rm -rf "$dir"
mv "$tmp/out" "$dir"
# A new kernel usually replaces the last one; drop kernels (~400 MB each) unused for a week.
for old in "$VM_CACHE"/kernel/*/complete; do
  if [ -n "$(find "$old" -mtime +7)" ]; then rm -rf "$(dirname "$old")"; fi
done
echo "$dir"
