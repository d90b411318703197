#!/usr/bin/env bash
# Runs test/vm/commands/<word>.sh inside a QEMU guest with a real VFIO kernel (Debian 12's
# stock 6.1, or the custom 6.12 with iommufd) and exits with that command's status.
#
# usage: bash test/vm/harness/run.sh <command-word>        (from anywhere)
# env:   VFIO_VM_KERNEL   stock (default: Debian 12's kernel.sh) or custom (custom-kernel.sh:
#                         trixie 6.12 + kernel.fragment, iommufd/cdev/no-IOMMU, built once)
#        VFIO_VM_CUSTOM   with VFIO_VM_KERNEL=custom: 6.12 (default, trixie's) or backports (the
#                         newest linux-source of trixie-backports, 7.3 at the time of writing)
#        VFIO_VM_API      container (default) or iommufd: the kernel interface the guest tests
#                         open devices through (iommufd: custom kernel with VFIO_VM_IOMMU=intel)
#        VFIO_VM_IOMMU    intel (default: emulated VT-d) or none (no IOMMU, vfio no-IOMMU
#                         mode; custom kernel only)
#        VFIO_VM_CONFIG   default, or sriov: an 82576 (QEMU's igb) behind a PCIe root port for
#                         the SR-IOV tests; needs trixie's QEMU, which it implies, and the vIOMMU
#        VFIO_VM_QEMU     system (default: the host's qemu-system-x86_64, 7.2 on Debian 12) or
#                         trixie (10.0, fetched and unpacked by qemu-trixie.sh)
#        VFIO_VM_CACHE    kernel + initramfs cache (default ~/.cache/vfio-vm)
#        VFIO_VM_OUT      where console logs go (default <repo>/.vm-out)
#        VFIO_VM_TIMEOUT, VFIO_VM_ACCEL, VFIO_VM_APPEND, VFIO_VM_SHARE: see qemu.sh
# exit:  the guest command's status; 2 = harness failure inside the guest; 124 = time limit
#        hit (QEMU killed); 125 = the guest ended without reporting a status.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
# shellcheck source=SCRIPTDIR/lib.sh
. "$here/lib.sh"

# The guest sees this tree (normally the repo itself) read-only at /mnt/host.
export VFIO_VM_SHARE="${VFIO_VM_SHARE:-$repo}"
commands="$VFIO_VM_SHARE/test/vm/commands"

word="${1:-}"
if [ $# -ne 1 ] || ! vm_valid_word "$word"; then
  known=""
  for f in "$commands"/*.sh; do known+=" $(basename "$f" .sh)"; done
  vm_die "usage: run.sh <command-word>; commands:$known"
fi
[ -f "$commands/$word.sh" ] || vm_die "no such command: $commands/$word.sh"
export VFIO_VM_KERNEL="${VFIO_VM_KERNEL:-stock}" VFIO_VM_IOMMU="${VFIO_VM_IOMMU:-intel}" VFIO_VM_API="${VFIO_VM_API:-container}"
export VFIO_VM_CONFIG="${VFIO_VM_CONFIG:-default}"
case "$VFIO_VM_CONFIG" in
  default) export VFIO_VM_QEMU="${VFIO_VM_QEMU:-system}" ;;
  # QEMU 8.0+ has the igb (82576 with SR-IOV); the stock kernel has igb/igbvf as modules,
  # the custom one built in.
  sriov) export VFIO_VM_QEMU="${VFIO_VM_QEMU:-trixie}"
    [ "$VFIO_VM_QEMU" = trixie ] || vm_die "VFIO_VM_CONFIG=sriov needs VFIO_VM_QEMU=trixie (Debian 12's QEMU 7.2 has no igb)"
    [ "$VFIO_VM_IOMMU" = intel ] || vm_die "VFIO_VM_CONFIG=sriov needs the Intel vIOMMU (VFs without an IOMMU group are no use to VFIO)" ;;
  *) vm_die "VFIO_VM_CONFIG must be default or sriov, not '$VFIO_VM_CONFIG'" ;;
esac
case "$VFIO_VM_QEMU" in system | trixie) ;; *) vm_die "VFIO_VM_QEMU must be system or trixie, not '$VFIO_VM_QEMU'" ;; esac
case "$VFIO_VM_API" in container | iommufd) ;; *) vm_die "VFIO_VM_API must be container or iommufd, not '$VFIO_VM_API'" ;; esac
if [ "$VFIO_VM_API" = iommufd ] && [ "$VFIO_VM_KERNEL:$VFIO_VM_IOMMU" != custom:intel ]; then
  vm_die "VFIO_VM_API=iommufd needs VFIO_VM_KERNEL=custom and an IOMMU (Debian's kernels have no iommufd; no-IOMMU devices have no cdev)"
fi
case "$VFIO_VM_KERNEL" in stock | custom) ;; *) vm_die "VFIO_VM_KERNEL must be stock or custom, not '$VFIO_VM_KERNEL'" ;; esac
export VFIO_VM_CUSTOM="${VFIO_VM_CUSTOM:-6.12}"
case "$VFIO_VM_CUSTOM" in 6.12 | backports) ;; *) vm_die "VFIO_VM_CUSTOM must be 6.12 or backports, not '$VFIO_VM_CUSTOM'" ;; esac
case "$VFIO_VM_IOMMU" in intel | none) ;; *) vm_die "VFIO_VM_IOMMU must be intel or none, not '$VFIO_VM_IOMMU'" ;; esac
# Debian's kernels lack CONFIG_VFIO_NOIOMMU: without an IOMMU nothing would bind to vfio-pci.
if [ "$VFIO_VM_KERNEL:$VFIO_VM_IOMMU" = stock:none ]; then
  vm_die "VFIO_VM_IOMMU=none needs VFIO_VM_KERNEL=custom (Debian's kernels have no VFIO no-IOMMU mode)"
fi
for tool in apt-get dpkg-deb depmod modprobe cpio timeout flock; do
  command -v "$tool" >/dev/null || vm_die "$tool not found (see test/vm/harness/README.md)"
done

[ "$VFIO_VM_QEMU" = trixie ] || command -v qemu-system-x86_64 >/dev/null || vm_die "qemu-system-x86_64 not found (see test/vm/harness/README.md)"

start="$(vm_now)"

# trixie's QEMU: fetched and unpacked once (~20 s), under its own lock.
if [ "$VFIO_VM_QEMU" = trixie ]; then
  VFIO_VM_QEMU_BIN="$("$here/qemu-trixie.sh")"
  export VFIO_VM_QEMU_BIN
fi

# The custom kernel is built (once, ~10 min) under its own lock, before the cache lock: runs
# of the stock kernel need not wait for the build.
if [ "$VFIO_VM_KERNEL" = custom ]; then kdir="$("$here/custom-kernel.sh")"; fi

# Kernel and initramfs under one lock: concurrent runs wait instead of racing on the cache.
# The lock is released before booting, so the guests themselves can run in parallel.
mkdir -p "$VM_CACHE"
exec 9>"$VM_CACHE/lock"
flock 9
if [ "$VFIO_VM_KERNEL" = stock ]; then kdir="$("$here/kernel.sh")"; fi
initrd="$("$here/initramfs.sh" "$kdir")"
flock -u 9
exec 9>&-
vm_log "kernel $(cat "$kdir/version") ($VFIO_VM_KERNEL, IOMMU $VFIO_VM_IOMMU, API $VFIO_VM_API, config $VFIO_VM_CONFIG, QEMU $VFIO_VM_QEMU), prepared in $(vm_elapsed "$start") s"

out="${VFIO_VM_OUT:-$repo/.vm-out}"
log="$out/$word-$(date +%Y%m%d-%H%M%S)-$$.log"
mkdir -p "$out"
: >"$log"
ln -sfn "$(basename "$log")" "$out/$word.log" # the latest run of each command
# In the background so a TERM/INT sent to this script alone (a CI runner stopping the job,
# not just a Ctrl-C to the whole process group) still takes QEMU down through qemu.sh.
"$here/qemu.sh" "$kdir/vmlinuz" "$initrd" "$word" "$log" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null; wait "$child" || true; vm_log "interrupted; QEMU stopped"; exit 130' INT TERM HUP
qemu_status=0
wait "$child" || qemu_status=$?
trap - INT TERM HUP

# The last marker wins; \r comes from the serial line's CRLF.
marker="$(tr -d '\r' <"$log" | sed -n 's/^VFIO_GUEST_EXIT=\([0-9][0-9]*\)$/\1/p' | tail -n 1)"
if [ "$qemu_status" = 124 ] || [ "$qemu_status" = 137 ]; then
  status=124
  vm_log "FAILED: time limit ${VFIO_VM_TIMEOUT:-20m} reached, QEMU killed"
elif [ -z "$marker" ]; then
  status=125
  vm_log "FAILED: the guest ended without VFIO_GUEST_EXIT (QEMU status $qemu_status):" \
    "it crashed, panicked or never reached guest-init.sh"
  # A device model can abort QEMU itself (hw_error), e.g. QEMU 7.2's edu on a DMA that
  # ends exactly at the end of its 4 KiB buffer. Name it: it is easy to miss in the log.
  grep -a -m 1 'qemu: hardware error' "$log" >&2 || true
else
  status="$marker"
fi
vm_log "command '$word' exited $status; wall time $(vm_elapsed "$start") s; log $log"
exit "$status"
