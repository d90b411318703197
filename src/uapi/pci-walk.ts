// Capability list walkers that survive hostile or absent config space.
//
// Config space of a device that fell off the bus reads as all ones, and a
// buggy or malicious device can point its list anywhere, including at
// itself. Each walk therefore stops (never throws) on a bad pointer or a
// revisited offset, and is capped by the number of slots that could exist.

import {
  PCI_CAPABILITY_LIST,
  PCI_CFG_SPACE_EXP_SIZE,
  PCI_CFG_SPACE_SIZE,
  PCI_STATUS,
  PCI_STATUS_CAP_LIST,
  PCI_STD_HEADER_SIZEOF,
} from './pci-regs.js';

/** Reads `width` bytes of config space at `offset`, little-endian. */
export type ConfigRead = (offset: number, width: 1 | 2 | 4) => number;

/** A standard PCI capability found in config space. */
export interface PciCapRef {
  /** The capability ID (PCI_CAP_ID_*). */
  readonly id: number;
  /** Where it starts in config space. */
  readonly offset: number;
}

/** A PCIe extended capability found in config space. */
export interface PciExtCapRef {
  /** The capability ID (PCI_EXT_CAP_ID_*). */
  readonly id: number;
  /** The capability's version. */
  readonly version: number;
  /** Where it starts in config space (0x100 or above). */
  readonly offset: number;
}

// A capability cannot overlap the standard header, and each one takes at
// least a dword, which bounds how many distinct entries can exist.
const STD_CAP_MIN = PCI_STD_HEADER_SIZEOF;
const STD_CAP_MAX_ENTRIES = (PCI_CFG_SPACE_SIZE - STD_CAP_MIN) / 4;
const EXT_CAP_MIN = PCI_CFG_SPACE_SIZE;
const EXT_CAP_MAX_ENTRIES = (PCI_CFG_SPACE_EXP_SIZE - EXT_CAP_MIN) / 4;

/**
 * The standard capability list, in list order. Stops (never throws) at a bad pointer, a
 * loop, an absent device (all ones), or when no more entries could fit.
 */
export function walkCapabilities(read: ConfigRead): PciCapRef[] {
  const out: PciCapRef[] = [];
  if ((read(PCI_STATUS, 2) & PCI_STATUS_CAP_LIST) === 0) return out;
  const seen = new Set<number>();
  let pos = read(PCI_CAPABILITY_LIST, 1) & 0xfc;
  while (pos >= STD_CAP_MIN && !seen.has(pos) && out.length < STD_CAP_MAX_ENTRIES) {
    seen.add(pos);
    const hdr = read(pos, 2) & 0xffff;
    const id = hdr & 0xff;
    // 0xff is what an absent device returns; no capability has that id.
    if (id === 0xff) break;
    out.push({ id, offset: pos });
    pos = (hdr >> 8) & 0xfc;
  }
  return out;
}

/** The PCIe extended capability list from 0x100, in list order; stops as walkCapabilities does. */
export function walkExtendedCapabilities(read: ConfigRead): PciExtCapRef[] {
  const out: PciExtCapRef[] = [];
  const seen = new Set<number>();
  let pos = EXT_CAP_MIN;
  while (pos >= EXT_CAP_MIN && !seen.has(pos) && out.length < EXT_CAP_MAX_ENTRIES) {
    seen.add(pos);
    const hdr = read(pos, 4) >>> 0;
    // All zeros: no extended capabilities (conventional PCI, or a PCIe
    // function that has none). All ones: the read failed.
    if (hdr === 0 || hdr === 0xffffffff) break;
    out.push({ id: hdr & 0xffff, version: (hdr >>> 16) & 0xf, offset: pos });
    pos = (hdr >>> 20) & 0xffc;
  }
  return out;
}

/** The config offset of the first standard capability with this ID, or undefined. */
export function findCapability(read: ConfigRead, id: number): number | undefined {
  return walkCapabilities(read).find((c) => c.id === id)?.offset;
}

/** The config offset of the first extended capability with this ID, or undefined. */
export function findExtendedCapability(read: ConfigRead, id: number): number | undefined {
  return walkExtendedCapabilities(read).find((c) => c.id === id)?.offset;
}

/** A ConfigRead over a captured config space image (e.g. a sysfs `config` file); reads past the end return all ones. */
export function configReaderFor(bytes: Uint8Array): ConfigRead {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return (offset, width) => {
    if (!Number.isInteger(offset) || offset < 0 || offset + width > bytes.length) {
      return width === 1 ? 0xff : width === 2 ? 0xffff : 0xffffffff;
    }
    if (width === 1) return view.getUint8(offset);
    return width === 2 ? view.getUint16(offset, true) : view.getUint32(offset, true);
  };
}
