#!/usr/bin/env bash
# Builds (or reuses) the guest initramfs for the kernel in KERNEL_DIR (see kernel.sh) and
# prints its path. Contents: busybox-static with its applet links, the host's node and the
# libraries it links, the kernel modules of modules.list in dependency order, a passwd/group
# with root and vfiotest (1000:1000), and the /init stub (init.sh). Everything else the guest
# runs comes from the 9p share, so editing guest-init.sh or a command needs no rebuild.
# The image is cached under a hash of all its inputs. The caller holds the cache lock.
#
# usage: initramfs.sh KERNEL_DIR
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

kdir="${1:?usage: initramfs.sh KERNEL_DIR}"
ver="$(cat "$kdir/version")"
node_bin="$(command -v node)" || vm_die "node is not on PATH"
node_bin="$(readlink -f "$node_bin")"
busybox=/bin/busybox
[ -x "$busybox" ] || vm_die "$busybox missing: apt-get install busybox-static"
# A dynamic busybox would need its own libraries in the guest; insist on the static one.
if ldd "$busybox" >/dev/null 2>&1; then vm_die "$busybox is dynamic: apt-get install busybox-static"; fi

# iproute2's ip, when the host has it, as /usr/sbin/ip: busybox's ip cannot set a VF's MAC
# (ip link set <pf> vf N mac ..., test/vm/sriov-igbvf.test.ts). Optional: tests skip without it.
iproute2=""
if [ -x /bin/ip ] && ! [ -L /bin/ip ] && ldd /bin/ip >/dev/null 2>&1; then iproute2=/bin/ip; fi

# Shared libraries node (and iproute2's ip) needs, plus the dynamic loader, as absolute host paths; and all of
# glibc's runtime libraries, because native modules loaded from the share link more of them
# than node does (vitest's rolldown binding needs librt.so.1).
node_libs() {
  ldd "$node_bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'
  dpkg -L libc6 | grep -E '^/lib/x86_64-linux-gnu/lib[^/]*\.so\.[0-9]+$'
  if [ -n "$iproute2" ]; then ldd "$iproute2" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'; fi
}


# The kernel decompresses the initramfs itself: use zstd when it can (fast to unpack),
# gzip otherwise.
if grep -q '^CONFIG_RD_ZSTD=y' "$kdir/config" && command -v zstd >/dev/null; then
  compress=(zstd -q -T0 -3); ext=zst
else
  compress=(gzip -6); ext=gz
fi

mapfile -t libs < <(node_libs | sort -u)
[ "${#libs[@]}" -gt 0 ] || vm_die "ldd $node_bin listed no libraries"

# Module files for modules.list, dependencies first, each once (modprobe prints shared
# dependencies again for every module that needs them). Built-ins print "builtin X": skipped.
# A kernel without module support (the custom kernel: everything built in) gets none, and
# an empty load.order.
mods=()
if ! grep -q '^# CONFIG_MODULES is not set' "$kdir/config"; then
  deps=""
  while read -r name; do
    d="$(modprobe --show-depends -d "$kdir/root" -S "$ver" "$name")" ||
      vm_die "module $name not found for kernel $ver"
    deps+="$d"$'\n'
  done < <(grep -v -e '^#' -e '^$' "$here/modules.list")
  mapfile -t mods < <(awk '$1 == "insmod" && !seen[$2]++ { print $2 }' <<<"$deps")
  [ "${#mods[@]}" -gt 0 ] || vm_die "no modules resolved for kernel $ver"
fi

# Key: the content of every file that lands in the image and of the scripts that lay it
# out, plus the in-image paths -- but not where the repo is checked out, so every clone on
# the machine shares one image.
key="$({
  echo "$ver ${compress[*]}" "${libs[@]}"
  for mod in "${mods[@]}"; do basename "$mod"; done
  sha256sum "${BASH_SOURCE[0]}" "$here/init.sh" "$here/modules.list" \
    "$busybox" "$node_bin" ${iproute2:+"$iproute2"} "${libs[@]}" "${mods[@]}" | cut -d' ' -f1
} | sha256sum | cut -c1-16)"
out="$VM_CACHE/initramfs/$ver-$key.cpio.$ext"
if [ -f "$out" ]; then
  touch "$out" # marks it as in use for the pruning below
  echo "$out"
  exit 0
fi

vm_log "building initramfs for $ver (${#mods[@]} modules, node $("$node_bin" --version))"
mkdir -p "$VM_CACHE/initramfs"
stage="$(mktemp -d "$VM_CACHE/initramfs/.stage.XXXXXX")"
trap 'rm -rf "$stage" "$out.tmp"' EXIT
cd "$stage"
mkdir -p bin dev proc sys tmp run mnt/host etc root usr/bin lib/modules

# busybox and one link per applet. The list contains "busybox" itself: linking it onto
# itself would replace the binary by a self-referencing symlink (ELOOP at boot).
cp "$busybox" bin/busybox
for applet in $("$busybox" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "bin/$applet"
done
ln -s ../../bin/busybox usr/bin/env     # for "#!/usr/bin/env node" scripts

# node at /usr/bin/node and its libraries at the paths ldd reported, so the loader's default
# search path finds them without an ld.so.cache.
cp "$node_bin" usr/bin/node
for lib in "${libs[@]}"; do
  mkdir -p ".$(dirname "$lib")"
  cp -L "$lib" ".$lib"
done

if [ -n "$iproute2" ]; then mkdir -p usr/sbin && cp "$iproute2" usr/sbin/ip; fi

# Modules, flattened into /lib/modules, decompressed (insmod from busybox takes plain .ko),
# and listed in load order for /init (an empty list for a kernel without modules).
: >lib/modules/load.order
for mod in "${mods[@]}"; do
  base="$(basename "$mod")"
  case "$base" in
    *.ko.xz) xz -dc "$mod" >"lib/modules/${base%.xz}" ;;
    *.ko.zst) zstd -qdc "$mod" >"lib/modules/${base%.zst}" ;;
    *.ko.gz) gzip -dc "$mod" >"lib/modules/${base%.gz}" ;;
    *.ko) cp "$mod" lib/modules/ ;;
    *) vm_die "unexpected module file $mod" ;;
  esac
  echo "${base%.ko*}.ko" >>lib/modules/load.order
done

cat >etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
vfiotest:x:1000:1000:vfio test user:/tmp:/bin/sh
EOF
cat >etc/group <<'EOF'
root:x:0:
vfiotest:x:1000:
EOF

cp "$here/init.sh" init
chmod 755 init
# The kernel opens /dev/console for init before anything is mounted. Without root we
# cannot mknod here; init.sh then reopens the console itself after mounting devtmpfs.
mknod -m 600 dev/console c 5 1 2>/dev/null || true

find . -mindepth 1 -print0 | LC_ALL=C sort -z |
  cpio --null --create --format=newc --owner=0:0 --reproducible --quiet |
  "${compress[@]}" >"$out.tmp"
mv "$out.tmp" "$out"
# Every change to an input leaves a ~40 MB image behind; drop those unused for a week.
find "$VM_CACHE/initramfs" -maxdepth 1 -name '*.cpio.*' -mtime +7 -delete
vm_log "initramfs $(du -h "$out" | cut -f1) at $out"
echo "$out"
