// Type1 IOMMU container ioctls: GET_INFO, MAP_DMA, UNMAP_DMA.

import { assertCapFits, readCapChain, VFIO_INFO_CAP_HEADER_FIELDS } from './caps.js';
import { defineStruct } from './struct.js';

export const VFIO_IOMMU_INFO_PGSIZES = 1 << 0;
export const VFIO_IOMMU_INFO_CAPS = 1 << 1;

export const VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE = 1;
export const VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION = 2;
export const VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL = 3;

export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
/** Re-point an existing mapping at a new process address (live update); the IOVA side is untouched. */
export const VFIO_DMA_MAP_FLAG_VADDR = 1 << 2;

export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0;
/** iova and size must be 0: everything in the container goes. */
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;
/** Invalidate only the process address, keeping the IOVA mapping live until a VADDR map restores it. */
export const VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2;

// cap_offset follows a u64, so the struct has 4 bytes of tail padding (24,
// not 20). The kernel only requires argsz to reach the end of cap_offset.
export const vfioIommuType1Info = defineStruct('vfio_iommu_type1_info', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['iova_pgsizes', 'u64'],
  ['cap_offset', 'u32'],
]);

export const vfioIovaRange = defineStruct('vfio_iova_range', [
  ['start', 'u64'],
  ['end', 'u64'],
]);

/** Followed by nr_iovas vfio_iova_range entries. */
export const vfioIommuType1InfoCapIovaRange = defineStruct('vfio_iommu_type1_info_cap_iova_range', [
  ...VFIO_INFO_CAP_HEADER_FIELDS,
  ['nr_iovas', 'u32'],
  ['reserved', 'u32'],
]);

// flags is followed by 4 bytes of implicit padding before the u64s.
export const vfioIommuType1InfoCapMigration = defineStruct('vfio_iommu_type1_info_cap_migration', [
  ...VFIO_INFO_CAP_HEADER_FIELDS,
  ['flags', 'u32'],
  ['pgsize_bitmap', 'u64'],
  ['max_dirty_bitmap_size', 'u64'],
]);

export const vfioIommuType1InfoDmaAvail = defineStruct('vfio_iommu_type1_info_dma_avail', [
  ...VFIO_INFO_CAP_HEADER_FIELDS,
  ['avail', 'u32'],
]);

export const vfioIommuType1DmaMap = defineStruct('vfio_iommu_type1_dma_map', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['vaddr', 'u64'],
  ['iova', 'u64'],
  ['size', 'u64'],
]);

/** With GET_DIRTY_BITMAP a struct vfio_bitmap follows; that path is not modelled here. */
export const vfioIommuType1DmaUnmap = defineStruct('vfio_iommu_type1_dma_unmap', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['iova', 'u64'],
  ['size', 'u64'],
]);

/** A range of IOVAs the IOMMU accepts mappings in (struct vfio_iova_range). */
export interface IovaRange {
  /** First IOVA (inclusive). */
  readonly start: bigint;
  /** Inclusive. */
  readonly end: bigint;
}

/** VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION: dirty page tracking for live migration. */
export interface IommuMigrationCap {
  /** The capability's flags (VFIO_IOMMU_DIRTY_PAGES supported bits). */
  readonly flags: number;
  /** Page sizes dirty tracking works in (a bitmap, like `pgsizes`). */
  readonly pgsizeBitmap: bigint;
  /** Largest dirty bitmap the kernel returns, in bytes. */
  readonly maxDirtyBitmapSize: bigint;
}

/** The ranges of a VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE capability at `capOffset`; a RangeError when they run past the buffer. */
export function decodeIovaRangeCap(bytes: Uint8Array, capOffset: number): IovaRange[] {
  const cap = vfioIommuType1InfoCapIovaRange.decode(bytes, capOffset);
  const first = capOffset + vfioIommuType1InfoCapIovaRange.size;
  assertCapFits(bytes, `IOVA range capability with ${cap.nr_iovas} ranges`, capOffset,
    vfioIommuType1InfoCapIovaRange.size + cap.nr_iovas * vfioIovaRange.size);
  const ranges: IovaRange[] = [];
  for (let i = 0; i < cap.nr_iovas; i++) {
    const r = vfioIovaRange.decode(bytes, first + i * vfioIovaRange.size);
    ranges.push({ start: r.start, end: r.end });
  }
  return ranges;
}

/** A VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION capability at `capOffset`. */
export function decodeIommuMigrationCap(bytes: Uint8Array, capOffset: number): IommuMigrationCap {
  const m = vfioIommuType1InfoCapMigration.decode(bytes, capOffset);
  return { flags: m.flags, pgsizeBitmap: m.pgsize_bitmap, maxDirtyBitmapSize: m.max_dirty_bitmap_size };
}

/** A VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL capability at `capOffset`: how many more mappings the container takes. */
export function decodeDmaAvailCap(bytes: Uint8Array, capOffset: number): number {
  return vfioIommuType1InfoDmaAvail.decode(bytes, capOffset).avail;
}

/**
 * The VFIO_IOMMU_GET_INFO argument: `argsz` bytes (room for the capabilities), argsz set. A
 * RangeError when `argsz` is below the fixed struct's size.
 */
export function encodeIommuInfoQuery(argsz: number = vfioIommuType1Info.size): Uint8Array {
  if (argsz < vfioIommuType1Info.size) {
    throw new RangeError(`vfio_iommu_type1_info: argsz ${argsz} < ${vfioIommuType1Info.size}`);
  }
  return vfioIommuType1Info.encode({ argsz }, { bytes: new Uint8Array(argsz) });
}

/** VFIO_IOMMU_GET_INFO (type1), decoded with its capabilities. */
export interface IommuInfo {
  /** Bytes the kernel needs; larger than the buffer means retry with this size to see the caps. */
  readonly argsz: number;
  /** VFIO_IOMMU_INFO_* bits: PGSIZES, CAPS. */
  readonly flags: number;
  /** Bitmap of supported IOMMU page sizes; absent when the kernel did not report it. */
  readonly pgsizes?: bigint;
  /** Where mappings may go (VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE); absent when not reported. */
  readonly iovaRanges?: readonly IovaRange[];
  /** How many more DMA mappings the container will accept. */
  readonly dmaAvail?: number;
  /** Dirty page tracking (VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION); absent when not reported. */
  readonly migration?: IommuMigrationCap;
}

/** Decodes the VFIO_IOMMU_GET_INFO argument after the ioctl, capabilities included when they fit. */
export function decodeIommuInfo(bytes: Uint8Array): IommuInfo {
  const r = vfioIommuType1Info.decode(bytes);
  const out: { -readonly [K in keyof IommuInfo]: IommuInfo[K] } = { argsz: r.argsz, flags: r.flags };
  if ((r.flags & VFIO_IOMMU_INFO_PGSIZES) !== 0) out.pgsizes = r.iova_pgsizes;
  if ((r.flags & VFIO_IOMMU_INFO_CAPS) !== 0 && r.argsz <= bytes.length) {
    for (const cap of readCapChain(bytes, r.cap_offset, vfioIommuType1Info.size)) {
      switch (cap.id) {
        case VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE:
          out.iovaRanges = decodeIovaRangeCap(bytes, cap.offset);
          break;
        case VFIO_IOMMU_TYPE1_INFO_CAP_MIGRATION:
          out.migration = decodeIommuMigrationCap(bytes, cap.offset);
          break;
        case VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL:
          out.dmaAvail = decodeDmaAvailCap(bytes, cap.offset);
          break;
      }
    }
  }
  return out;
}

/** A VFIO_IOMMU_MAP_DMA request (encodeDmaMap). */
export interface DmaMapRequest {
  /** Process address of the memory to map. */
  readonly vaddr: number | bigint;
  /** The device address it gets. */
  readonly iova: number | bigint;
  /** Bytes, a multiple of the IOMMU page size. */
  readonly size: number | bigint;
  /** Defaults to READ | WRITE: the device may both read and write the buffer. */
  readonly flags?: number;
}

/** The VFIO_IOMMU_MAP_DMA argument. */
export function encodeDmaMap(req: DmaMapRequest): Uint8Array {
  return vfioIommuType1DmaMap.encode({
    argsz: vfioIommuType1DmaMap.size,
    flags: req.flags ?? VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
    vaddr: req.vaddr,
    iova: req.iova,
    size: req.size,
  });
}

/** A VFIO_IOMMU_UNMAP_DMA request (encodeDmaUnmap). */
export interface DmaUnmapRequest {
  /** First device address to unmap. */
  readonly iova: number | bigint;
  /** Bytes. */
  readonly size: number | bigint;
  /** VFIO_DMA_UNMAP_FLAG_* bits (default 0). */
  readonly flags?: number;
}

/** The VFIO_IOMMU_UNMAP_DMA argument. */
export function encodeDmaUnmap(req: DmaUnmapRequest): Uint8Array {
  return vfioIommuType1DmaUnmap.encode({
    argsz: vfioIommuType1DmaUnmap.size,
    flags: req.flags ?? 0,
    iova: req.iova,
    size: req.size,
  });
}

/** The VFIO_IOMMU_UNMAP_DMA argument as the kernel left it (decodeDmaUnmap). */
export interface DmaUnmapResult {
  /** The flags sent. */
  readonly flags: number;
  /** The IOVA sent. */
  readonly iova: bigint;
  /** The kernel writes back how many bytes it actually unmapped. */
  readonly size: bigint;
}

/** Decodes the VFIO_IOMMU_UNMAP_DMA argument after the ioctl. */
export function decodeDmaUnmap(bytes: Uint8Array): DmaUnmapResult {
  const { flags, iova, size } = vfioIommuType1DmaUnmap.decode(bytes);
  return { flags, iova, size };
}
