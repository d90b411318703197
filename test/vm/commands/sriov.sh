#!/bin/sh
# The SR-IOV guest suite (VFIO_VM_CONFIG=sriov: an 82576 PF on the kernel's igb, QEMU 10.0):
# test/vm/sriov.test.ts (enabling, flow 1 and 2 setup) then test/vm/sriov-igbvf.test.ts
# (flow 1 with traffic: IgbvfPort on a VF <-> an e1000e), as root. Run from the repo root in the guest.
#   VFIO_VM_CONFIG=sriov bash test/vm/harness/run.sh sriov
[ "${VFIO_VM_CONFIG:-}" = sriov ] || { echo "sriov.sh: the guest has no 82576: run with VFIO_VM_CONFIG=sriov"; exit 2; }
exec node node_modules/vitest/vitest.mjs run --configLoader runner --config test/vm/vitest.config.ts test/vm/sriov.test.ts test/vm/sriov-igbvf.test.ts
