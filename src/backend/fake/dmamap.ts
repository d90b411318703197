// The Backend's DMA mapping calls, which the native shim (native/dmamap.cc) turns
// into VFIO_IOMMU_MAP_DMA/UNMAP_DMA on a container and IOMMU_IOAS_MAP/UNMAP/
// IOVA_RANGES on an iommufd: the shim's argument checks, check for check, then the
// kernel's answer. The file arrives resolved from its handle (kernel.ts).
//
// Like the shim, the unmap calls refuse a range that cuts a mapping before the kernel sees it:
// type1v2 would refuse it anyway, but type1 (v1) would unmap the whole mapping the range
// starts in, and iommufd the areas before the cut, each leaving the caller's records wrong.
import { errnoError } from './errno.js';
import { argU64 } from '../args.js';
import type { DmaPool } from './dma-pool.js';
import type { FakeIommufd } from './iommufd.js';
import type { Mapping } from './memory.js';
import { fileKindName, type KContainer, type OpenFile } from './objects.js';
import type { IoasRanges } from '../backend.js';
import { IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../uapi/iommufd.js';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../uapi/vfio-iommu.js';

const U64_MAX = (1n << 64n) - 1n;

function container({ fd, e }: OpenFile, what: string): KContainer {
  if (e.kind !== 'container') throw errnoError('ENOTTY', 'ioctl', `${what}: the handle is ${fileKindName(e)}, not a VFIO container`);
  return e.c;
}

function iommufd({ fd, e }: OpenFile, what: string): FakeIommufd {
  if (e.kind !== 'iommufd') throw errnoError('ENOTTY', 'ioctl', `${what}: the handle is ${fileKindName(e)}, not an iommufd`);
  return e.ctx;
}

/** The lowest mapping that [start, end) overlaps without containing it. */
function cutMapping(maps: readonly Mapping[], start: bigint, end: bigint): Mapping | undefined {
  let cut: Mapping | undefined;
  for (const m of maps) {
    const overlaps = m.iova < end && start < m.iova + m.size;
    const inside = start <= m.iova && m.iova + m.size <= end;
    if (overlaps && !inside && (!cut || m.iova < cut.iova)) cut = m;
  }
  return cut;
}

function refuseCut(maps: readonly Mapping[], start: bigint, end: bigint, code: string, what: string): void {
  const m = cutMapping(maps, start, end);
  if (m) throw errnoError(code, 'ioctl', `${what}: the range cuts the mapping at 0x${m.iova.toString(16)} (0x${m.size.toString(16)} bytes); unmap whole mappings`);
}

/** native/dmamap.cc ArgIoas: an IOAS id is in [1, 2^32). */
function argIoas(v: unknown, fn: string): number {
  const id = argU64(v, fn, 'ioas');
  if (id === 0n || id > 0xffffffffn) throw new RangeError(`${fn}: ioas must be an IOAS id in [1, 2^32)`);
  return Number(id);
}

function argRange(len: bigint, off: bigint, sz: bigint, fn: string): void {
  if (off > len || sz > len - off) throw new RangeError(`${fn}: offset ${off} + size ${sz} is outside the ${len}-byte buffer`);
}

export function dmaMap(pool: DmaPool, f: OpenFile, buffer: ArrayBuffer, offset: number, size: number, iova: bigint, flags: number): void {
  const m = pool.get(buffer, 'dmaMap');
  const off = argU64(offset, 'dmaMap', 'offset');
  const sz = argU64(size, 'dmaMap', 'size');
  const io = argU64(iova, 'dmaMap', 'iova');
  const fl = argU64(flags, 'dmaMap', 'flags');
  argRange(BigInt(m.bytes.length), off, sz, 'dmaMap');
  if (fl & ~3n) throw new RangeError('dmaMap: flags may only hold READ (1) and WRITE (2)');
  const c = container(f, 'VFIO_IOMMU_MAP_DMA');
  if (c.noiommuDriver) throw errnoError('ENOTTY', 'ioctl', 'VFIO_IOMMU_MAP_DMA (no-IOMMU container: there is nothing to map)');
  if (!c.iommu) throw errnoError('EINVAL', 'ioctl', 'VFIO_IOMMU_MAP_DMA');
  c.iommu.map(m, Number(off), sz, io, Number(fl));
}

export function dmaUnmap(f: OpenFile, iova: bigint, size: bigint, flags: number): bigint {
  const io = argU64(iova, 'dmaUnmap', 'iova');
  const sz = argU64(size, 'dmaUnmap', 'size');
  const fl = flags === undefined ? 0n : argU64(flags, 'dmaUnmap', 'flags');
  if (fl & ~2n) throw new RangeError('dmaUnmap: flags may only hold UNMAP_ALL (2)');
  const c = container(f, 'VFIO_IOMMU_UNMAP_DMA');
  if (c.noiommuDriver) throw errnoError('ENOTTY', 'ioctl', 'VFIO_IOMMU_UNMAP_DMA (no-IOMMU container)');
  if (!c.iommu) throw errnoError('EINVAL', 'ioctl', 'VFIO_IOMMU_UNMAP_DMA');
  if (!(fl & BigInt(VFIO_DMA_UNMAP_FLAG_ALL))) refuseCut(c.iommu.mappings, io, io + sz, 'EINVAL', 'VFIO_IOMMU_UNMAP_DMA');
  return c.iommu.unmap(io, sz, Number(fl));
}

export function ioasMap(pool: DmaPool, f: OpenFile, ioas: number, buffer: ArrayBuffer, offset: number, size: number, iova: bigint, flags: number): void {
  const id = argIoas(ioas, 'ioasMap');
  const off = argU64(offset, 'ioasMap', 'offset');
  const sz = argU64(size, 'ioasMap', 'size');
  const io = argU64(iova, 'ioasMap', 'iova');
  const fl = argU64(flags, 'ioasMap', 'flags');
  const m = pool.get(buffer, 'ioasMap');
  argRange(BigInt(m.bytes.length), off, sz, 'ioasMap');
  if (fl & ~BigInt(IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE)) throw new RangeError('ioasMap: flags may only hold WRITEABLE (2) and READABLE (4)');
  iommufd(f, 'IOMMU_IOAS_MAP').ioas(id, 'IOMMU_IOAS_MAP').map(m, Number(off), sz, io, Number(fl));
}

export function ioasUnmap(f: OpenFile, ioas: number, iova: bigint, length: bigint): bigint {
  const id = argIoas(ioas, 'ioasUnmap');
  const io = argU64(iova, 'ioasUnmap', 'iova');
  const len = argU64(length, 'ioasUnmap', 'length');
  const s = iommufd(f, 'IOMMU_IOAS_UNMAP').ioas(id, 'IOMMU_IOAS_UNMAP');
  if (!(io === 0n && len === U64_MAX)) refuseCut(s.mappings, io, io + len, 'ENOENT', 'IOMMU_IOAS_UNMAP');
  return s.unmap(io, len);
}

export function ioasIovaRanges(f: OpenFile, ioas: number): IoasRanges {
  const id = argIoas(ioas, 'ioasIovaRanges');
  const s = iommufd(f, 'IOMMU_IOAS_IOVA_RANGES').ioas(id, 'IOMMU_IOAS_IOVA_RANGES');
  return { ranges: s.ranges, alignment: s.alignment };
}
