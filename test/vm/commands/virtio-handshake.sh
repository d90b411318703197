#!/bin/sh
# QEMU's answers to the virtio transport's handshake (virtio-handshake.mjs); needs dist/.
node test/vm/commands/virtio-handshake.mjs
