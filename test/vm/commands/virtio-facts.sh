#!/bin/sh
# Read-only dump of the guest's virtio-net devices (virtio-facts.mjs): caps, common cfg,
# features, queues, device config. Needs dist/ (npm run build:ts).
node test/vm/commands/virtio-facts.mjs
# The same device as `vfio info` shows it (its Virtio section: type, queues, status, features).
for dev in /sys/bus/pci/devices/*; do
  [ "$(cat "$dev/vendor"):$(cat "$dev/device")" = 0x1af4:0x1041 ] && node dist/cli/main.js info "${dev##*/}"
done
exit 0
