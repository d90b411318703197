#!/bin/sh
# Sourced by the guest commands that hand devices to the unprivileged user (test/vm/commands/
# test.sh, sriov.sh): which /dev nodes open a group, and where a device is. busybox sh.

# group_nodes GROUP [both]: the nodes of the run's interface for an IOMMU group: the group's
# (container, or noiommu-N without an IOMMU), or through iommufd the devices' cdevs; `both`
# adds the group node to the cdevs (the VF token travels on the group path only).
group_nodes() {
  if [ "${VFIO_VM_API:-container}" = iommufd ]; then
    for d in /sys/kernel/iommu_groups/"$1"/devices/*/vfio-dev/vfio*; do printf ' /dev/vfio/devices/%s' "${d##*/}"; done
    [ "${2:-}" = both ] && printf ' /dev/vfio/%s' "$1"
  elif [ "$VFIO_VM_IOMMU" = none ]; then
    printf ' /dev/vfio/noiommu-%s' "$1"
  else
    printf ' /dev/vfio/%s' "$1"
  fi
  return 0
}

# first_address VENDOR:DEVICE (0x-prefixed, as sysfs has them): the first such device's
# address, as findPciDevices lists them.
first_address() {
  for dev in /sys/bus/pci/devices/*; do
    [ "$(cat "$dev/vendor"):$(cat "$dev/device")" = "$1" ] || continue
    echo "${dev##*/}"
    return
  done
}

# group_of ADDRESS: its IOMMU group number.
group_of() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"; }
