#!/usr/bin/env bash
# Boots the test guest once: QEMU under a hard time limit, the serial console streamed to
# stdout and copied to LOG. Exits with QEMU's status, or timeout(1)'s 124 when the limit hit.
# Reading the guest's exit marker is run.sh's job.
#
# usage: qemu.sh KERNEL INITRD COMMAND_WORD LOG
# env:   VFIO_VM_TIMEOUT  hard limit, timeout(1) syntax (default 20m)
#        VFIO_VM_ACCEL    force "kvm" or "tcg" (default: detected)
#        VFIO_VM_APPEND   extra kernel command-line words
#        VFIO_VM_SHARE    directory shared read-only as /mnt/host (default: the repo)
#        VFIO_VM_QEMU_BIN the QEMU to run (default qemu-system-x86_64 on PATH; run.sh sets it
#                         to qemu-trixie.sh's launcher for VFIO_VM_QEMU=trixie)
#        VFIO_VM_CONFIG   sriov adds an 82576 (igb) behind a PCIe root port
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

kernel="$1" initrd="$2" word="$3" log="$4"
share="${VFIO_VM_SHARE:-$(cd "$here/../../.." && pwd)}"
limit="${VFIO_VM_TIMEOUT:-20m}"

# KVM only where it works: on this machine kind /dev/kvm is a software nested layer
# (kvm_pvm) under which stock kernels hang at boot, so TCG is the safe default there.
accel="${VFIO_VM_ACCEL:-}"
if [ -z "$accel" ]; then
  if [ -e /sys/module/kvm_pvm ] || [ ! -w /dev/kvm ]; then accel=tcg; else accel=kvm; fi
fi
case "$accel" in
  kvm) cpu=host ;;
  tcg) cpu=max ;;
  *) vm_die "VFIO_VM_ACCEL must be kvm or tcg, not '$accel'" ;;
esac

# Writable share for files a test leaves for a check on the host (e.g. a pcap for tshark):
# <log dir>/artifacts, mount tag out0; the test that needs it mounts it in the guest. It holds
# the files of the latest run only.
artifacts="$(dirname "$log")/artifacts"
mkdir -p "$artifacts"
find "$artifacts" -mindepth 1 -delete

# VFIO_VM_IOMMU=none: no vIOMMU; vfio binds devices in its unsafe no-IOMMU mode (custom
# kernel). vfio_vm.kernel/vfio_vm.iommu tell guest-init.sh how the guest was set up.
kind="${VFIO_VM_KERNEL:-stock}" iommu="${VFIO_VM_IOMMU:-intel}" api="${VFIO_VM_API:-container}"
# Without an IOMMU the edu sees guest-physical addresses, which its default 28-bit DMA mask
# cannot reach in a 2 GiB guest: give it a 64-bit mask there.
case "$iommu" in
  intel) iommu_dev=(-device "intel-iommu,intremap=on") iommu_arg=intel_iommu=on edu=edu ;;
  none) iommu_dev=() iommu_arg=vfio.enable_unsafe_noiommu_mode=1 edu=edu,dma_mask=0xffffffffffffffff ;;
  *) vm_die "VFIO_VM_IOMMU must be intel or none, not '$iommu'" ;;
esac
config="${VFIO_VM_CONFIG:-default}"
qemu="${VFIO_VM_QEMU_BIN:-qemu-system-x86_64}"
append="console=ttyS0 quiet panic=-1 $iommu_arg vfio_vm.cmd=$word vfio_vm.kernel=$kind vfio_vm.iommu=$iommu vfio_vm.api=$api vfio_vm.config=$config ${VFIO_VM_APPEND:-}"

# The QMP socket (a short path: unix socket names are limited to 108 bytes).
qmp="$(mktemp -u "${TMPDIR:-/tmp}/vfio-vm-qmp.XXXXXX")"

# shellcheck disable=SC2054 # commas separate QEMU sub-options, not array elements
args=(
  -accel "$accel" -cpu "$cpu"
  # split irqchip: the emulated IOMMU's interrupt remapping needs it (with KVM).
  -machine q35,kernel-irqchip=split
  # The vIOMMU before any PCI device. intremap=on: vfio_iommu_type1 refuses an IOMMU
  # without interrupt remapping unless told to allow unsafe interrupts.
  "${iommu_dev[@]}"
  -m 2G -smp 2
  -display none -nodefaults -no-reboot
  -serial stdio
  -kernel "$kernel" -initrd "$initrd" -append "$append"
  -virtfs "local,path=$share,mount_tag=host0,security_model=none,readonly=on"
  # Devices for VFIO, each in its own IOMMU group on the root bus. The NICs share hub 1,
  # so frames one sends reach the others; there is no host network at all.
  -device "$edu"
  -netdev hubport,id=n0,hubid=1 -device e1000e,netdev=n0
  -netdev hubport,id=n1,hubid=1
  -device virtio-net-pci,netdev=n1,iommu_platform=on,disable-legacy=on
  # A non-viable group: devices behind a conventional PCI bridge share its group. The
  # legacy virtio-net (1af4:1000) gets virtio-pci, the edu gets vfio-pci. The bridge itself
  # stays driverless (ACPI hotplug holds its slots, so the guest logs "shpchp ...
  # pci_hp_register failed with error -16": expected). Keep it that way -- with shpchp bound
  # (acpi-pci-hotplug-with-bridge-support=off) the bridge alone would make the group
  # non-viable, and the virtio-net would no longer be the reason.
  -device pcie-pci-bridge,id=br1,bus=pcie.0
  -device "$edu,bus=br1,addr=1"
  -netdev hubport,id=n2,hubid=1 -device virtio-net-pci,netdev=n2,bus=br1,addr=2
  # A second e1000e on the same hub, for the NIC driver's tests (examples/e1000e): one port
  # sends, the other receives. Last, so the devices above keep their addresses.
  -netdev hubport,id=n3,hubid=1 -device e1000e,netdev=n3
  -virtfs "local,path=$artifacts,mount_tag=out0,security_model=none"
  # The monitor, for qmp-link.mjs only: a guest test pulls a NIC's cable by writing
  # "VFIO_VM_LINK <netdev> on|off" to its console.
  -qmp "unix:$qmp,server=on,wait=off"
)
# SR-IOV: QEMU's igb (an 82576 PF, 8086:10c9, up to 7 VFs 8086:10ca through the kernel's igb)
# behind a PCIe root port, so its VFs get a bus of their own; on hub 1 with the other NICs.
# Last, so every device above keeps its address.
if [ "$config" = sriov ]; then
  # shellcheck disable=SC2054
  args+=(-device pcie-root-port,id=rpx,chassis=9 -device igb,bus=rpx,netdev=nx -netdev hubport,id=nx,hubid=1)
fi

vm_log "booting ($accel, $kind kernel, IOMMU $iommu, config $config, $("$qemu" --version | head -n 1), limit $limit): vfio_vm.cmd=$word"
mkdir -p "$(dirname "$log")"
fifo="$(mktemp -u "${TMPDIR:-/tmp}/vfio-vm.XXXXXX")"
mkfifo "$fifo"

# tee in the background, QEMU in the background: the shell stays free to run the trap, so
# an interrupted run.sh takes QEMU down with it instead of leaving it orphaned. stdin is
# /dev/null so QEMU never switches a terminal to raw mode.
tee "$log" <"$fifo" &
tee_pid=$!
timeout --kill-after=10s "$limit" "$qemu" "${args[@]}" </dev/null >"$fifo" 2>&1 &
qemu_pid=$!
node "$here/qmp-link.mjs" "$log" "$qmp" </dev/null &
link_pid=$!
trap 'kill -TERM "$qemu_pid" "$link_pid" 2>/dev/null; wait "$qemu_pid" || true; rm -f "$fifo" "$qmp"; exit 130' INT TERM HUP

status=0
wait "$qemu_pid" || status=$?
kill "$link_pid" 2>/dev/null || true
wait "$tee_pid" || true
trap - INT TERM HUP
rm -f "$fifo" "$qmp"
exit "$status"
