// VFIO_DEVICE_GET_REGION_INFO and its capabilities.

import { assertCapFits, readCapChain, VFIO_INFO_CAP_HEADER_FIELDS } from './caps.js';
import { defineStruct } from './struct.js';

export const VFIO_REGION_INFO_FLAG_READ = 1 << 0;
export const VFIO_REGION_INFO_FLAG_WRITE = 1 << 1;
export const VFIO_REGION_INFO_FLAG_MMAP = 1 << 2;
export const VFIO_REGION_INFO_FLAG_CAPS = 1 << 3;

export const VFIO_REGION_INFO_CAP_SPARSE_MMAP = 1;
export const VFIO_REGION_INFO_CAP_TYPE = 2;
/** Header-only: the MSI-X table may be mmapped even though it sits inside a mappable BAR. */
export const VFIO_REGION_INFO_CAP_MSIX_MAPPABLE = 3;

// Region types (the `type` word of the TYPE cap). A PCI vendor type carries
// the vendor id in its low 16 bits, with subtypes private to that vendor.
export const VFIO_REGION_TYPE_PCI_VENDOR_TYPE = 0x80000000;
export const VFIO_REGION_TYPE_PCI_VENDOR_MASK = 0xffff;
export const VFIO_REGION_TYPE_GFX = 1;
export const VFIO_REGION_TYPE_CCW = 2;
export const VFIO_REGION_TYPE_MIGRATION_DEPRECATED = 3;
export const VFIO_REGION_SUBTYPE_INTEL_IGD_OPREGION = 1;
export const VFIO_REGION_SUBTYPE_INTEL_IGD_HOST_CFG = 2;
export const VFIO_REGION_SUBTYPE_INTEL_IGD_LPC_CFG = 3;
export const VFIO_REGION_SUBTYPE_GFX_EDID = 1;

export const vfioRegionInfo = defineStruct('vfio_region_info', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['index', 'u32'],
  ['cap_offset', 'u32'],
  ['size', 'u64'],
  ['offset', 'u64'],
]);

export const vfioRegionSparseMmapArea = defineStruct('vfio_region_sparse_mmap_area', [
  ['offset', 'u64'],
  ['size', 'u64'],
]);

/** Followed by nr_areas vfio_region_sparse_mmap_area entries. */
export const vfioRegionInfoCapSparseMmap = defineStruct('vfio_region_info_cap_sparse_mmap', [
  ...VFIO_INFO_CAP_HEADER_FIELDS,
  ['nr_areas', 'u32'],
  ['reserved', 'u32'],
]);

export const vfioRegionInfoCapType = defineStruct('vfio_region_info_cap_type', [
  ...VFIO_INFO_CAP_HEADER_FIELDS,
  ['type', 'u32'],
  ['subtype', 'u32'],
]);

/** One mmappable area of a region (struct vfio_region_sparse_mmap_area). */
export interface RegionArea {
  /** Byte offset from the start of the region. */
  readonly offset: bigint;
  /** Bytes. */
  readonly size: bigint;
}

/** A device-specific region's type (VFIO_REGION_INFO_CAP_TYPE). */
export interface RegionType {
  /** VFIO_REGION_TYPE_*, or VFIO_REGION_TYPE_PCI_VENDOR_TYPE | vendor ID. */
  readonly type: number;
  /** VFIO_REGION_SUBTYPE_*, meaningful within `type`. */
  readonly subtype: number;
}

/**
 * The areas of a VFIO_REGION_INFO_CAP_SPARSE_MMAP capability; `capOffset` is where the
 * capability header starts. A RangeError when the areas run past the buffer.
 */
export function decodeSparseMmapCap(bytes: Uint8Array, capOffset: number): RegionArea[] {
  const cap = vfioRegionInfoCapSparseMmap.decode(bytes, capOffset);
  const first = capOffset + vfioRegionInfoCapSparseMmap.size;
  assertCapFits(bytes, `sparse mmap capability with ${cap.nr_areas} areas`, capOffset,
    vfioRegionInfoCapSparseMmap.size + cap.nr_areas * vfioRegionSparseMmapArea.size);
  const areas: RegionArea[] = [];
  for (let i = 0; i < cap.nr_areas; i++) {
    const a = vfioRegionSparseMmapArea.decode(bytes, first + i * vfioRegionSparseMmapArea.size);
    areas.push({ offset: a.offset, size: a.size });
  }
  return areas;
}

/** A VFIO_REGION_INFO_CAP_TYPE capability whose header starts at `capOffset`. */
export function decodeRegionTypeCap(bytes: Uint8Array, capOffset: number): RegionType {
  const { type, subtype } = vfioRegionInfoCapType.decode(bytes, capOffset);
  return { type, subtype };
}

/**
 * A bigger `argsz` lets the kernel append caps in one go; the default asks
 * for the fixed part only and learns the real size from the reply. The VFIO_DEVICE_GET_REGION_INFO
 * argument for region `index`; a RangeError when `argsz` is below the fixed struct's size.
 */
export function encodeRegionInfoQuery(index: number, argsz: number = vfioRegionInfo.size): Uint8Array {
  if (argsz < vfioRegionInfo.size) throw new RangeError(`vfio_region_info: argsz ${argsz} < ${vfioRegionInfo.size}`);
  return vfioRegionInfo.encode({ argsz, index }, { bytes: new Uint8Array(argsz) });
}

/** VFIO_DEVICE_GET_REGION_INFO, decoded, with the capabilities the library understands. */
export interface RegionInfo {
  /** Bytes the kernel needs; larger than the buffer means retry with this size to see the caps. */
  readonly argsz: number;
  /** VFIO_REGION_INFO_FLAG_* bits: READ, WRITE, MMAP, CAPS. */
  readonly flags: number;
  /** The region index asked about. */
  readonly index: number;
  /** Bytes; 0 when the device does not implement the region. */
  readonly size: bigint;
  /** Where the region lives in the device fd's offset space. */
  readonly offset: bigint;
  /** The capability chain, decoded (empty when the reply did not fit the buffer: see `argsz`). */
  readonly caps: {
    /** VFIO_REGION_INFO_CAP_SPARSE_MMAP: only these areas may be mmapped. */
    readonly sparseMmap?: readonly RegionArea[];
    /** VFIO_REGION_INFO_CAP_TYPE: a device-specific region's type. */
    readonly type?: RegionType;
    /** VFIO_REGION_INFO_CAP_MSIX_MAPPABLE: the MSI-X table may be mmapped too. */
    readonly msixMappable: boolean;
  };
}

/** Decodes the VFIO_DEVICE_GET_REGION_INFO argument after the ioctl, capabilities included when they fit. */
export function decodeRegionInfo(bytes: Uint8Array): RegionInfo {
  const r = vfioRegionInfo.decode(bytes);
  let sparseMmap: RegionArea[] | undefined;
  let type: RegionType | undefined;
  let msixMappable = false;
  // A short buffer still comes back with CAPS set, but the chain was not written.
  if ((r.flags & VFIO_REGION_INFO_FLAG_CAPS) !== 0 && r.argsz <= bytes.length) {
    for (const cap of readCapChain(bytes, r.cap_offset, vfioRegionInfo.size)) {
      if (cap.id === VFIO_REGION_INFO_CAP_SPARSE_MMAP) sparseMmap = decodeSparseMmapCap(bytes, cap.offset);
      else if (cap.id === VFIO_REGION_INFO_CAP_TYPE) type = decodeRegionTypeCap(bytes, cap.offset);
      else if (cap.id === VFIO_REGION_INFO_CAP_MSIX_MAPPABLE) msixMappable = true;
    }
  }
  const caps = { msixMappable, ...(sparseMmap && { sparseMmap }), ...(type && { type }) };
  return { argsz: r.argsz, flags: r.flags, index: r.index, size: r.size, offset: r.offset, caps };
}
