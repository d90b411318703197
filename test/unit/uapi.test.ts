import { describe, expect, it } from 'vitest';
import {
  _IOC,
  decodeDeviceInfo,
  decodeDmaUnmap,
  decodeGroupStatus,
  decodeHotResetInfo,
  decodeIommuInfo,
  decodeIrqInfo,
  decodeIrqSet,
  decodeRegionInfo,
  decodeSparseMmapCap,
  encodeDeviceInfoQuery,
  encodeDmaMap,
  encodeDmaUnmap,
  encodeGroupStatusQuery,
  encodeHotReset,
  encodeHotResetInfoQuery,
  encodeIommuInfoQuery,
  encodeIrqInfoQuery,
  encodeIrqSet,
  encodeRegionInfoQuery,
  ioctlEncodingFor,
  MAX_CAP_CHAIN,
  readCapChain,
  VFIO_DEVICE_FLAGS_CAPS,
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_RESET,
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_DEVICE_RESET,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_FLAGS_VIABLE,
  VFIO_IOCTL_NAMES,
  VFIO_IOMMU_DIRTY_PAGES,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
  VFIO_REGION_INFO_CAP_SPARSE_MMAP,
  VFIO_REGION_INFO_CAP_TYPE,
  VFIO_REGION_INFO_FLAG_CAPS,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_TYPE_PCI_VENDOR_TYPE,
  vfioIoctlName,
  vfioPciRegionOffset,
} from '../../src/uapi/index.js';

/** Writes raw little-endian words, independently of the struct helper under test. */
class Raw {
  readonly bytes: Uint8Array;
  readonly #view: DataView;
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.#view = new DataView(this.bytes.buffer);
  }
  u16(off: number, v: number): this {
    this.#view.setUint16(off, v, true);
    return this;
  }
  u32(off: number, v: number): this {
    this.#view.setUint32(off, v, true);
    return this;
  }
  u64(off: number, v: bigint): this {
    this.#view.setBigUint64(off, v, true);
    return this;
  }
  cap(off: number, id: number, version: number, next: number): this {
    return this.u16(off, id).u16(off + 2, version).u32(off + 4, next);
  }
}

const u32At = (b: Uint8Array, off: number): number => new DataView(b.buffer, b.byteOffset).getUint32(off, true);

describe('ioctl numbers', () => {
  it('encodes _IO(";", 100 + n) with the generic layout', () => {
    if (ioctlEncodingFor(process.arch) !== ioctlEncodingFor('x64')) return expect(process.arch).toMatch(/^(ppc|mips)/);
    expect(VFIO_GET_API_VERSION).toBe(0x3b64);
    expect(VFIO_DEVICE_RESET).toBe(0x3b6f);
  });

  it('encodes direction and size for both layouts', () => {
    // FS_IOC_GETFLAGS, _IOR('f', 1, long) on LP64: a well-known number per architecture family.
    expect(_IOC('read', 'f', 1, 8, ioctlEncodingFor('x64'))).toBe(0x80086601);
    expect(_IOC('read', 'f', 1, 8, ioctlEncodingFor('ppc64'))).toBe(0x40086601);
    expect(_IOC('none', ';', 100, 0, ioctlEncodingFor('mipsel'))).toBe(0x20003b64);
    expect(_IOC('readwrite', 'f', 1, 8, ioctlEncodingFor('arm64'))).toBe(0xc0086601);
  });

  it('refuses fields that do not fit', () => {
    expect(() => _IOC('read', 'f', 256, 0)).toThrow(RangeError);
    expect(() => _IOC('read', 'f', 1, 1 << 14, ioctlEncodingFor('x64'))).toThrow(RangeError);
    expect(() => _IOC('read', 'f', 1, 1 << 13, ioctlEncodingFor('ppc'))).toThrow(RangeError);
  });

  it('names requests, joining the container/device numbers that collide', () => {
    expect(VFIO_IOCTL_NAMES.get(VFIO_DEVICE_RESET)).toBe('VFIO_DEVICE_RESET');
    expect(VFIO_IOCTL_NAMES.get(VFIO_IOMMU_GET_INFO)).toBe('VFIO_DEVICE_GET_PCI_HOT_RESET_INFO | VFIO_IOMMU_GET_INFO');
    expect(VFIO_IOCTL_NAMES.get(VFIO_IOMMU_DIRTY_PAGES)).toBe('VFIO_DEVICE_FEATURE | VFIO_IOMMU_DIRTY_PAGES');
    // 19 requests over 16 distinct numbers.
    expect(VFIO_IOCTL_NAMES.size).toBe(16);
  });

  it('disambiguates by fd kind', () => {
    expect(VFIO_IOMMU_MAP_DMA).toBe(VFIO_DEVICE_PCI_HOT_RESET);
    expect(vfioIoctlName(VFIO_IOMMU_MAP_DMA, 'container')).toBe('VFIO_IOMMU_MAP_DMA');
    expect(vfioIoctlName(VFIO_IOMMU_MAP_DMA, 'device')).toBe('VFIO_DEVICE_PCI_HOT_RESET');
    expect(vfioIoctlName(VFIO_IOMMU_MAP_DMA)).toBe('VFIO_DEVICE_PCI_HOT_RESET | VFIO_IOMMU_MAP_DMA');
    expect(vfioIoctlName(0x1234)).toBe('ioctl 0x1234');
  });
});

describe('readCapChain', () => {
  it('returns an empty chain for offset 0', () => {
    expect(readCapChain(new Uint8Array(64), 0)).toEqual([]);
  });

  it('follows next pointers in order', () => {
    const r = new Raw(64).cap(16, 3, 1, 40).cap(40, 7, 2, 24).cap(24, 9, 1, 0);
    expect(readCapChain(r.bytes, 16)).toEqual([
      { id: 3, version: 1, offset: 16 },
      { id: 7, version: 2, offset: 40 },
      { id: 9, version: 1, offset: 24 },
    ]);
  });

  it('refuses a loop', () => {
    const r = new Raw(64).cap(16, 1, 1, 32).cap(32, 2, 1, 16);
    expect(() => readCapChain(r.bytes, 16)).toThrow(RangeError);
    expect(() => readCapChain(r.bytes, 16)).toThrow(/loops back to offset 16/);
  });

  it('refuses a capability that points at itself', () => {
    const r = new Raw(32).cap(16, 1, 1, 16);
    expect(() => readCapChain(r.bytes, 16)).toThrow(/loops/);
  });

  it('refuses an offset past the end', () => {
    const r = new Raw(64).cap(16, 1, 1, 60);
    expect(() => readCapChain(r.bytes, 16)).toThrow(RangeError);
    expect(() => readCapChain(r.bytes, 16)).toThrow(/offset 60 is past the end of the 64-byte buffer/);
    expect(() => readCapChain(r.bytes, 4096)).toThrow(/past the end/);
  });

  it('refuses an offset inside the fixed struct', () => {
    const r = new Raw(64).cap(32, 1, 1, 8);
    expect(() => readCapChain(r.bytes, 32, 32)).toThrow(/offset 8 points inside the 32-byte fixed struct/);
  });

  it('refuses a chain longer than the bound', () => {
    const n = MAX_CAP_CHAIN + 1;
    const r = new Raw(8 * (n + 1));
    for (let i = 1; i <= n; i++) r.cap(8 * i, 1, 1, i === n ? 0 : 8 * (i + 1));
    expect(() => readCapChain(r.bytes, 8)).toThrow(/longer than 64 entries/);
    // One fewer is fine.
    r.cap(8 * MAX_CAP_CHAIN, 1, 1, 0);
    expect(readCapChain(r.bytes, 8)).toHaveLength(MAX_CAP_CHAIN);
  });
});

describe('region info', () => {
  // Fixed part 32 bytes, then sparse mmap (16 + 2 * 16) at 32, MSI-X mappable at 80, type at 88.
  function regionReply(): Raw {
    return new Raw(104)
      .u32(0, 104)
      .u32(4, VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS)
      .u32(8, 0)
      .u32(12, 32)
      .u64(16, 0x4000n)
      .u64(24, 0n)
      .cap(32, VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, 80)
      .u32(40, 2)
      .u64(48, 0n)
      .u64(56, 0x1000n)
      .u64(64, 0x3000n)
      .u64(72, 0x1000n)
      .cap(80, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 1, 88)
      .cap(88, VFIO_REGION_INFO_CAP_TYPE, 1, 0)
      .u32(96, VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x8086)
      .u32(100, 1);
  }

  it('encodes the query with argsz and index', () => {
    const q = encodeRegionInfoQuery(VFIO_PCI_CONFIG_REGION_INDEX);
    expect(q.length).toBe(32);
    expect(u32At(q, 0)).toBe(32);
    expect(u32At(q, 8)).toBe(7);
    expect(encodeRegionInfoQuery(0, 256).length).toBe(256);
    expect(u32At(encodeRegionInfoQuery(0, 256), 0)).toBe(256);
    expect(() => encodeRegionInfoQuery(0, 16)).toThrow(RangeError);
  });

  it('decodes a sparse mmap cap with two areas, MSI-X mappable and a type cap', () => {
    const info = decodeRegionInfo(regionReply().bytes);
    expect(info).toEqual({
      argsz: 104,
      flags: VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS,
      index: 0,
      size: 0x4000n,
      offset: 0n,
      caps: {
        sparseMmap: [
          { offset: 0n, size: 0x1000n },
          { offset: 0x3000n, size: 0x1000n },
        ],
        msixMappable: true,
        type: { type: 0x80008086, subtype: 1 },
      },
    });
  });

  it('reports the needed argsz and skips caps when the buffer was too small', () => {
    const short = regionReply().bytes.slice(0, 32);
    const info = decodeRegionInfo(short);
    expect(info.argsz).toBe(104);
    expect(info.argsz).toBeGreaterThan(short.length);
    expect(info.caps).toEqual({ msixMappable: false });
  });

  it('decodes without caps when the flag is clear', () => {
    const r = regionReply().u32(4, VFIO_REGION_INFO_FLAG_READ);
    expect(decodeRegionInfo(r.bytes).caps).toEqual({ msixMappable: false });
  });

  it('refuses a sparse mmap cap whose areas overrun the buffer', () => {
    const r = regionReply().u32(40, 5);
    expect(() => decodeSparseMmapCap(r.bytes, 32)).toThrow(RangeError);
    expect(() => decodeRegionInfo(r.bytes)).toThrow(/5 areas/);
  });

  it('propagates a looped region chain as RangeError', () => {
    const r = regionReply().cap(88, VFIO_REGION_INFO_CAP_TYPE, 1, 32);
    expect(() => decodeRegionInfo(r.bytes)).toThrow(/loops back to offset 32/);
  });

  it('places region N at N << 40 in vfio-pci', () => {
    expect(vfioPciRegionOffset(7)).toBe(0x700_0000_0000n);
  });
});

describe('IOMMU info', () => {
  // Fixed 24 bytes; IOVA range cap (16 + 2 * 16) at 24; migration (32) at 72; DMA avail (12) at 104.
  function iommuReply(): Raw {
    return new Raw(120)
      .u32(0, 120)
      .u32(4, VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS)
      .u64(8, 0x40201000n)
      .u32(16, 24)
      .cap(24, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 1, 72)
      .u32(32, 2)
      .u64(40, 0n)
      .u64(48, 0xfedf_ffffn)
      .u64(56, 0xfef0_0000n)
      .u64(64, 0xffff_ffff_ffffn)
      .cap(72, VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION, 1, 104)
      .u32(80, 0)
      .u64(88, 0x1000n)
      .u64(96, 0x1000_0000n)
      .cap(104, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, 0)
      .u32(112, 65535);
  }

  it('encodes the query', () => {
    const q = encodeIommuInfoQuery();
    expect(q.length).toBe(24);
    expect(u32At(q, 0)).toBe(24);
    expect(() => encodeIommuInfoQuery(20)).toThrow(RangeError);
  });

  it('decodes page sizes, two IOVA ranges, migration and DMA avail', () => {
    expect(decodeIommuInfo(iommuReply().bytes)).toEqual({
      argsz: 120,
      flags: VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS,
      pgsizes: 0x40201000n,
      iovaRanges: [
        { start: 0n, end: 0xfedf_ffffn },
        { start: 0xfef0_0000n, end: 0xffff_ffff_ffffn },
      ],
      migration: { flags: 0, pgsizeBitmap: 0x1000n, maxDirtyBitmapSize: 0x1000_0000n },
      dmaAvail: 65535,
    });
  });

  it('omits pgsizes when the flag says they are not valid, and caps when truncated', () => {
    const r = iommuReply().u32(4, VFIO_IOMMU_INFO_CAPS);
    const info = decodeIommuInfo(r.bytes.slice(0, 24));
    expect(info).toEqual({ argsz: 120, flags: VFIO_IOMMU_INFO_CAPS });
  });

  it('refuses a chain pointing past the end', () => {
    const r = iommuReply().cap(104, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, 1, 200);
    expect(() => decodeIommuInfo(r.bytes)).toThrow(/offset 200 is past the end/);
  });

  it('encodes DMA map with READ|WRITE by default', () => {
    const b = encodeDmaMap({ vaddr: 0x7f00_0000_0000n, iova: 0x1_0000_0000, size: 0x20_0000 });
    const v = new DataView(b.buffer);
    expect(b.length).toBe(32);
    expect(v.getUint32(0, true)).toBe(32);
    expect(v.getUint32(4, true)).toBe(3);
    expect(v.getBigUint64(8, true)).toBe(0x7f00_0000_0000n);
    expect(v.getBigUint64(16, true)).toBe(0x1_0000_0000n);
    expect(v.getBigUint64(24, true)).toBe(0x20_0000n);
    expect(u32At(encodeDmaMap({ vaddr: 0, iova: 0, size: 1, flags: VFIO_DMA_MAP_FLAG_READ }), 4)).toBe(1);
    expect(() => encodeDmaMap({ vaddr: -1, iova: 0, size: 1 })).toThrow(/vfio_iommu_type1_dma_map\.vaddr/);
  });

  it('round-trips DMA unmap, including the size the kernel writes back', () => {
    const b = encodeDmaUnmap({ iova: 0, size: 0, flags: VFIO_DMA_UNMAP_FLAG_ALL });
    expect(b.length).toBe(24);
    expect(u32At(b, 0)).toBe(24);
    new DataView(b.buffer).setBigUint64(16, 0x40_0000n, true);
    expect(decodeDmaUnmap(b)).toEqual({ flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: 0n, size: 0x40_0000n });
  });
});

describe('irq_set', () => {
  it('encodes eventfds including -1', () => {
    const b = encodeIrqSet({
      index: VFIO_PCI_MSIX_IRQ_INDEX,
      start: 1,
      action: VFIO_IRQ_SET_ACTION_TRIGGER,
      data: Int32Array.of(7, -1, 9),
    });
    expect(b.length).toBe(32);
    expect(Array.from(new Uint32Array(b.buffer, 0, 5))).toEqual([
      32,
      VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
      VFIO_PCI_MSIX_IRQ_INDEX,
      1,
      3,
    ]);
    expect(Array.from(b.subarray(20))).toEqual([7, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 9, 0, 0, 0]);
    const d = decodeIrqSet(b);
    expect(d.data).toEqual(Int32Array.of(7, -1, 9));
    expect(d).toMatchObject({ index: VFIO_PCI_MSIX_IRQ_INDEX, start: 1, count: 3 });
  });

  it('encodes booleans as bytes', () => {
    const b = encodeIrqSet({ index: 0, action: VFIO_IRQ_SET_ACTION_MASK, data: [true, false, true] });
    expect(b.length).toBe(23);
    expect(u32At(b, 4)).toBe(VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK);
    expect(Array.from(b.subarray(20))).toEqual([1, 0, 1]);
    expect(decodeIrqSet(b).data).toEqual([true, false, true]);
  });

  it('encodes DATA_NONE with an explicit count (0 tears the index down)', () => {
    const off = encodeIrqSet({ index: 2, action: VFIO_IRQ_SET_ACTION_TRIGGER });
    expect(off.length).toBe(20);
    expect(decodeIrqSet(off)).toEqual({
      flags: VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
      index: 2,
      start: 0,
      count: 0,
      data: undefined,
    });
    expect(u32At(encodeIrqSet({ index: 0, action: VFIO_IRQ_SET_ACTION_UNMASK, count: 1 }), 16)).toBe(1);
  });

  it('refuses bad requests', () => {
    expect(() => encodeIrqSet({ index: 0, action: VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK })).toThrow(
      /not exactly one/,
    );
    expect(() => encodeIrqSet({ index: 0, action: VFIO_IRQ_SET_ACTION_TRIGGER, data: Int32Array.of(3, -2) })).toThrow(
      /data\[1\]/,
    );
    expect(() =>
      encodeIrqSet({ index: 0, action: VFIO_IRQ_SET_ACTION_TRIGGER, data: Int32Array.of(3), count: 2 }),
    ).toThrow(/count 2 disagrees/);
  });

  it('refuses to decode data that overruns the buffer', () => {
    const b = encodeIrqSet({ index: 0, action: VFIO_IRQ_SET_ACTION_TRIGGER, data: Int32Array.of(5, 6) });
    expect(() => decodeIrqSet(b.subarray(0, 24))).toThrow(/2 eventfds overrun/);
  });

  it('encodes the irq info query and decodes the reply', () => {
    const q = encodeIrqInfoQuery(VFIO_PCI_MSIX_IRQ_INDEX);
    expect(Array.from(new Uint32Array(q.buffer))).toEqual([16, 0, 2, 0]);
    const reply = new Raw(16).u32(0, 16).u32(4, VFIO_IRQ_INFO_EVENTFD).u32(8, 2).u32(12, 2048);
    expect(decodeIrqInfo(reply.bytes)).toEqual({ flags: VFIO_IRQ_INFO_EVENTFD, index: 2, count: 2048 });
  });
});

describe('group and device info', () => {
  it('group status', () => {
    expect(Array.from(encodeGroupStatusQuery())).toEqual([8, 0, 0, 0, 0, 0, 0, 0]);
    expect(decodeGroupStatus(new Raw(8).u32(0, 8).u32(4, VFIO_GROUP_FLAGS_VIABLE).bytes)).toEqual({
      flags: 1,
      viable: true,
      containerSet: false,
    });
  });

  it('device info with a cap chain', () => {
    expect(u32At(encodeDeviceInfoQuery(), 0)).toBe(20);
    const flags = VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_CAPS;
    const r = new Raw(32).u32(0, 32).u32(4, flags).u32(8, 9).u32(12, 5).u32(16, 24).cap(24, 1, 1, 0);
    expect(decodeDeviceInfo(r.bytes)).toEqual({
      argsz: 32,
      flags,
      numRegions: 9,
      numIrqs: 5,
      caps: [{ id: 1, version: 1, offset: 24 }],
    });
    expect(decodeDeviceInfo(r.bytes.slice(0, 20)).caps).toEqual([]);
  });
});

describe('PCI hot reset', () => {
  function reply(size: number): Raw {
    return new Raw(size)
      .u32(0, size)
      .u32(8, 2)
      .u32(12, 14)
      .u16(16, 0)
      .u32(20, 15)
      .u16(24, 1);
  }

  it('decodes the dependent device list', () => {
    const r = reply(28);
    r.bytes[18] = 0x03;
    r.bytes[19] = (2 << 3) | 1;
    r.bytes[26] = 0x81;
    r.bytes[27] = 0;
    expect(decodeHotResetInfo(r.bytes)).toEqual({
      argsz: 28,
      flags: 0,
      count: 2,
      devices: [
        { groupId: 14, segment: 0, bus: 3, devfn: 0x11 },
        { groupId: 15, segment: 1, bus: 0x81, devfn: 0 },
      ],
    });
  });

  it('reports the size to retry with when the kernel said ENOSPC', () => {
    const info = decodeHotResetInfo(reply(28).bytes.slice(0, 12));
    expect(info).toEqual({ argsz: 28, flags: 0, count: 2, devices: [] });
    expect(u32At(encodeHotResetInfoQuery(), 0)).toBe(12);
    expect(encodeHotResetInfoQuery(28).length).toBe(28);
  });

  it('encodes the group fd list', () => {
    const b = encodeHotReset([5, 6]);
    expect(Array.from(new Int32Array(b.buffer))).toEqual([20, 0, 2, 5, 6]);
    expect(() => encodeHotReset([-1])).toThrow(/group_fds\[0\]/);
  });
});
