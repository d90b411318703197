/**
 * The packet pool (src/net/pool.ts) on the fake kernel: bulk alloc and free, ownership
 * rules, exhaustion, chunking (no buffer spans a chunk), and no-IOMMU mode's hugepage chunks.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openDevice, type Device } from '../../src/index.js';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { BufferOwner, PacketPool } from '../../src/net/index.js';

const EDU = '0000:00:02.0';
let kernel: FakeKernel | null = null;
let dev: Device | null = null;

afterEach(() => {
  dev?.close();
  dev = null;
  if (kernel) {
    expect(kernel.faults).toEqual([]);
    expect(kernel.openFds).toBe(0);
    kernel.dispose();
  }
  kernel = null;
});

function device(options: ConstructorParameters<typeof FakeKernel>[0] = {}, open: object = {}): Device {
  kernel = new FakeKernel({ memlockLimit: 256 << 20, ...options });
  kernel.addDevice(EDU, new EduModel());
  dev = openDevice(EDU, { ...kernel.options, ...open });
  return dev;
}

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};

describe('PacketPool', () => {
  it('allocates and frees in bulk through a Uint32Array, ids 0..count-1, metadata per id', () => {
    const pool = PacketPool.create(device(), { count: 100 });
    try {
      expect(pool).toMatchObject({ capacity: 100, bufferSize: 2048, headroom: 0, stride: 2048, available: 100 });
      const ids = new Uint32Array(64);
      expect(pool.alloc(ids, 40)).toBe(40);
      expect(Array.from(ids.subarray(0, 5))).toEqual([0, 1, 2, 3, 4]);
      expect(pool.available).toBe(60);
      expect(Array.from(ids.subarray(0, 40)).every((id) => pool.owner[id] === BufferOwner.APP)).toBe(true);
      // The views are the DMA memory at the IOVA the arrays give.
      const id = ids[3]!;
      const chunk = pool.chunks[0]!;
      expect(pool.iovaLo[id]! + pool.iovaHi[id]! * 2 ** 32).toBe(chunk.iova + id * 2048);
      expect(pool.data[id]!.buffer).toBe(chunk.buffer);
      expect(pool.data[id]!.byteOffset).toBe(id * 2048);
      pool.write(id, Uint8Array.of(1, 2, 3));
      expect(pool.length[id]).toBe(3);
      expect(chunk.bytes[id * 2048 + 1]).toBe(2);
      // Free a middle run with `start`, then the rest.
      pool.free(ids, 10, 5);
      expect(pool.available).toBe(70);
      pool.free(ids, 5);
      pool.free(ids, 25, 15);
      expect(pool.available).toBe(100);
      expect(pool.owner.every((o) => o === BufferOwner.FREE)).toBe(true);
      // Length and flags are zeroed on alloc; the last freed comes back first.
      pool.alloc(ids, 1);
      expect(pool.length[ids[0]!]).toBe(0);
    } finally {
      pool.close();
    }
  });

  it('ownership: double free, freeing or using an id the NIC holds, a free id, an id outside the pool', () => {
    const pool = PacketPool.create(device(), { count: 8 });
    try {
      const ids = new Uint32Array(8);
      pool.alloc(ids, 2);
      pool.free(ids, 1);
      expect(code(() => pool.free(ids, 1))).toBe('ERR_VFIO_NET_DOUBLE_FREE');
      expect(code(() => pool.freeOne(ids[0]!))).toBe('ERR_VFIO_NET_DOUBLE_FREE');
      expect(code(() => pool.write(ids[0]!, new Uint8Array(60)))).toBe('ERR_VFIO_NET_NOT_ALLOCATED');
      const nic = new Uint32Array(1);
      expect(pool.allocForNic(nic, 1)).toBe(1);
      expect(pool.owner[nic[0]!]).toBe(BufferOwner.NIC);
      expect(code(() => pool.free(nic, 1))).toBe('ERR_VFIO_NET_HELD_BY_NIC');
      expect(code(() => pool.free(Uint32Array.of(99), 1))).toBe('ERR_VFIO_NET_BAD_ID');
      const err = pool.ownershipError(nic[0]!, 'X.txBurst', '0000:00:03.0');
      expect(err).toMatchObject({ name: 'VfioError', code: 'ERR_VFIO_NET_HELD_BY_NIC', op: 'X.txBurst', device: '0000:00:03.0' });
      expect(err.hint).toMatch(/txBurst/);
      // A bad id in the middle of a bulk free: the ids before it are freed, the rest untouched.
      pool.releaseFromNic(nic[0]!);
      const three = new Uint32Array(3);
      pool.alloc(three, 3);
      const third = three[2]!;
      three[1] = three[0]!;
      expect(code(() => pool.free(three, 3))).toBe('ERR_VFIO_NET_DOUBLE_FREE');
      expect(pool.owner[third]).toBe(BufferOwner.APP);
      pool.freeOne(third);
      expect(pool.available).toBe(6); // still the app's: ids[1] of the first alloc, and the id three[1] was overwritten on
    } finally {
      pool.close();
    }
  });

  it('exhaustion: alloc returns fewer than asked and counts it, never waits', () => {
    const pool = PacketPool.create(device(), { count: 10 });
    try {
      const ids = new Uint32Array(16);
      expect(pool.alloc(ids, 16)).toBe(10);
      expect(pool.alloc(ids, 4)).toBe(0);
      expect(pool.takeForNic()).toBe(-1);
      expect(pool.allocFailures).toBe(2);
      expect(pool.alloc(ids, 4, 14)).toBe(0); // ids.length - start bounds it too
    } finally {
      pool.close();
    }
  });

  it('chunks: at most chunkSize each, no buffer spans two, none crosses a 4 KiB page, headroom in front of the IOVA', () => {
    const pool = PacketPool.create(device(), { count: 50, bufferSize: 1500, headroom: 64, chunkSize: 16384 });
    try {
      expect(pool.stride).toBe(1600); // 64 + 1500 rounded up to 64
      // Two buffers per 4 KiB page (a third would cross into the next), four pages per chunk.
      const perChunk = 2 * (16384 / 4096);
      expect(pool.chunks).toHaveLength(Math.ceil(50 / perChunk));
      for (let id = 0; id < 50; id++) {
        const chunk = pool.chunks[Math.floor(id / perChunk)]!;
        const k = id % perChunk;
        const at = Math.floor(k / 2) * 4096 + (k % 2) * 1600;
        expect(chunk.size).toBeLessThanOrEqual(16384);
        expect(pool.raw[id]!.buffer).toBe(chunk.buffer);
        expect(pool.raw[id]!.byteOffset).toBe(at);
        expect(pool.data[id]!.byteOffset).toBe(at + 64);
        expect(pool.data[id]!.length).toBe(1500);
        expect(Math.floor(at / 4096)).toBe(Math.floor((at + 1600 - 1) / 4096));
        expect(pool.iovaLo[id]! + pool.iovaHi[id]! * 2 ** 32).toBe(chunk.iova + at + 64);
      }
      // virtio-net's header in front of 2048-byte buffers: a page each; without it, two per page back to back.
      const wide = PacketPool.create(dev!, { count: 8, headroom: 12 });
      const plain = PacketPool.create(dev!, { count: 8 });
      try {
        expect(wide.raw.map((r) => r.byteOffset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((k) => k * 4096));
        expect(plain.raw.map((r) => r.byteOffset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7].map((k) => k * 2048));
      } finally {
        wide.close();
        plain.close();
      }
      expect(() => PacketPool.create(dev!, { count: 1, chunkSize: 4 << 20 })).toThrow(RangeError);
      expect(() => PacketPool.create(dev!, { count: 0 })).toThrow(/count/);
      expect(() => PacketPool.create(dev!, { count: 1, bufferSize: 8 })).toThrow(/bufferSize/);
    } finally {
      pool.close();
    }
    expect(pool.chunks.every((c) => c.freed)).toBe(true);
    expect(() => pool.alloc(new Uint32Array(1), 1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_CLOSED' }));
  });

  it('no-IOMMU mode: each chunk is one 2 MiB hugepage, physically contiguous, at its physical address', () => {
    const d = device({ noIommu: true, hugepages: 4 }, { unsafeNoIommu: true });
    expect(d.dmaTranslated).toBe(false);
    const pool = PacketPool.create(d, { count: 2000 }); // 4 MB of buffers: two chunks
    try {
      expect(pool.chunks).toHaveLength(2);
      for (const c of pool.chunks) {
        expect(c.pageSize).toBe(2 << 20);
        expect(c.size).toBe(2 << 20);
      }
      expect(pool.iovaLo[1024]! + pool.iovaHi[1024]! * 2 ** 32).toBe(pool.chunks[1]!.iova);
    } finally {
      pool.close();
    }
    // Without free hugepages the pool is refused rather than given pages that could move.
    expect(() => PacketPool.create(d, { count: 8000 })).toThrow(expect.objectContaining({ code: 'ENOMEM' }));
  });
});
