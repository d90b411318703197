# shellcheck shell=bash
# Helpers shared by the host-side harness scripts (sourced, never run).

# Where downloaded kernels and built initramfs images live. Outside the repo on purpose:
# they are large, machine-specific, and reused by every checkout on the machine.
# shellcheck disable=SC2034 # used by the scripts that source this file
VM_CACHE="${VFIO_VM_CACHE:-${HOME:-/root}/.cache/vfio-vm}"

vm_log() { printf 'vm: %s\n' "$*" >&2; }
vm_die() { printf 'vm: error: %s\n' "$*" >&2; exit 1; }

# A command word names test/vm/commands/<word>.sh. Checked on both sides of the VM, because
# it travels on the kernel command line and becomes a path in the guest.
vm_valid_word() { [[ "$1" =~ ^[a-z0-9-]+$ ]]; }

# Seconds since the epoch with milliseconds, for wall-time reports.
vm_now() { date +%s.%N; }
vm_elapsed() { awk -v a="$1" -v b="$(vm_now)" 'BEGIN { printf "%.1f", b - a }'; }
