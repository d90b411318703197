/**
 * Region accessors over a memfd standing in for a device fd: the mmapped
 * fast path, sparse areas with pread/pwrite for the rest, and every refusal.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { loadAddon, nativeBackend } from '../../src/backend/native.js';
import { Region } from '../../src/model/region.js';
import { VfioError } from '../../src/errors.js';
import {
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  type RegionInfo,
} from '../../src/uapi/vfio-region.js';

const backend = nativeBackend();
const RW = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;

function fixture(size: number, flags: number, sparse?: { offset: bigint; size: bigint }[]) {
  // The "region" starts at offset 4096, as regions sit at offsets inside a device fd. A memfd
  // stands in for the device: mmap refuses regular files (they could be truncated under it).
  const fd = loadAddon().memfd(4096 + Math.ceil(size / 4096) * 4096);
  const path = `/proc/self/fd/${fd.fd}`;
  const info: RegionInfo = {
    argsz: 32,
    flags,
    index: 0,
    size: BigInt(size),
    offset: 4096n,
    caps: { msixMappable: false, ...(sparse && { sparseMmap: sparse }) },
  };
  const region = new Region(backend, fd, '0000:00:00.0', 'BAR0', info, true);
  const fileWord = (off: number) => readFileSync(path).readUInt32LE(4096 + off);
  return { region, fileWord, done: () => (region.close(), backend.close(fd)) };
}

describe('a fully mapped region', () => {
  it('reads and writes every width through the mapping', () => {
    const { region, fileWord, done } = fixture(8192, RW | VFIO_REGION_INFO_FLAG_MMAP);
    expect(region.mappedAreas).toEqual([{ start: 0, end: 8192 }]);
    region.write32(0x10, 0xdeadbeef);
    expect(region.read32(0x10)).toBe(0xdeadbeef);
    expect(fileWord(0x10)).toBe(0xdeadbeef);
    region.write8(0x20, 0xab);
    region.write16(0x22, 0xcdef);
    expect(region.read32(0x20)).toBe(0xcdef00ab);
    region.write64(0x28, 0x0123456789abcdefn);
    expect(region.read64(0x28)).toBe(0x0123456789abcdefn);
    expect(region.read32(0x28)).toBe(0x89abcdef);
    region.write32(0x30, -1);
    expect(region.read32(0x30)).toBe(0xffffffff);
    done();
  });
  it('refuses out-of-range, misaligned and oversized accesses with named errors', () => {
    const { region, done } = fixture(4096, RW | VFIO_REGION_INFO_FLAG_MMAP);
    expect(() => region.read32(4096)).toThrow(/BAR0.read32: offset 4096 \(\+4\) is outside the 4096-byte region/);
    expect(() => region.read32(4094)).toThrow(RangeError);
    expect(() => region.read32(-4)).toThrow(RangeError);
    expect(() => region.read32(2)).toThrow(/not 4-byte aligned/);
    expect(() => region.read16(NaN)).toThrow(RangeError);
    // Fractions must not be truncated into a neighbouring register.
    expect(() => region.read8(1.5)).toThrow(RangeError);
    expect(() => region.read16(2.5)).toThrow(RangeError);
    expect(() => region.read32(4.5)).toThrow(RangeError);
    expect(() => region.read64(8.5)).toThrow(RangeError);
    expect(() => region.write32(4.5, 0)).toThrow(RangeError);
    expect(() => region.read32('4' as unknown as number)).toThrow(/BAR0\.read32: offset must be a number, got string 4/);
    expect(() => region.read32('4' as unknown as number)).toThrow(TypeError);
    expect(() => region.write32(0, 2 ** 32)).toThrow(/does not fit in 32 bits/);
    expect(() => region.write8(0, 256)).toThrow(/does not fit in 8 bits/);
    expect(() => region.write32(0, 1.5)).toThrow(RangeError);
    expect(() => region.write64(0, 1 as unknown as bigint)).toThrow(/BigInt/);
    expect(() => region.write64(0, -1n)).toThrow(/BigInt/);
    done();
  });
  it('refuses every access after close, and detaches its buffers', () => {
    const { region, done } = fixture(4096, RW | VFIO_REGION_INFO_FLAG_MMAP);
    done();
    for (const f of [() => region.read32(0), () => region.write32(0, 1), () => region.read8(0), () => region.readBytes(0, new Uint8Array(4))]) {
      expect(f).toThrow(VfioError);
      expect(f).toThrow(/BAR0 is closed/);
    }
    expect(region.closed).toBe(true);
  });
});

describe('sparse and unmapped regions', () => {
  it('uses the mapping inside sparse areas and pread/pwrite outside them', () => {
    const { region, fileWord, done } = fixture(8192, RW | VFIO_REGION_INFO_FLAG_MMAP, [{ offset: 4096n, size: 4096n }]);
    expect(region.mappedAreas).toEqual([{ start: 4096, end: 8192 }]);
    region.write32(0x1000, 0x11223344); // mapped
    region.write32(0x0004, 0x55667788); // not mapped: pwrite
    expect(fileWord(0x1000)).toBe(0x11223344);
    expect(fileWord(0x0004)).toBe(0x55667788);
    expect(region.read32(0x0004)).toBe(0x55667788);
    expect(region.read64(0x1000)).toBe(0x11223344n);
    const bytes = new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]);
    region.writeBytes(0x0ffc, bytes); // straddles both: pwrite
    const back = new Uint8Array(8);
    region.readBytes(0x0ffc, back);
    expect([...back]).toEqual([...bytes]);
    done();
  });
  it('falls back to pread/pwrite for a region without MMAP', () => {
    const { region, fileWord, done } = fixture(256, RW);
    expect(region.mappedAreas).toEqual([]);
    region.write16(0x4, 0x0406);
    expect(region.read16(0x4)).toBe(0x0406);
    expect(fileWord(0x4)).toBe(0x0406);
    done();
  });
  it('refuses writes to a read-only region', () => {
    const { region, done } = fixture(256, VFIO_REGION_INFO_FLAG_READ);
    expect(region.read32(0)).toBe(0);
    expect(() => region.write32(0, 1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_ACCESS' }));
    done();
  });
  // A store into a PROT_READ mapping is a SIGSEGV: a read-only region must never be mapped,
  // so neither Region's fast path nor a view a user makes can write it.
  it('does not map a read-only region with MMAP, and refuses every write with a named error', () => {
    const { region, fileWord, done } = fixture(8192, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_MMAP);
    expect(region.mappedAreas).toEqual([]);
    expect(region.read32(0x10)).toBe(0);
    for (const write of [
      () => region.write8(0, 1),
      () => region.write16(0, 1),
      () => region.write32(0x10, 0xdeadbeef),
      () => region.write64(0, 1n),
      () => region.writeBytes(0, new Uint8Array(16)),
    ])
      expect(write).toThrow(expect.objectContaining({ code: 'ERR_VFIO_ACCESS', message: expect.stringMatching(/BAR0 is not writable/) }));
    expect(fileWord(0x10)).toBe(0);
    done();
  });
});
