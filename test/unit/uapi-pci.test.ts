import { describe, expect, it } from 'vitest';
import {
  configReaderFor,
  findCapability,
  findExtendedCapability,
  PCI_CAP_ID_EXP,
  PCI_CAP_ID_MSI,
  PCI_CAP_ID_MSIX,
  PCI_CAP_ID_PM,
  PCI_CAPABILITY_LIST,
  PCI_EXT_CAP_ID_ERR,
  PCI_EXT_CAP_ID_SRIOV,
  PCI_MSI_FLAGS,
  PCI_MSI_FLAGS_64BIT,
  PCI_MSI_FLAGS_MASKBIT,
  PCI_MSI_FLAGS_QMASK,
  PCI_MSI_MASK_64,
  PCI_MSIX_FLAGS,
  PCI_MSIX_FLAGS_QSIZE,
  PCI_MSIX_PBA,
  PCI_MSIX_PBA_BIR,
  PCI_MSIX_PBA_OFFSET,
  PCI_MSIX_TABLE,
  PCI_MSIX_TABLE_BIR,
  PCI_MSIX_TABLE_OFFSET,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  pciBarOffset,
  pciClassName,
  pciDevfn,
  pciExtCapId,
  pciExtCapNext,
  pciExtCapVersion,
  pciFunc,
  pciSlot,
  walkCapabilities,
  walkExtendedCapabilities,
  type ConfigRead,
} from '../../src/uapi/index.js';

class Config {
  readonly bytes = new Uint8Array(4096);
  readonly #v = new DataView(this.bytes.buffer);
  u8(off: number, v: number): this {
    this.#v.setUint8(off, v);
    return this;
  }
  u16(off: number, v: number): this {
    this.#v.setUint16(off, v, true);
    return this;
  }
  u32(off: number, v: number): this {
    this.#v.setUint32(off, v >>> 0, true);
    return this;
  }
  cap(off: number, id: number, next: number): this {
    return this.u8(off, id).u8(off + 1, next);
  }
  ext(off: number, id: number, version: number, next: number): this {
    return this.u32(off, id | (version << 16) | (next << 20));
  }
  get read(): ConfigRead {
    return configReaderFor(this.bytes);
  }
}

// An Intel-NIC-like function: PM at 0x40, MSI (64-bit, maskable, 8 vectors)
// at 0x50, MSI-X (64 entries, table in BAR3 at 0, PBA in BAR3 at 0x2000) at
// 0x70, PCIe at 0xa0; AER at 0x100 and SR-IOV at 0x150.
function nic(): Config {
  return new Config()
    .u16(0, 0x8086)
    .u16(2, 0x10fb)
    .u16(PCI_STATUS, PCI_STATUS_CAP_LIST)
    .u8(PCI_CAPABILITY_LIST, 0x40)
    .cap(0x40, PCI_CAP_ID_PM, 0x50)
    .cap(0x50, PCI_CAP_ID_MSI, 0x70)
    .u16(0x50 + PCI_MSI_FLAGS, PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT | (3 << 1))
    .cap(0x70, PCI_CAP_ID_MSIX, 0xa0)
    .u16(0x70 + PCI_MSIX_FLAGS, 63)
    .u32(0x70 + PCI_MSIX_TABLE, 0x0000 | 3)
    .u32(0x70 + PCI_MSIX_PBA, 0x2000 | 3)
    .cap(0xa0, PCI_CAP_ID_EXP, 0)
    .ext(0x100, PCI_EXT_CAP_ID_ERR, 2, 0x150)
    .ext(0x150, PCI_EXT_CAP_ID_SRIOV, 1, 0);
}

describe('walkCapabilities', () => {
  it('lists PM, MSI, MSI-X and PCIe in chain order', () => {
    expect(walkCapabilities(nic().read)).toEqual([
      { id: PCI_CAP_ID_PM, offset: 0x40 },
      { id: PCI_CAP_ID_MSI, offset: 0x50 },
      { id: PCI_CAP_ID_MSIX, offset: 0x70 },
      { id: PCI_CAP_ID_EXP, offset: 0xa0 },
    ]);
  });

  it('lets the MSI and MSI-X registers be read through the constants', () => {
    const read = nic().read;
    const msi = findCapability(read, PCI_CAP_ID_MSI) ?? -1;
    const msiFlags = read(msi + PCI_MSI_FLAGS, 2);
    expect(msiFlags & PCI_MSI_FLAGS_64BIT).not.toBe(0);
    expect(1 << ((msiFlags & PCI_MSI_FLAGS_QMASK) >> 1)).toBe(8);
    expect(msi + PCI_MSI_MASK_64).toBe(0x60);

    const msix = findCapability(read, PCI_CAP_ID_MSIX) ?? -1;
    expect((read(msix + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE) + 1).toBe(64);
    const table = read(msix + PCI_MSIX_TABLE, 4);
    const pba = read(msix + PCI_MSIX_PBA, 4);
    expect([table & PCI_MSIX_TABLE_BIR, (table & PCI_MSIX_TABLE_OFFSET) >>> 0]).toEqual([3, 0]);
    expect([pba & PCI_MSIX_PBA_BIR, (pba & PCI_MSIX_PBA_OFFSET) >>> 0]).toEqual([3, 0x2000]);
  });

  it('masks the low two bits of pointers', () => {
    const c = nic().u8(PCI_CAPABILITY_LIST, 0x43).cap(0x40, PCI_CAP_ID_PM, 0x52);
    expect(walkCapabilities(c.read).map((x) => x.offset)).toEqual([0x40, 0x50, 0x70, 0xa0]);
  });

  it('stops at a loop', () => {
    const c = nic().cap(0x70, PCI_CAP_ID_MSIX, 0x50);
    expect(walkCapabilities(c.read).map((x) => x.offset)).toEqual([0x40, 0x50, 0x70]);
  });

  it('stops at a pointer into the standard header', () => {
    const c = nic().cap(0x50, PCI_CAP_ID_MSI, 0x3c);
    expect(walkCapabilities(c.read).map((x) => x.id)).toEqual([PCI_CAP_ID_PM, PCI_CAP_ID_MSI]);
  });

  it('returns nothing when the status register says there is no list', () => {
    expect(walkCapabilities(nic().u16(PCI_STATUS, 0).read)).toEqual([]);
  });

  it('terminates on all-ones config space with no entries', () => {
    const ones = new Uint8Array(4096).fill(0xff);
    expect(walkCapabilities(configReaderFor(ones))).toEqual([]);
    expect(walkExtendedCapabilities(configReaderFor(ones))).toEqual([]);
  });

  it('terminates and stays in bounds on arbitrary config space', () => {
    let seed = 0x12345678;
    const rand = (): number => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return seed >>> 0;
    };
    let total = 0;
    for (let n = 0; n < 300; n++) {
      const c = new Config();
      for (let i = 0; i < 4096; i += 4) c.u32(i, rand());
      const std = walkCapabilities(c.read);
      const ext = walkExtendedCapabilities(c.read);
      expect(std.length).toBeLessThanOrEqual(48);
      expect(ext.length).toBeLessThanOrEqual(960);
      for (const cap of std) expect(cap.offset >= 0x40 && cap.offset <= 0xfc && cap.offset % 4 === 0).toBe(true);
      for (const cap of ext) expect(cap.offset >= 0x100 && cap.offset <= 0xffc && cap.offset % 4 === 0).toBe(true);
      expect(new Set(std.map((x) => x.offset)).size).toBe(std.length);
      expect(new Set(ext.map((x) => x.offset)).size).toBe(ext.length);
      total += std.length + ext.length;
    }
    expect(total).toBeGreaterThan(0);
  });

  it('copes with a reader returning out-of-range garbage', () => {
    const garbage: ConfigRead = (off) => (off === 0x34 ? 0x1_0040 : off === 0x06 ? -1 : Number.NaN);
    expect(walkCapabilities(garbage)).toEqual([{ id: 0, offset: 0x40 }]);
    expect(walkExtendedCapabilities(() => -1)).toEqual([]);
  });
});

describe('walkExtendedCapabilities', () => {
  it('lists AER and SR-IOV with versions', () => {
    expect(walkExtendedCapabilities(nic().read)).toEqual([
      { id: PCI_EXT_CAP_ID_ERR, version: 2, offset: 0x100 },
      { id: PCI_EXT_CAP_ID_SRIOV, version: 1, offset: 0x150 },
    ]);
    expect(findExtendedCapability(nic().read, PCI_EXT_CAP_ID_SRIOV)).toBe(0x150);
    expect(findExtendedCapability(nic().read, 0x0d)).toBeUndefined();
  });

  it('returns nothing for conventional PCI (256-byte space or zero header)', () => {
    expect(walkExtendedCapabilities(configReaderFor(nic().bytes.slice(0, 256)))).toEqual([]);
    expect(walkExtendedCapabilities(nic().u32(0x100, 0).read)).toEqual([]);
  });

  it('stops at a loop and at a pointer below 0x100', () => {
    expect(walkExtendedCapabilities(nic().ext(0x150, PCI_EXT_CAP_ID_SRIOV, 1, 0x100).read)).toHaveLength(2);
    expect(walkExtendedCapabilities(nic().ext(0x150, PCI_EXT_CAP_ID_SRIOV, 1, 0x150).read)).toHaveLength(2);
    expect(walkExtendedCapabilities(nic().ext(0x100, PCI_EXT_CAP_ID_ERR, 2, 0x0c0).read)).toHaveLength(1);
  });

  it('splits the header word', () => {
    const h = 0x15020001;
    expect([pciExtCapId(h), pciExtCapVersion(h), pciExtCapNext(h)]).toEqual([1, 2, 0x150]);
    expect(pciExtCapNext(0xffffffff)).toBe(0xffc);
  });
});

describe('config helpers', () => {
  it('configReaderFor reads little-endian and returns ones past the end', () => {
    const read = nic().read;
    expect(read(0, 2)).toBe(0x8086);
    expect(read(0, 4)).toBe(0x10fb8086);
    expect(read(4095, 2)).toBe(0xffff);
    expect(read(4096, 4)).toBe(0xffffffff);
  });

  it('BAR offsets', () => {
    expect([0, 1, 2, 3, 4, 5].map(pciBarOffset)).toEqual([0x10, 0x14, 0x18, 0x1c, 0x20, 0x24]);
    expect(() => pciBarOffset(6)).toThrow(RangeError);
  });

  it('devfn packing', () => {
    expect(pciDevfn(0x1f, 7)).toBe(0xff);
    expect([pciSlot(0x11), pciFunc(0x11)]).toEqual([2, 1]);
  });

  it.each([
    [0x020000, 'Ethernet controller'],
    [0x010802, 'NVMe controller'],
    [0x010800, 'Non-volatile memory controller'],
    [0x030000, 'VGA compatible controller'],
    [0x030200, '3D controller'],
    [0x0c0330, 'USB controller (xHCI)'],
    [0x120000, 'Processing accelerator'],
    [0x0580ff, 'Memory controller'],
    [0xfe0000, 'Class fe0000'],
  ])('class %s is %s', (code, name) => {
    expect(pciClassName(code)).toBe(name);
  });
});
