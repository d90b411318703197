#!/bin/sh
# Diagnostics for the harness itself: kernel, mounts, modules, the VFIO nodes, the kernel
# log. Always exits 0. Run: bash test/vm/harness/run.sh info
echo "== kernel: $(uname -r)  cmdline: $(cat /proc/cmdline)"
echo "== uptime: $(cut -d' ' -f1 /proc/uptime) s"
echo "== mounts"; cat /proc/mounts
echo "== modules"; cut -d' ' -f1 /proc/modules | tr '\n' ' '; echo
echo "== /dev/vfio"; ls -l /dev/vfio
echo "== iommu groups"
for g in /sys/kernel/iommu_groups/*; do
  printf '  %s:' "${g##*/}"
  for d in "$g"/devices/*; do printf ' %s' "${d##*/}"; done
  echo
done
echo "== node"; node -e 'console.log(process.version, process.arch, process.getuid())'
echo "== dmesg (last 30 lines)"; dmesg | tail -n 30
