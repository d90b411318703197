/**
 * A container's type1 IOMMU as vfio_iommu_type1 implements it: MAP_DMA/UNMAP_DMA
 * with the kernel's checks in the kernel's order and errnos, dma_avail,
 * RLIMIT_MEMLOCK accounting, and the translation device models DMA through
 * (an unmapped or read-only IOVA is a recorded fault and touches no memory).
 */
import { errnoError } from './errno.js';
import type { PhysicalPlacement } from './physmem.js';
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_UNMAP_FLAG_ALL } from '../../uapi/vfio-iommu.js';

/** DMA memory handed out by the fake's dmaAlloc. */
export interface FakeMem {
  readonly buffer: ArrayBuffer;
  readonly bytes: Uint8Array;
  maps: number;
  /** 2 MiB pages it took from the kernel's pool. */
  readonly hugepages: number;
  /** Where its pages are in physical memory (see PhysicalMemory). */
  readonly phys: PhysicalPlacement;
  /** Bytes mlock()ed for dmaPhysical (counted against RLIMIT_MEMLOCK until freed). */
  mlocked: number;
}

/** IOVA [iova, iova+size) translates to mem.bytes[offset...]; flags: VFIO_DMA_MAP_FLAG_READ/WRITE. */
export interface Mapping {
  iova: bigint;
  size: bigint;
  mem: FakeMem;
  offset: number;
  flags: number;
}

export interface IommuConfig {
  /** Bitmap of IOMMU page sizes (VFIO_IOMMU_GET_INFO iova_pgsizes). */
  pgsizes: bigint;
  /** Usable IOVA ranges, inclusive. */
  ranges: readonly { start: bigint; end: bigint }[];
  /** vfio_iommu_type1's dma_entry_limit. */
  dmaEntryLimit: number;
}

/** Process-wide locked-memory accounting, shared by every container of one kernel. */
export interface MemlockAccount {
  /** Bytes; Infinity behaves like CAP_IPC_LOCK. */
  limit: number;
  locked: number;
}

export interface DmaFault {
  iova: number;
  length: number;
  write: boolean;
  reason: string;
}

export class FakeIommu {
  readonly config: IommuConfig;
  readonly v2: boolean;
  #maps: Mapping[] = [];
  #memlock: MemlockAccount;

  constructor(config: IommuConfig, v2: boolean, memlock: MemlockAccount) {
    this.config = config;
    this.v2 = v2;
    this.#memlock = memlock;
  }

  get dmaAvail(): number {
    return this.config.dmaEntryLimit - this.#maps.length;
  }

  get pageSize(): bigint {
    const p = this.config.pgsizes;
    return p & -p;
  }

  #overlapping(iova: bigint, size: bigint): Mapping | undefined {
    const end = iova + size;
    return this.#maps.find((m) => m.iova < end && iova < m.iova + m.size);
  }

  map(mem: FakeMem, offset: number, size: bigint, iova: bigint, flags: number): void {
    const prot = flags & (VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE);
    const op = 'ioctl';
    const what = 'VFIO_IOMMU_MAP_DMA';
    if (!prot) throw errnoError('EINVAL', op, what);
    const mask = this.pageSize - 1n;
    if (size === 0n || (size & mask) !== 0n || (iova & mask) !== 0n || (BigInt(offset) & mask) !== 0n) throw errnoError('EINVAL', op, what);
    if (iova + size - 1n >= 1n << 64n) throw errnoError('EINVAL', op, what);
    if (this.#overlapping(iova, size)) throw errnoError('EEXIST', op, what);
    if (this.dmaAvail <= 0) throw errnoError('ENOSPC', op, what);
    const last = iova + size - 1n;
    if (!this.config.ranges.some((r) => r.start <= iova && last <= r.end)) throw errnoError('EINVAL', op, what);
    const bytes = Number(size);
    if (this.#memlock.locked + bytes > this.#memlock.limit) throw errnoError('ENOMEM', op, what);
    this.#memlock.locked += bytes;
    mem.maps++;
    this.#maps.push({ iova, size, mem, offset, flags: prot });
  }

  unmap(iova: bigint, size: bigint, flags: number): bigint {
    const what = 'VFIO_IOMMU_UNMAP_DMA';
    const mask = this.pageSize - 1n;
    const all = (flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0;
    if ((iova & mask) !== 0n) throw errnoError('EINVAL', 'ioctl', what);
    if (all) {
      if (iova !== 0n || size !== 0n) throw errnoError('EINVAL', 'ioctl', what);
      size = (1n << 64n) - 1n;
    } else if (size === 0n || (size & mask) !== 0n || iova + size - 1n >= 1n << 64n) {
      throw errnoError('EINVAL', 'ioctl', what);
    }
    const end = iova + size;
    if (this.v2 && !all) {
      // Type1v2 refuses to split a mapping: the range must start and end on mapping edges.
      const first = this.#maps.find((m) => m.iova <= iova && iova < m.iova + m.size);
      if (first && first.iova !== iova) throw errnoError('EINVAL', 'ioctl', what);
      const lastMap = this.#maps.find((m) => m.iova <= end - 1n && end - 1n < m.iova + m.size);
      if (lastMap && lastMap.iova + lastMap.size !== end) throw errnoError('EINVAL', 'ioctl', what);
    }
    let unmapped = 0n;
    this.#maps = this.#maps.filter((m) => {
      const inside = m.iova >= iova && m.iova < end;
      if (inside) this.#release(m);
      if (inside) unmapped += m.size;
      return !inside;
    });
    return unmapped;
  }

  /** Drops every mapping: the container is being released. */
  releaseAll(): void {
    for (const m of this.#maps) this.#release(m);
    this.#maps = [];
  }

  #release(m: Mapping): void {
    m.mem.maps--;
    this.#memlock.locked -= Number(m.size);
  }

  /** Copies between the device and memory through this IOMMU (see copyThrough). */
  access(iova: number, length: number, write: boolean, data?: Uint8Array): { bytes?: Uint8Array; fault?: DmaFault } {
    return copyThrough(this.#maps, iova, length, write, data);
  }
}

/**
 * Copies between a device and memory through a set of mappings; every byte must be
 * mapped with the needed permission, else the fault is returned and nothing moves.
 */
export function copyThrough(
  maps: readonly Mapping[],
  iova: number,
  length: number,
  write: boolean,
  data?: Uint8Array,
): { bytes?: Uint8Array; fault?: DmaFault } {
  const need = write ? VFIO_DMA_MAP_FLAG_WRITE : VFIO_DMA_MAP_FLAG_READ;
  const pieces: { m: Mapping; at: number; len: number; from: number }[] = [];
  let pos = BigInt(iova);
  let done = 0;
  while (done < length) {
    const m = maps.find((x) => x.iova <= pos && pos < x.iova + x.size);
    if (!m) return { fault: { iova: Number(pos), length, write, reason: 'not mapped' } };
    if ((m.flags & need) === 0) return { fault: { iova: Number(pos), length, write, reason: write ? 'mapped read-only' : 'mapped write-only' } };
    const at = m.offset + Number(pos - m.iova);
    const len = Math.min(length - done, Number(m.iova + m.size - pos));
    pieces.push({ m, at, len, from: done });
    done += len;
    pos += BigInt(len);
  }
  if (write) {
    for (const p of pieces) p.m.mem.bytes.set(data!.subarray(p.from, p.from + p.len), p.at);
    return {};
  }
  const out = new Uint8Array(length);
  for (const p of pieces) out.set(p.m.mem.bytes.subarray(p.at, p.at + p.len), p.from);
  return { bytes: out };
}
