#!/bin/sh
# /init of the guest initramfs (busybox sh, PID 1). Baked into the image, so it only does
# what must happen before the project tree is reachable: mounts, modules, the 9p share.
# All policy (device binding, the command to run, the exit marker) lives in guest-init.sh on
# the share and can change without rebuilding the initramfs.
PATH=/bin:/usr/bin
export PATH

fail() {
  echo "vfio-init: FAILED: $*"
  poweroff -f
  sleep 1000000 # poweroff -f does not return; never fall off the end of PID 1
}

mount -t devtmpfs devtmpfs /dev || fail "mount devtmpfs"
# The image may lack a /dev/console node (built without root); reopen it now that it exists.
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc || fail "mount proc"
mount -t sysfs sysfs /sys || fail "mount sysfs"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp || fail "mount /tmp"
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run || fail "mount /run"

# Stop PCI drivers from grabbing devices as their modules load: virtio_pci must bind the 9p
# device only. The modern virtio-net (1af4:1041) has to stay free for vfio-pci, which
# guest-init.sh binds before it turns autoprobe back on. A kernel with everything built in
# (the custom one) has no modules to load: its virtio_pci probed every virtio device at
# boot, and guest-init.sh takes the VFIO devices back from it.
echo 0 >/sys/bus/pci/drivers_autoprobe || fail "disable PCI autoprobe"
if [ -s /lib/modules/load.order ]; then
  while read -r mod; do
    insmod "/lib/modules/$mod" || fail "insmod $mod"
  done </lib/modules/load.order
fi

# The 9p transport: transitional id 1af4:1009 or modern 1af4:1049. An explicit bind works
# with autoprobe off (and is skipped if a built-in virtio_pci already took it).
for dev in /sys/bus/pci/devices/*; do
  case "$(cat "$dev/vendor"):$(cat "$dev/device")" in
    0x1af4:0x1009 | 0x1af4:0x1049)
      [ -e "$dev/driver" ] || echo "${dev##*/}" >/sys/bus/pci/drivers/virtio-pci/bind ||
        fail "bind ${dev##*/} to virtio-pci"
      ;;
  esac
done

# Read-only share of the repo. cache=loose lets the guest keep file pages and metadata: the
# host tree does not change under a test run, and vitest reads thousands of files. A large
# msize cuts the number of 9p round trips; fall back to defaults if the kernel refuses.
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose host0 /mnt/host ||
  mount -t 9p -o ro,trans=virtio,version=9p2000.L host0 /mnt/host ||
  fail "mount the 9p share host0 on /mnt/host"

guest=/mnt/host/test/vm/harness/guest-init.sh
[ -f "$guest" ] || fail "$guest not found on the share"
/bin/sh "$guest"
fail "guest-init.sh returned (status $?) without powering off"
