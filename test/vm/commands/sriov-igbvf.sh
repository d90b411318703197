#!/bin/sh
# SR-IOV flow 1 with traffic alone (test/vm/sriov-igbvf.test.ts; `sriov` runs it too), as root:
#   VFIO_VM_CONFIG=sriov bash test/vm/harness/run.sh sriov-igbvf
[ "${VFIO_VM_CONFIG:-}" = sriov ] || { echo "sriov-igbvf.sh: the guest has no 82576: run with VFIO_VM_CONFIG=sriov"; exit 2; }
exec node node_modules/vitest/vitest.mjs run --configLoader runner --config test/vm/vitest.config.ts test/vm/sriov-igbvf.test.ts
