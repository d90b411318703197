#!/bin/sh
# Which kernel the guest runs and which VFIO interfaces it offers: /dev/iommu (iommufd), the
# per-device cdevs /dev/vfio/devices/vfioN, the no-IOMMU groups /dev/vfio/noiommu-N, the
# classic /dev/vfio/vfio + /dev/vfio/<group>; then the device table.
# Run: VFIO_VM_KERNEL=custom bash test/vm/harness/run.sh kernel-info
# Exit status (VFIO_VM_KERNEL / VFIO_VM_IOMMU come from guest-init.sh):
#   custom kernel, intel IOMMU: 0 only if /dev/iommu and a /dev/vfio/devices/vfioN exist;
#   custom kernel, no IOMMU:    0 only if a /dev/vfio/noiommu-N exists;
#   stock kernel:               always 0 (Debian enables none of these; this only reports).
kernel="${VFIO_VM_KERNEL:-stock}"
iommu="${VFIO_VM_IOMMU:-intel}"

# Prints the existing paths among the arguments (unexpanded globs do not exist).
existing() { for p in "$@"; do [ -e "$p" ] && printf ' %s' "$p"; done; }
# show LABEL PATH...: the label, then the paths that exist, or "(none)".
show() {
  label="$1"
  shift
  found="$(existing "$@")"
  printf '  %-26s%s\n' "$label" "${found:- (none)}"
}

echo "== kernel $(uname -r) (harness: VFIO_VM_KERNEL=$kernel VFIO_VM_IOMMU=$iommu)"
echo "== cmdline: $(cat /proc/cmdline)"
echo "== VFIO and iommufd nodes"
show /dev/iommu /dev/iommu
show /dev/vfio/vfio /dev/vfio/vfio
show '/dev/vfio/devices/vfio*' /dev/vfio/devices/vfio*
show '/dev/vfio/noiommu-*' /dev/vfio/noiommu-*
show '/dev/vfio/<group>' /dev/vfio/[0-9]*
echo "== IOMMUs in /sys/class/iommu:$(existing /sys/class/iommu/*)"
if [ -r /sys/module/vfio/parameters/enable_unsafe_noiommu_mode ]; then
  echo "== vfio.enable_unsafe_noiommu_mode: $(cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode)"
fi
# vfio-dev: the device's vfio sysfs name; "(no node)" when /dev/vfio/devices/<it> is missing
# (6.12 registers no cdev for a no-IOMMU device, but the sysfs entry is there).
echo "== PCI devices (address vendor:device driver iommu-group vfio-dev)"
for dev in /sys/bus/pci/devices/*; do
  id="$(cat "$dev/vendor"):$(cat "$dev/device")"
  drv=-; [ -e "$dev/driver" ] && drv="$(basename "$(readlink "$dev/driver")")"
  grp=-; [ -e "$dev/iommu_group" ] && grp="$(basename "$(readlink "$dev/iommu_group")")"
  cdev="$(existing "$dev"/vfio-dev/vfio*)"
  cdev="${cdev##*/}"
  if [ -n "$cdev" ] && [ ! -c "/dev/vfio/devices/$cdev" ]; then cdev="$cdev (no node)"; fi
  printf '  %s %s %-10s %-4s %s\n' "${dev##*/}" "$(echo "$id" | sed 's/0x//g')" "$drv" "$grp" "${cdev:--}"
done

case "$kernel:$iommu" in
  custom:intel)
    [ -c /dev/iommu ] || { echo "kernel-info: FAILED: /dev/iommu missing"; exit 1; }
    [ -n "$(existing /dev/vfio/devices/vfio*)" ] ||
      { echo "kernel-info: FAILED: no /dev/vfio/devices/vfioN"; exit 1; }
    ;;
  custom:none)
    [ -n "$(existing /dev/vfio/noiommu-*)" ] ||
      { echo "kernel-info: FAILED: no /dev/vfio/noiommu-N"; exit 1; }
    ;;
esac
echo "kernel-info: ok"
