#!/usr/bin/env bash
# Fetches (once per machine) Debian trixie's QEMU -- qemu-system-x86 10.0, which has the
# 82576 with SR-IOV (`-device igb`, QEMU 8.0+) that Debian 12's 7.2 lacks -- with its library
# closure, unpacks it into the cache, and prints the path of a launcher that runs it on this
# host through trixie's own dynamic loader:
#   DIR/qemu-system-x86_64   the launcher (passes -L DIR/root/usr/share/qemu, sets QEMU_MODULE_DIR)
#   DIR/root/                every package of the closure, unpacked with dpkg-deb -x
#   DIR/version  DIR/packages
# Nothing is installed into the host: the closure is resolved and downloaded through the
# private apt configuration (apt-private.sh; an empty dpkg status, so every dependency down to
# libc6 comes along: 90 packages with ipxe-qemu, which holds the NICs' option
# ROMs) and each .deb only unpacked. The launcher points QEMU's firmware search (-L) at the
# unpacked seabios and ipxe; modules QEMU does not find in QEMU_MODULE_DIR it looks for in the
# host's /usr/lib/x86_64-linux-gnu/qemu and refuses (another build), so the guests use no
# modular device or display (`-device help`, which loads every module, aborts).
#
# usage: qemu-trixie.sh            (run.sh calls it for VFIO_VM_QEMU=trixie)
# env:   VFIO_VM_CACHE, VFIO_VM_DEBIAN_MIRROR (see apt-private.sh)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"
# shellcheck source=SCRIPTDIR/apt-private.sh
. "$here/apt-private.sh"

suite=trixie
pkg=qemu-system-x86
# Bump when the unpack or launcher steps below change.
RECIPE=2
base="$VM_CACHE/qemu-$suite"
mkdir -p "$base"
for tool in apt-get apt-cache dpkg-deb flock; do
  command -v "$tool" >/dev/null || vm_die "$tool not found"
done

exec 6>"$base/lock"
if ! flock -n 6; then
  vm_log "trixie QEMU: waiting for another fetch to finish (lock $base/lock)"
  flock 6
fi

apt_private "$suite" "trixie QEMU"
pkg_version() {
  apt-cache "${apt_opts[@]}" show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1
}
version="$(pkg_version || true)"
if [ -z "$version" ]; then
  apt_private_update
  version="$(pkg_version || true)"
  [ -n "$version" ] || vm_die "$pkg not found in $suite at $mirror"
fi
# No ":" (the epoch) in the directory: ld.so's --library-path splits on it.
dir="$base/${version//:/_}-r$RECIPE"
if [ -f "$dir/complete" ]; then
  echo "$dir/qemu-system-x86_64"
  exit 0
fi

rm -rf "$base"/.fetch.*
start="$(vm_now)"
tmp="$(mktemp -d "$base/.fetch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/debs/partial" "$tmp/out/root"
# The closure as apt resolves it for a system with nothing installed (the private status is
# empty), downloaded into our own archive directory. No dpkg lock is involved: download only.
fetch() {
  apt-get "${apt_opts[@]}" -o "Dir::Cache::archives=$tmp/debs" -o Debug::NoLocking=1 \
    install --download-only --no-install-recommends -y -qq "$pkg=$version" ipxe-qemu >&2
}
if ! fetch; then
  # Stale lists can name .debs the mirror has dropped: refresh once.
  apt_private_update
  version="$(pkg_version)"
  dir="$base/${version//:/_}-r$RECIPE"
  fetch || vm_die "apt-get --download-only $pkg failed"
fi
n=0
for deb in "$tmp"/debs/*.deb; do
  dpkg-deb -x "$deb" "$tmp/out/root"
  basename "$deb" >>"$tmp/out/packages"
  n=$((n + 1))
done
[ "$n" -gt 0 ] || vm_die "no packages downloaded for $pkg"
root="$tmp/out/root"
# Firmware symlinks that name absolute paths (/usr/share/seabios/...) would reach the host's
# files: point them into the unpacked tree instead.
find "$root" -type l | while IFS= read -r l; do
  t="$(readlink "$l")"
  case "$t" in /*) ln -sfn "$dir/root$t" "$l" ;; esac
done
loader="usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
[ -e "$root/$loader" ] || vm_die "the closure has no dynamic loader ($loader): libc6 missing?"
cat >"$tmp/out/qemu-system-x86_64" <<LAUNCHER
#!/bin/sh
# trixie's qemu-system-x86_64 $version, run through trixie's own dynamic loader and libraries
# (written by test/vm/harness/qemu-trixie.sh).
root="$dir/root"
export QEMU_MODULE_DIR="\$root/usr/lib/x86_64-linux-gnu/qemu"
exec "\$root/$loader" --library-path "\$root/usr/lib/x86_64-linux-gnu:\$root/lib/x86_64-linux-gnu" \\
  "\$root/usr/bin/qemu-system-x86_64" -L "\$root/usr/share/qemu" -L "\$root/usr/share/seabios" -L "\$root/usr/lib/ipxe/qemu" "\$@"
LAUNCHER
chmod +x "$tmp/out/qemu-system-x86_64"
echo "$pkg $version from $mirror $suite, $n packages" >"$tmp/out/version"
rm -rf "$dir"
mv "$tmp/out" "$dir"
# The launcher must work from its final place: the paths inside it name $dir.
"$dir/qemu-system-x86_64" --version >&2 || { rm -rf "$dir"; vm_die "the unpacked QEMU does not run"; }
touch "$dir/complete"
vm_log "trixie QEMU $version: $n packages, $(du -sh "$dir/root" | cut -f1), fetched in $(vm_elapsed "$start") s at $dir"
echo "$dir/qemu-system-x86_64"
