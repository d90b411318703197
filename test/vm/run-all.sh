#!/usr/bin/env bash
# `npm run test:vm`: the guest suite (test/vm/commands/test.sh) in each kernel configuration,
# one QEMU guest each, then the host-side checks that need what the guests produced. A failed
# configuration does not stop the others; the exit status is non-zero if any failed.
#   1. Debian 12's stock 6.1, the legacy container API
#   2. the custom 6.12 (iommufd, cdev, no-IOMMU built in), the container API
#   3. the custom 6.12 through iommufd and the device cdev
#   4. the custom 6.12 without an IOMMU: vfio's no-IOMMU mode
#   5. SR-IOV: the stock 6.1 with an 82576 (igb) on trixie's QEMU 10.0 (commands/sriov.sh)
#   6. SR-IOV on the custom 6.12 through iommufd (igb, igbvf and PCI_IOV built in), QEMU 10.0
#   7. SR-IOV through iommufd on the same fragment built from trixie-backports' newest kernel
#      (7.3 at the time of writing), whose cdev bind takes the VF token, QEMU 10.0
#      (the SR-IOV ones run early: the host checks below read the artifacts of the last default guest)
set -uo pipefail
cd "$(dirname "$0")/../.."
status=0
failed=""

# config NAME [WORD] VAR=VALUE...: one guest running test/vm/commands/WORD.sh (default test).
config() {
  local name="$1" word=test
  shift
  case "${1:-}" in *=*) ;; ?*) word="$1"; shift ;; esac
  echo
  echo "=== test:vm: $name"
  if env "$@" bash test/vm/harness/run.sh "$word"; then
    echo "test:vm: $name: passed"
  else
    echo "test:vm: $name: FAILED"
    failed+=" [$name]"
    status=1
  fi
}

config "stock 6.1, container" VFIO_VM_KERNEL=stock VFIO_VM_API=container
config "stock 6.1, SR-IOV (82576 on QEMU 10.0)" sriov VFIO_VM_KERNEL=stock VFIO_VM_CONFIG=sriov
config "custom 6.12, SR-IOV through iommufd (82576 on QEMU 10.0)" sriov VFIO_VM_KERNEL=custom VFIO_VM_API=iommufd VFIO_VM_CONFIG=sriov
config "custom backports kernel, SR-IOV through iommufd (82576 on QEMU 10.0)" sriov VFIO_VM_KERNEL=custom VFIO_VM_CUSTOM=backports VFIO_VM_API=iommufd VFIO_VM_CONFIG=sriov
config "custom 6.12, container" VFIO_VM_KERNEL=custom VFIO_VM_API=container
config "custom 6.12, iommufd" VFIO_VM_KERNEL=custom VFIO_VM_API=iommufd
config "custom 6.12, no IOMMU" VFIO_VM_KERNEL=custom VFIO_VM_IOMMU=none

vitest() { node node_modules/vitest/vitest.mjs run --config vitest.config.ts "$@"; }

echo
echo "=== test:vm: host checks: the last guest's pcap through tshark; src/uapi against 6.12's and the backports kernel's headers"
VFIO_E1000E_ARTIFACTS="${VFIO_VM_OUT:-.vm-out}/artifacts" vitest test/unit/e1000e-tshark.test.ts || status=1
# custom-kernel.sh prints the cached kernel's directory, which holds its uAPI headers.
for custom in 6.12 backports; do
  kdir="$(VFIO_VM_CUSTOM=$custom bash test/vm/harness/custom-kernel.sh)" && [ -d "$kdir/uapi/linux" ] ||
    { echo "test:vm: no uAPI headers of the $custom kernel (custom-kernel.sh)"; exit 1; }
  VFIO_UAPI_INCLUDE="$kdir/uapi" vitest test/unit/uapi-header.test.ts || status=1
done

[ -z "$failed" ] || echo "test:vm: failed configurations:$failed"
exit "$status"
