#!/bin/sh
# The SR-IOV guest suite (VFIO_VM_CONFIG=sriov: an 82576 PF on the kernel's igb, QEMU 10.0),
# run from the repo root in the guest, in three passes:
#  1. as root: test/vm/sriov.test.ts (enabling, flow 1 and 2 setup) then
#     test/vm/sriov-igbvf.test.ts (flow 1 with traffic: IgbvfPort on a VF <-> an e1000e);
#  2. flow 1 unprivileged: root makes two VFs of the PF on igb and binds them to vfio-pci
#     (`vfio sriov --bind`), uid 1000 gets VF 0's and the first e1000e's nodes and 1 MiB of
#     locked memory: test/vm/unprivileged/sriov/flow1.test.ts;
#  3. flow 2 unprivileged: root binds the PF to vfio-pci with enable_sriov and makes two VFs,
#     uid 1000 gets the PF's and both VFs' nodes (the group nodes too under iommufd: the token
#     travels on the group path): test/vm/unprivileged/sriov/flow2.test.ts.
# Each pass runs whatever the others did; the status is non-zero if any failed. Every pass
# leaves the guest as guest-init.sh did: the PF on igb, no VFs.
#   VFIO_VM_CONFIG=sriov bash test/vm/harness/run.sh sriov
[ "${VFIO_VM_CONFIG:-}" = sriov ] || { echo "sriov.sh: the guest has no 82576: run with VFIO_VM_CONFIG=sriov"; exit 2; }
# group_nodes, first_address, group_of
. test/vm/harness/guest-nodes.sh
vitest() { node node_modules/vitest/vitest.mjs run --configLoader runner "$@"; }
vfio() { node dist/cli/main.js "$@"; }

vitest --config test/vm/vitest.config.ts test/vm/sriov.test.ts test/vm/sriov-igbvf.test.ts
status=$?

pf="$(first_address 0x8086:0x10c9)"
[ -n "$pf" ] || { echo "sriov.sh: no 82576 PF (8086:10c9)"; exit 1; }
pfdir="/sys/bus/pci/devices/$pf"
pfnet="$(ls "$pfdir/net" 2>/dev/null | head -n 1)"
e1000e="$(first_address 0x8086:0x10d3)"
vf() { basename "$(readlink "$pfdir/virtfn$1")"; }
iommufd_node() { [ "${VFIO_VM_API:-container}" = iommufd ] && printf ' /dev/iommu'; return 0; }

# as_user FILE NODES...: the unprivileged pass over one file, owning NODES meanwhile.
as_user() {
  file="$1"
  shift
  chown 1000:1000 "$@"
  echo "sriov.sh: unprivileged pass $file: uid 1000, owner of $*, ulimit -l 1024"
  (ulimit -l 1024 && exec su -s /bin/sh -c \
    "exec node node_modules/vitest/vitest.mjs run --configLoader runner --config test/vm/vitest.unprivileged-sriov.config.ts $file" vfiotest)
  s=$?
  chown 0:0 "$@"
  return $s
}

echo 0 >/proc/sys/kernel/dmesg_restrict

# 2. Flow 1: the PF on igb with its interface up (QEMU's igb passes no VF traffic otherwise).
ip link set dev "$pfnet" up
if vfio sriov "$pf" --vfs 2 --no-autoprobe --bind; then
  as_user test/vm/unprivileged/sriov/flow1.test.ts $(iommufd_node) $(group_nodes "$(group_of "$(vf 0)")") $(group_nodes "$(group_of "$e1000e")") || status=1
else
  echo "sriov.sh: flow 1 setup failed"
  status=1
fi
vfio sriov "$pf" --vfs 0 || status=1
echo 1 >"$pfdir/sriov_drivers_autoprobe"
ip link set dev "$pfnet" down

# 3. Flow 2: the PF on vfio-pci with enable_sriov; its VFs go to vfio-pci by themselves.
enable_sriov=/sys/module/vfio_pci/parameters/enable_sriov
if vfio bind "$pf" && echo Y >"$enable_sriov" && vfio sriov "$pf" --vfs 2; then
  nodes="$(iommufd_node)"
  for a in "$pf" "$(vf 0)" "$(vf 1)"; do nodes="$nodes $(group_nodes "$(group_of "$a")" both)"; done
  as_user test/vm/unprivileged/sriov/flow2.test.ts $nodes || status=1
else
  echo "sriov.sh: flow 2 setup failed"
  status=1
fi
vfio sriov "$pf" --vfs 0 || status=1
vfio unbind "$pf" || status=1
[ -e "$pfdir/driver" ] || echo "$pf" >/sys/bus/pci/drivers/igb/bind
echo N >"$enable_sriov"
[ "$(basename "$(readlink "$pfdir/driver")")" = igb ] || { echo "sriov.sh: the PF is not back on igb"; status=1; }
exit "$status"
