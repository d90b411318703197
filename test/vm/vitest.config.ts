import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Guest suite: runs inside the QEMU guest (`bash test/vm/harness/run.sh test`) against the
// real kernel's /dev/vfio. There the repo is a read-only 9p mount, so nothing may be written
// under it: Vite's cache goes to TMPDIR (a tmpfs in the guest), and test/vm/commands/test.sh
// loads this file with `--configLoader runner` (the default loader bundles it to a temporary
// .mjs next to this file, which fails with EROFS).
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  cacheDir: join(tmpdir(), 'vfio-vitest-cache'),
  test: {
    // test/vm/unprivileged/ runs in a second pass as uid 1000 (vitest.unprivileged.config.ts).
    // Without an IOMMU (no-IOMMU mode) every device has a group of its own and no IOMMU
    // translates: the files about shared groups, hot reset, IOMMU topology and the CLI's
    // group handling do not apply there; the rest runs through noiommu-N.
    include:
      process.env.VFIO_VM_IOMMU === 'none'
        ? ['test/vm/conformance.test.ts', 'test/vm/setup-errors.test.ts', 'test/vm/e1000e*.test.ts', 'test/vm/virtio-net.test.ts', 'test/vm/io-bar.test.ts', 'test/vm/shared-context.test.ts', 'test/vm/noiommu.test.ts']
        : ['test/vm/*.test.ts'],
    // sriov*.test.ts need the 82576 of VFIO_VM_CONFIG=sriov (test/vm/commands/sriov.sh).
    exclude: [
      ...(process.env.VFIO_VM_IOMMU === 'none' ? [] : ['test/vm/noiommu.test.ts']),
      ...(process.env.VFIO_VM_CONFIG === 'sriov' ? [] : ['test/vm/sriov*.test.ts']),
    ],
    // Native addon: one process per test file, never worker threads.
    pool: 'forks',
    // Files share devices (a group has one owner at a time): run them one after another.
    fileParallelism: false,
    // The guest runs under TCG (no usable KVM here): everything is 10-50x slower than on
    // the host, and edu's DMA alone takes ~100 ms per transfer.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
});
