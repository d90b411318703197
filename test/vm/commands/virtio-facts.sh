#!/bin/sh
# Read-only dump of the guest's virtio-net devices (virtio-facts.mjs): caps, common cfg,
# features, queues, device config. Needs dist/ (npm run build:ts).
node test/vm/commands/virtio-facts.mjs
