import { describe, expect, it } from 'vitest';
import { IovaAllocator } from '../../src/model/iova.js';

const MiB = 2 ** 20;

describe('IovaAllocator', () => {
  it('allocates aligned, first fit, above the floor and inside the ranges', () => {
    const a = new IovaAllocator([{ start: 0n, end: 0xfedfffffn }, { start: 0xfef00000n, end: (1n << 48n) - 1n }]);
    expect(a.alloc(4096, 4096)).toBe(MiB);
    expect(a.alloc(4096, 4096)).toBe(MiB + 4096);
    expect(a.alloc(2 * MiB, 2 * MiB)).toBe(2 * MiB);
  });
  it('respects a DMA limit and reports exhaustion', () => {
    const a = new IovaAllocator([{ start: 0n, end: BigInt(8 * MiB - 1) }]);
    expect(a.alloc(4 * MiB, 4096, 4 * MiB)).toBeUndefined();
    expect(a.alloc(2 * MiB, 4096, 4 * MiB)).toBe(MiB);
    expect(a.alloc(8 * MiB, 4096)).toBeUndefined();
  });
  it('skips the hole between ranges', () => {
    const a = new IovaAllocator([{ start: 0n, end: BigInt(2 * MiB - 1) }, { start: BigInt(16 * MiB), end: BigInt(64 * MiB - 1) }]);
    expect(a.alloc(2 * MiB, 4096)).toBe(16 * MiB);
  });
  it('merges released ranges back', () => {
    const a = new IovaAllocator([{ start: 0n, end: BigInt(4 * MiB - 1) }]);
    const x = a.alloc(MiB, 4096)!;
    const y = a.alloc(MiB, 4096)!;
    const z = a.alloc(MiB, 4096)!;
    expect(a.alloc(MiB, 4096)).toBeUndefined();
    a.release(y, MiB);
    a.release(x, MiB);
    a.release(z, MiB);
    expect(a.ranges).toEqual([{ start: MiB, end: 4 * MiB - 1 }]);
    expect(a.alloc(3 * MiB, 4096)).toBe(MiB);
  });
  it('reserves a fixed IOVA only when free', () => {
    const a = new IovaAllocator([{ start: 0n, end: BigInt(4 * MiB - 1) }]);
    expect(a.reserve(2 * MiB, 4096)).toBe(true);
    expect(a.reserve(2 * MiB, 4096)).toBe(false);
    expect(a.reserve(0, 4096)).toBe(false); // below the floor
  });
  it('clips ranges to safe integers', () => {
    const a = new IovaAllocator([{ start: 0n, end: 0xffffffffffffffffn }]);
    expect(a.ranges[0]!.end).toBe(Number.MAX_SAFE_INTEGER);
  });
});
