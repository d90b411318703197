// A container's type1 IOMMU as vfio_iommu_type1 implements it: MAP_DMA/UNMAP_DMA
// with the kernel's checks in the kernel's order and errnos, dma_avail,
// RLIMIT_MEMLOCK accounting, and the translation device models DMA through
// (an unmapped or read-only IOVA is a recorded fault and touches no memory).
import { errnoError } from './errno.js';
import type { IommuConfig } from './iommu-config.js';
import { copyThrough, type DmaResult, type FakeMem, type Mapping, type MemlockAccount } from './memory.js';
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_UNMAP_FLAG_ALL } from '../../uapi/vfio-iommu.js';

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

  /** The mappings, for the shim's cut check (dmamap.ts). */
  get mappings(): readonly Mapping[] {
    return this.#maps;
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

  /** A device's DMA through this IOMMU. */
  access(iova: number, length: number, write: boolean, data?: Uint8Array): DmaResult {
    return copyThrough(this.#maps, iova, length, write, data);
  }
}

