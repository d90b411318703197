/**
 * Pinned DMA memory counts against RLIMIT_MEMLOCK for a user without
 * CAP_IPC_LOCK. Registered only where a limit applies: the fake kernel with one
 * set, and the guest's unprivileged pass (node as uid 1000 under `ulimit -l`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDevice, VfioError, type Device } from '../../src/index.js';
import type { Target } from './target.js';

export function memlockSuite(t: Target): void {
  describe('RLIMIT_MEMLOCK', () => {
    let dev: Device;
    beforeAll(() => {
      dev = openDevice(t.eduAddress, t.options);
    });
    afterAll(() => dev?.close());

    it('a mapping past the limit is a VfioError naming the limit, the size and the fix', () => {
      const limit = t.backend.memlockLimit();
      expect(limit, 'this suite runs under a finite RLIMIT_MEMLOCK').toBeLessThan(64 * 2 ** 20);
      const size = 2 * limit!;
      try {
        dev.allocDma(size, { hugepages: 'never' });
        expect.unreachable('mapping twice the limit succeeded');
      } catch (e) {
        expect(e).toBeInstanceOf(VfioError);
        const v = e as VfioError;
        expect(v.code).toBe('ENOMEM');
        expect(v.op).toBe(t.mode === 'iommufd' ? 'IOMMU_IOAS_MAP' : 'VFIO_IOMMU_MAP_DMA');
        expect(v.hint).toMatch(/RLIMIT_MEMLOCK is \d/);
        expect(v.hint).toContain(`needs ${size / 2 ** 20} MiB`);
        expect(v.hint).toMatch(/ulimit -l/);
      }
      // Nothing leaked: the memory and its IOVA went back, and a small mapping still fits.
      expect(dev.context.dmaBuffers).toHaveLength(0);
      const small = dev.allocDma(16 * 1024, { hugepages: 'never' });
      expect(small.iova).toBe(0x100000);
      small.free();
    });
  });
}
