#!/usr/bin/env bash
# Builds (once per machine) the custom guest kernel -- Debian trixie's linux-source-6.12 (or,
# with VFIO_VM_CUSTOM=backports, the newest of trixie-backports), `make tinyconfig` +
# kernel.fragment, everything built in -- and prints the directory that
# holds it, laid out like kernel.sh's (minus the modules):
#   DIR/vmlinuz   DIR/config   DIR/version   DIR/source   DIR/build.log.xz
#   DIR/uapi/     the same version's uAPI headers (linux-libc-dev), for the host-side check
#                 of src/uapi against them (test/unit/uapi-header.test.ts, VFIO_UAPI_INCLUDE)
# It exists because no Debian kernel enables IOMMUFD, VFIO_DEVICE_CDEV or VFIO_NOIOMMU.
#
# The source package comes from trixie through a PRIVATE apt configuration under the cache
# (its own sources list, package lists, archive cache and an empty dpkg status): it is only
# `apt-get download`ed and unpacked, nothing is installed, the host's apt state is untouched.
# The mirror is the one the host's own sources name for its release.
#
# DIR is $VM_CACHE/custom-kernel/<key>, key = hash of the fragment, the source package
# version, the compiler and this script's build recipe (RECIPE below). A build takes ~10 min
# on 2 cores; a cached kernel is found in ~1 s (one apt-cache call on the private lists).
# Concurrent callers serialise on their own lock (not run.sh's cache lock, so stock-kernel
# runs do not wait for a build); the result is published with one rename.
#
# usage: custom-kernel.sh            (run.sh calls it for VFIO_VM_KERNEL=custom)
# env:   VFIO_VM_CUSTOM         6.12 (default: trixie's linux-source-6.12) or backports (the
#                               newest linux-source-N of trixie-backports)
#        VFIO_VM_CACHE          cache root (default ~/.cache/vfio-vm)
#        VFIO_VM_DEBIAN_MIRROR  Debian archive URL (default: from /etc/apt/sources.list*)
#        VFIO_VM_JOBS           make -j (default: nproc)
# host:  apt-get install make gcc flex bison bc libelf-dev xz-utils  (plus perl, tar, dpkg)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

# Which source: 6.12 (trixie's, the default) or backports (the newest linux-source-N in
# trixie-backports, 7.3 at the time of writing: a kernel whose cdev bind takes the VF token).
custom="${VFIO_VM_CUSTOM:-6.12}"
case "$custom" in
  6.12) suite=trixie src_pkg=linux-source-6.12 ;;
  backports) suite=trixie-backports src_pkg="" ;;
  *) vm_die "VFIO_VM_CUSTOM must be 6.12 or backports, not '$custom'" ;;
esac
fragment="$here/kernel.fragment"
# Bump when the build steps below change in a way that changes the kernel.
RECIPE=1

base="$VM_CACHE/custom-kernel"
mkdir -p "$base"

for tool in make gcc flex bison bc perl xz tar dpkg-deb apt-get apt-cache flock; do
  command -v "$tool" >/dev/null ||
    vm_die "$tool not found: apt-get install --no-install-recommends make gcc flex bison bc libelf-dev xz-utils"
done
[ -f /usr/include/libelf.h ] || vm_die "libelf.h not found: apt-get install libelf-dev"

exec 8>"$base/lock"
if ! flock -n 8; then
  vm_log "custom kernel: waiting for another build to finish (lock $base/lock)"
  flock 8
fi

# --- private apt configuration for $suite (apt-private.sh) -----------------------------------

# shellcheck source=SCRIPTDIR/apt-private.sh
. "$here/apt-private.sh"
apt_private "$suite" "custom kernel"
apt_update() { apt_private_update; }

# backports: the versioned package the linux-source metapackage points at.
resolve_src_pkg() {
  [ "$custom" = backports ] || return 0
  src_pkg="$(apt-cache "${apt_opts[@]}" depends linux-source 2>/dev/null | sed -n 's/^ *Depends: \(linux-source-[0-9.]*\)$/\1/p' | head -n 1)"
  [ -n "$src_pkg" ]
}

src_version() {
  apt-cache "${apt_opts[@]}" show --no-all-versions "$src_pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1
}

# (In this shell, not in src_version's $(...): src_pkg must stick.)
resolve_src_pkg && version="$(src_version || true)" || version=""
if [ -z "$version" ]; then
  apt_update
  resolve_src_pkg || vm_die "no linux-source metapackage in $suite at $mirror"
  version="$(src_version || true)"
  [ -n "$version" ] || vm_die "${src_pkg:-linux-source} not found in $suite at $mirror"
fi

# The uAPI headers of the kernel in $1 (linux-libc-dev is built from the same source
# package, at the same version): a 3 MB download, unpacked once next to the kernel.
ensure_uapi_headers() {
  local kdir="$1" t
  [ -f "$kdir/uapi/linux/iommufd.h" ] && return 0
  t="$(mktemp -d "$base/.headers.XXXXXX")"
  if (cd "$t" && apt-get "${apt_opts[@]}" download -q "linux-libc-dev=$version" >&2); then
    dpkg-deb -x "$t"/linux-libc-dev_*.deb "$t/root"
    rm -rf "$kdir/uapi"
    mv "$t/root/usr/include" "$kdir/uapi"
  else
    vm_log "custom kernel: linux-libc-dev $version could not be downloaded; no uAPI headers"
  fi
  rm -rf "$t"
}

# Sets key and dir for $version; prints dir and exits when that kernel is already built.
find_cached() {
  key="$({
    echo "$src_pkg $version recipe $RECIPE"
    gcc --version | head -n 1
    cat "$fragment"
  } | sha256sum | cut -c1-16)"
  dir="$base/$key"
  if [ -f "$dir/complete" ]; then
    ensure_uapi_headers "$dir"
    echo "$dir"
    exit 0
  fi
}
find_cached

# --- build ---------------------------------------------------------------------------------

# Under the lock, any build directory left behind is from an interrupted build.
rm -rf "$base"/.build.*
start="$(vm_now)"
vm_log "custom kernel: building $src_pkg $version (tinyconfig + $(basename "$fragment"), key $key);" \
  "about 10 min on 2 cores, once per machine"
tmp="$(mktemp -d "$base/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

download() {
  (cd "$tmp" && apt-get "${apt_opts[@]}" download -q "$src_pkg=$version" >&2)
}
# Stale lists can name a .deb the mirror has dropped: refresh once, take the new version.
if ! download; then
  apt_update
  resolve_src_pkg || vm_die "no linux-source metapackage in $suite at $mirror"
  version="$(src_version)"
  find_cached
  vm_log "custom kernel: the lists were stale; building $src_pkg $version (key $key) instead"
  download || vm_die "apt-get download $src_pkg failed"
fi
deb="$(echo "$tmp"/*.deb)"
vm_log "custom kernel: unpacking $(basename "$deb")"
dpkg-deb --fsys-tarfile "$deb" | tar -xO "./usr/src/$src_pkg.tar.xz" | tar -xJ -C "$tmp"
rm -f "$deb"
ksrc="$tmp/$src_pkg"
[ -f "$ksrc/Makefile" ] || vm_die "$src_pkg did not unpack to $ksrc"

log="$tmp/build.log"
# LOCALVERSION set (empty): no "+" appended when the cache happens to live in a git tree.
kmake=(make -C "$ksrc" ARCH=x86_64 LOCALVERSION= KBUILD_BUILD_USER=vfio-vm KBUILD_BUILD_HOST=vfio-vm)

# The fragment goes through the kernel's own fragment mechanism (kernel/configs/*.config,
# merged after tinyconfig, then olddefconfig).
cp "$fragment" "$ksrc/kernel/configs/vfio-vm.config"
"${kmake[@]}" tinyconfig vfio-vm.config >>"$log" 2>&1 || {
  tail -n 30 "$log" >&2
  vm_die "make tinyconfig vfio-vm.config failed"
}
# olddefconfig silently drops options whose dependencies are missing: insist on every line
# that names an option this kernel has (a newer one may have removed an option: 7.x has no
# VFIO_PCI_MMAP, its mmap support being unconditional; those are logged and passed over).
known() { grep -rqx --include='Kconfig*' -e "\(menu\)\?config ${1#CONFIG_}" "$ksrc"; }
missing=""
gone=""
while IFS= read -r line; do
  case "$line" in
    CONFIG_*=*)
      grep -qxF -- "$line" "$ksrc/.config" && continue
      if known "${line%%=*}"; then missing+=" ${line%%=*}"; else gone+=" ${line%%=*}"; fi
      ;;
    "# CONFIG_"*" is not set")
      name="${line#\# }"; name="${name%% *}"
      if grep -q "^$name=" "$ksrc/.config"; then missing+=" !$name"; fi
      ;;
  esac
done <"$fragment"
[ -z "$missing" ] || vm_die "the kernel config did not take these fragment lines (missing dependencies?):$missing"
[ -z "$gone" ] || vm_log "custom kernel: $src_pkg has no such options (fragment lines passed over):$gone"

jobs="${VFIO_VM_JOBS:-$(nproc)}"
vm_log "custom kernel: make -j$jobs bzImage (log $log)"
# Progress once a minute: the number of objects compiled so far (a full build is ~1500).
# In the foreground so a Ctrl-C stops the compilers too.
progress() {
  local n=0 last=$SECONDS line
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$log"
    case "$line" in "  CC "*) n=$((n + 1)) ;; esac
    if [ $((SECONDS - last)) -ge 60 ]; then
      last=$SECONDS
      vm_log "custom kernel: $n objects compiled, $(vm_elapsed "$start") s"
    fi
  done
}
if ! "${kmake[@]}" -j"$jobs" bzImage 2>&1 | progress; then
  cp "$log" "$base/failed-build.log"
  tail -n 40 "$log" >&2
  vm_die "kernel build failed; full log: $base/failed-build.log"
fi

mkdir "$tmp/out"
cp "$ksrc/arch/x86/boot/bzImage" "$tmp/out/vmlinuz"
cp "$ksrc/.config" "$tmp/out/config"
"${kmake[@]}" -s kernelrelease >"$tmp/out/version"
echo "$src_pkg $version from $mirror $suite; $(gcc --version | head -n 1)" >"$tmp/out/source"
xz -c "$log" >"$tmp/out/build.log.xz"
touch "$tmp/out/complete"
# Publish atomically: an interrupted build leaves only .build.* behind, never half a kernel.
rm -rf "$dir"
mv "$tmp/out" "$dir"
rm -f "$base/failed-build.log"
vm_log "custom kernel $(cat "$dir/version") built in $(vm_elapsed "$start") s:" \
  "$(du -h "$dir/vmlinuz" | cut -f1) at $dir"
ensure_uapi_headers "$dir"
echo "$dir"
