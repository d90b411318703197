#!/bin/sh
# Guest side of the harness (busybox sh, run by the initramfs /init as root, read from the
# 9p share). Binds the test devices to vfio-pci, lets the remaining devices find their
# kernel drivers, prints the device table, runs test/vm/commands/<word>.sh, prints
#   VFIO_GUEST_EXIT=<status>
# on the console for the host (run.sh) and powers the guest off. Never returns.
set -u
repo=/mnt/host

uptime_s() { cut -d' ' -f1 /proc/uptime; }

finish() {
  echo "guest-init: done at $(uptime_s)s of guest uptime"
  # Own line: kernel messages on the console may have left a partial line.
  printf '\nVFIO_GUEST_EXIT=%s\n' "$1"
  poweroff -f
  sleep 1000000
}
# Harness problems in the guest end with status 2, distinct from a test command's failure.
fail() {
  echo "guest-init: FAILED: $*"
  finish 2
}

# Devices the tests drive through VFIO: edu, e1000e (82574L), modern virtio-net. Every
# instance, including the edu behind the PCIe-to-PCI bridge.
VFIO_IDS="1234:11e8 8086:10d3 1af4:1041"

id_of() { echo "$(cat "$1/vendor"):$(cat "$1/device")" | sed 's/0x//g'; }
driver_of() { if [ -e "$1/driver" ]; then basename "$(readlink "$1/driver")"; else echo -; fi; }
group_of() { if [ -e "$1/iommu_group" ]; then basename "$(readlink "$1/iommu_group")"; else echo -; fi; }

# The command word arrives as vfio_vm.cmd=<word> on the kernel command line (not vfio.cmd:
# modprobe would hand "cmd=" to the vfio module as a parameter). vfio_vm.kernel=stock|custom
# and vfio_vm.iommu=intel|none say how the host set the guest up (run.sh's VFIO_VM_KERNEL and
# VFIO_VM_IOMMU); the command sees them under those names.
cmd=""
VFIO_VM_KERNEL=stock
VFIO_VM_IOMMU=intel
VFIO_VM_API=container
VFIO_VM_CONFIG=default
read -r cmdline </proc/cmdline
for arg in $cmdline; do
  case "$arg" in
    vfio_vm.cmd=*) cmd="${arg#vfio_vm.cmd=}" ;;
    vfio_vm.kernel=*) VFIO_VM_KERNEL="${arg#vfio_vm.kernel=}" ;;
    vfio_vm.iommu=*) VFIO_VM_IOMMU="${arg#vfio_vm.iommu=}" ;;
    vfio_vm.api=*) VFIO_VM_API="${arg#vfio_vm.api=}" ;;
    vfio_vm.config=*) VFIO_VM_CONFIG="${arg#vfio_vm.config=}" ;;
  esac
done
case "$cmd" in
  "" | *[!a-z0-9-]*) fail "bad or missing vfio_vm.cmd=<word> on the kernel command line: '$cmd'" ;;
esac
script="$repo/test/vm/commands/$cmd.sh"
[ -f "$script" ] || fail "no command '$cmd' ($script does not exist)"

# 1. vfio-pci first. driver_override makes vfio-pci the only driver that may take the
#    device; drivers_probe then binds it (works while /init keeps autoprobe off). A device
#    a built-in driver already holds is released first (the custom kernel's virtio_pci has
#    probed every virtio device at boot). Without an IOMMU (VFIO_VM_IOMMU=none) vfio-pci
#    binds only in no-IOMMU mode (vfio.enable_unsafe_noiommu_mode=1, CONFIG_VFIO_NOIOMMU).
[ -d /sys/bus/pci/drivers/vfio-pci ] || fail "vfio-pci driver not loaded (nor built in)"
for dev in /sys/bus/pci/devices/*; do
  addr="${dev##*/}"
  case " $VFIO_IDS " in *" $(id_of "$dev") "*) ;; *) continue ;; esac
  drv="$(driver_of "$dev")"
  [ "$drv" = vfio-pci ] && continue
  [ "$drv" = - ] || echo "$addr" >"$dev/driver/unbind" || fail "unbind $addr from $drv"
  echo vfio-pci >"$dev/driver_override" || fail "driver_override $addr"
  echo "$addr" >/sys/bus/pci/drivers_probe 2>/dev/null
  [ "$(driver_of "$dev")" = vfio-pci ] || fail "$addr ($(id_of "$dev")) did not bind to vfio-pci"
done

# 2. Then the kernel drivers. virtio_pci is modular in Debian's kernel and already loaded
#    (the 9p share needs it) but held back by autoprobe=0; probing the driverless devices now
#    binds the legacy virtio-net behind the bridge to virtio-pci, so the group it shares with
#    the bridged edu is not viable -- on purpose, the tests need such a group.
echo 1 >/sys/bus/pci/drivers_autoprobe || fail "re-enable PCI autoprobe"
for dev in /sys/bus/pci/devices/*; do
  [ -e "$dev/driver" ] || echo "${dev##*/}" >/sys/bus/pci/drivers_probe 2>/dev/null || true
done

# 3. What the tests will see.
echo "guest-init: PCI devices (address vendor:device driver iommu-group)"
for dev in /sys/bus/pci/devices/*; do
  printf '  %s %s %-10s %s\n' "${dev##*/}" "$(id_of "$dev")" "$(driver_of "$dev")" "$(group_of "$dev")"
done
[ -c /dev/vfio/vfio ] || fail "/dev/vfio/vfio missing"

# 4. The command, from the repo root, with a writable HOME/TMPDIR (the share is read-only).
#    VFIO_VM=1 lets tests tell the guest from the host; VFIO_VM_KERNEL/VFIO_VM_IOMMU name
#    the kernel and IOMMU setup. Output goes through a pipe: the
#    console is a tty, but nobody watches it live, so tools should write plain log lines
#    (vitest would otherwise redraw its progress with escape sequences into the log).
cd "$repo" || fail "cd $repo"
export HOME=/tmp TMPDIR=/tmp PATH=/usr/bin:/bin VFIO_VM=1 VFIO_VM_KERNEL VFIO_VM_IOMMU VFIO_VM_API VFIO_VM_CONFIG
echo "guest-init: running $script at $(uptime_s)s of guest uptime" \
  "(kernel $(uname -r): $VFIO_VM_KERNEL, IOMMU $VFIO_VM_IOMMU, API $VFIO_VM_API, config $VFIO_VM_CONFIG)"
# shellcheck disable=SC3040 # busybox ash has pipefail; the status must be the command's
set -o pipefail
/bin/sh "$script" </dev/null 2>&1 | cat
finish "$?"
