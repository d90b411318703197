#!/bin/sh
# The guest test suite, run from the read-only repo share (cwd = repo root), in two passes:
#  1. as root: test/vm/*.test.ts;
#  2. as vfiotest (uid 1000) with the VFIO nodes of the solo edu, the modern virtio-net and the
#     first e1000e granted and `ulimit -l 1024`:
#     test/vm/unprivileged/*.test.ts.
# Exits non-zero when either pass fails. VFIO_VM_ONLY (set by a command that sources this one,
# e.g. virtio-net.sh) narrows both passes to the test files whose path contains it.
#
# --configLoader runner: the default loader writes a bundled copy of the config next to it,
# which the read-only mount refuses (EROFS).
vitest() { node node_modules/vitest/vitest.mjs run --configLoader runner "$@"; }
# group_nodes, first_address, group_of
. test/vm/harness/guest-nodes.sh

# No-IOMMU DMA needs physically contiguous buffers: 2 MiB hugepages give them.
[ "$VFIO_VM_IOMMU" = none ] && echo 64 >/proc/sys/vm/nr_hugepages

vitest --config test/vm/vitest.config.ts ${VFIO_VM_ONLY:+--passWithNoTests $VFIO_VM_ONLY}
root_status=$?

# The edu alone in its IOMMU group is the one the unprivileged user gets.
group=""
for dev in /sys/bus/pci/devices/*; do
  [ "$(cat "$dev/vendor"):$(cat "$dev/device")" = 0x1234:0x11e8 ] || continue
  g="$(basename "$(readlink "$dev/iommu_group")")"
  # The first such edu, as soloEdu() in test/vm/guest.ts picks it (without an IOMMU both are alone).
  [ "$(ls "/sys/kernel/iommu_groups/$g/devices" | wc -l)" = 1 ] && group="$g" && break
done
if [ -z "$group" ]; then
  echo "test.sh: no edu alone in its group for the unprivileged pass"
  exit 1
fi
nodes="$(group_nodes "$group")"
# The virtio-net suite's pair: the modern virtio-net and the first e1000e.
for id in 0x1af4:0x1041 0x8086:0x10d3; do
  a="$(first_address "$id")"
  [ -n "$a" ] && nodes="$nodes $(group_nodes "$(group_of "$a")")"
done
[ "${VFIO_VM_API:-container}" = iommufd ] && nodes="/dev/iommu$nodes"
chown 1000:1000 $nodes
# The conformance suite reads IOMMU faults from the kernel log.
echo 0 >/proc/sys/kernel/dmesg_restrict
echo "test.sh: unprivileged pass: uid 1000, owner of $nodes, ulimit -l 1024"
(ulimit -l 1024 && exec su -s /bin/sh -c \
  "exec node node_modules/vitest/vitest.mjs run --configLoader runner --config test/vm/vitest.unprivileged.config.ts ${VFIO_VM_ONLY:+--passWithNoTests $VFIO_VM_ONLY}" vfiotest)
user_status=$?
chown 0:0 $nodes

[ "$root_status" = 0 ] && [ "$user_status" = 0 ]
