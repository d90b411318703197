#!/bin/sh
# DMA mapping benchmark on the guest's real kernel (bench/dma-guest.ts): JS through the
# library against a static C program issuing the same ioctls. `npm run bench` builds the C
# program and the plan into bench/results/dma/ (visible here through the share) and reads
# the result from the out0 share: <VFIO_VM_OUT>/artifacts/dma.json on the host.
plan=bench/results/dma/plan.json
if [ ! -f "$plan" ]; then
  echo "bench-dma: $plan missing: run it through npm run bench, which builds the C baseline and the plan"
  exit 1
fi
out=/tmp/bench-out
mkdir -p "$out"
mount -t 9p -o trans=virtio,version=9p2000.L out0 "$out" || { echo "bench-dma: cannot mount the out0 share"; exit 1; }
# Pinned memory counts against RLIMIT_MEMLOCK; root could exceed it anyway (CAP_IPC_LOCK),
# but an explicit limit keeps the run independent of how the kernel treats root.
ulimit -l unlimited
# 4 KiB pages on both sides. With transparent hugepages, how much of a buffer gets 2 MiB
# pages depends on where its mmap lands relative to a 2 MiB boundary, which differs between
# the two processes, and pinning cost follows the page size: the comparison would be noise.
thp=/sys/kernel/mm/transparent_hugepage/enabled
[ -w "$thp" ] && echo never >"$thp"
node node_modules/tsx/dist/cli.mjs bench/dma-guest.ts "$plan" "$out/dma.json"
status=$?
umount "$out"
exit "$status"
