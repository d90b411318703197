#!/bin/sh
# Quickest check that the guest is usable for VFIO: node runs, the VFIO container node and
# at least one group node exist. Runs in the guest (busybox sh) from the repo root.
echo "node $(node --version)"
ls -l /dev/vfio
[ -c /dev/vfio/vfio ] || { echo "smoke: /dev/vfio/vfio missing"; exit 1; }
for group in /dev/vfio/[0-9]*; do
  [ -c "$group" ] && { echo "smoke: ok"; exit 0; }
done
echo "smoke: no /dev/vfio/<group> node"
exit 1
