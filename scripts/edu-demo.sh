#!/usr/bin/env bash
# The main job on a fresh machine: set up, then boot the QEMU guest (real kernel,
# emulated IOMMU) and run examples/edu/main.ts there against QEMU's edu device.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash test/vm/harness/run.sh edu-example
