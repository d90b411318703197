#!/bin/sh
# The virtio-net suites alone (test/vm/virtio-net.test.ts as root, then
# test/vm/unprivileged/virtio-net.test.ts as uid 1000), with test.sh's setup.
# Run: bash test/vm/harness/run.sh virtio-net
VFIO_VM_ONLY=virtio-net
. test/vm/commands/test.sh
