// An iommufd IO address space as drivers/iommu/iommufd/io_pagetable.c keeps it:
// areas mapped at fixed IOVAs, checked in the kernel's order with its errnos.
//
// Until a device is attached (through a hwpt) the IOAS has no IOMMU domain: any
// IOVA is allowed, the alignment is 1 and nothing is pinned. The first attach
// brings the IOMMU's aperture and reserved regions (the fake's type1 IOVA ranges)
// and its page size; pages are pinned, and counted against RLIMIT_MEMLOCK, only
// while a domain is there (iopt_fill_domain / iopt_unfill_domain).
import { errnoError } from './errno.js';
import type { IommuConfig } from './iommu-config.js';
import { copyThrough, type DmaResult, type FakeMem, type Mapping, type MemlockAccount } from './memory.js';
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../../uapi/vfio-iommu.js';
import { IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../uapi/iommufd.js';

const U64_MAX = (1n << 64n) - 1n;
const PAGE = 4096n;

interface Area extends Mapping {
  /** Bytes of whole pages pinned for it (0 while no domain is attached). */
  pinned: number;
}

export interface IovaRange {
  start: bigint;
  last: bigint;
}

export class FakeIoas {
  #areas: Area[] = [];
  #config: IommuConfig;
  #memlock: MemlockAccount;
  #attached = 0;

  constructor(config: IommuConfig, memlock: MemlockAccount) {
    this.#config = config;
    this.#memlock = memlock;
  }

  /** Where mappings may go (IOMMU_IOAS_IOVA_RANGES). */
  get ranges(): IovaRange[] {
    if (this.#attached === 0) return [{ start: 0n, last: U64_MAX }];
    return this.#config.ranges.map((r) => ({ start: r.start, last: r.end }));
  }

  get alignment(): bigint {
    if (this.#attached === 0) return 1n;
    const p = this.#config.pgsizes;
    return p & -p;
  }

  /** The areas, for the shim's cut check (dmamap.ts). */
  get mappings(): readonly Mapping[] {
    return this.#areas;
  }

  get attachedDevices(): number {
    return this.#attached;
  }

  map(mem: FakeMem, offset: number, length: bigint, iova: bigint, flags: number): void {
    const fail = (code: string) => errnoError(code, 'ioctl', 'IOMMU_IOAS_MAP');
    // iommufd_ioas_map
    if (iova >= U64_MAX || length >= U64_MAX) throw fail('EOVERFLOW');
    if (!(flags & (IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE))) throw fail('EINVAL');
    // iopt_alloc_user_pages, iopt_alloc_area_pages
    if (length === 0n) throw fail('EINVAL');
    const align = this.alignment;
    if (length % align !== 0n) throw fail('EINVAL');
    // iopt_check_iova
    if (iova % align !== 0n) throw fail('EINVAL');
    const last = iova + length - 1n;
    if (last > U64_MAX) throw fail('EOVERFLOW');
    if (!this.#allowed(iova, last)) throw fail('EINVAL');
    if (this.#areas.some((a) => a.iova <= last && iova <= a.iova + a.size - 1n)) throw fail('EEXIST');
    // iopt_insert_area: the offset into the first page must suit the alignment too
    if ((BigInt(offset) % PAGE) % align !== 0n) throw fail('EINVAL');
    const prot = (flags & IOMMU_IOAS_MAP_READABLE ? VFIO_DMA_MAP_FLAG_READ : 0) | (flags & IOMMU_IOAS_MAP_WRITEABLE ? VFIO_DMA_MAP_FLAG_WRITE : 0);
    const area: Area = { iova, size: length, mem, offset, flags: prot, pinned: 0 };
    if (this.#attached > 0) this.#pin([area], 'IOMMU_IOAS_MAP');
    mem.maps++;
    this.#areas.push(area);
    this.#areas.sort((a, b) => (a.iova < b.iova ? -1 : 1));
  }

  /** IOMMU_IOAS_UNMAP: iova 0 with length 2^64-1 unmaps everything (0 bytes is no error then). */
  unmap(iova: bigint, length: bigint): bigint {
    if (iova === 0n && length === U64_MAX) return this.#unmapRange(0n, U64_MAX, true);
    const fail = (code: string) => errnoError(code, 'ioctl', 'IOMMU_IOAS_UNMAP');
    if (iova >= U64_MAX || length >= U64_MAX) throw fail('EOVERFLOW');
    // iopt_unmap_iova
    if (length === 0n) throw fail('EINVAL');
    const last = iova + length - 1n;
    if (last > U64_MAX) throw fail('EOVERFLOW');
    return this.#unmapRange(iova, last, false);
  }

  // iopt_unmap_iova_range: areas go in IOVA order, so those before one that straddles
  // the range's edge are already unmapped when it fails.
  #unmapRange(start: bigint, last: bigint, all: boolean): bigint {
    let unmapped = 0n;
    for (;;) {
      const a = this.#areas.find((x) => x.iova <= last && start <= x.iova + x.size - 1n);
      if (!a) break;
      if (a.iova < start || a.iova + a.size - 1n > last) throw errnoError('ENOENT', 'ioctl', 'IOMMU_IOAS_UNMAP (a mapping crosses the range)');
      this.#areas.splice(this.#areas.indexOf(a), 1);
      this.#release(a);
      unmapped += a.size;
    }
    if (unmapped === 0n && !all) throw errnoError('ENOENT', 'ioctl', 'IOMMU_IOAS_UNMAP (nothing mapped there)');
    return unmapped;
  }

  /** A device's domain now covers this IOAS: existing areas must fit it, and get pinned. */
  attach(): void {
    if (this.#attached === 0) {
      const align = this.#config.pgsizes & -this.#config.pgsizes;
      for (const a of this.#areas) {
        const misaligned = a.iova % align !== 0n || a.size % align !== 0n || (BigInt(a.offset) % PAGE) % align !== 0n;
        // iopt_reserve_iova / iopt_check_iova_alignment
        if (misaligned || !this.#config.ranges.some((r) => r.start <= a.iova && a.iova + a.size - 1n <= r.end))
          throw errnoError('EADDRINUSE', 'ioctl', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT (a mapping lies where this IOMMU cannot map)');
      }
      this.#pin(this.#areas, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT');
    }
    this.#attached++;
  }

  detach(): void {
    this.#attached--;
    if (this.#attached === 0) for (const a of this.#areas) this.#unpin(a);
  }

  /** Drops every area: the IOAS or its iommufd is being destroyed. */
  releaseAll(): void {
    for (const a of this.#areas) this.#release(a);
    this.#areas = [];
  }

  /** A device's DMA through the attached domain. */
  access(iova: number, length: number, write: boolean, data?: Uint8Array): DmaResult {
    return copyThrough(this.#areas, iova, length, write, data);
  }

  #allowed(iova: bigint, last: bigint): boolean {
    return this.ranges.some((r) => r.start <= iova && last <= r.last);
  }

  // Whole pages are pinned; all or nothing.
  #pin(areas: Area[], what: string): void {
    const need = areas.map((a) => {
      const first = BigInt(a.offset) / PAGE;
      const end = (BigInt(a.offset) + a.size + PAGE - 1n) / PAGE;
      return Number((end - first) * PAGE);
    });
    const total = need.reduce((x, y) => x + y, 0);
    if (this.#memlock.locked + total > this.#memlock.limit) throw errnoError('ENOMEM', 'ioctl', what);
    this.#memlock.locked += total;
    areas.forEach((a, i) => (a.pinned = need[i]!));
  }

  #unpin(a: Area): void {
    this.#memlock.locked -= a.pinned;
    a.pinned = 0;
  }

  #release(a: Area): void {
    this.#unpin(a);
    a.mem.maps--;
  }
}
