import type { Backend, HugePages } from '../backend/backend.js';
import { VfioError, syscall, toVfioError, type ErrorContext } from '../errors.js';
import { IovaAllocator } from './iova.js';
import { DmaBuffer } from './dma.js';
import { formatBytes } from '../host/limits.js';

/** Options of allocDma (DmaSpace, Device). */
export interface DmaOptions {
  /**
   * 'prefer' (default) uses a 2 MiB hugepage when the system has one free. In no-IOMMU mode
   * the default is 'require', and 'never' is refused: only hugepages stay at their physical
   * address.
   */
  hugepages?: HugePages;
  /**
   * A fixed IOVA instead of an allocated one (not in no-IOMMU mode: addresses are physical
   * there). With `dmaBits`, the whole buffer must lie below 2^dmaBits (else a RangeError).
   */
  iova?: number;
  /** The device's DMA address width: IOVAs stay below 2^dmaBits (e.g. 28 for QEMU's edu). */
  dmaBits?: number;
  /** What the device may do with the buffer (default 'rw'). */
  access?: 'rw' | 'read' | 'write';
}

/** What the device may do with a DMA buffer: read and write it, only read it, or only write it. */
export type DmaAccess = NonNullable<DmaOptions['access']>;

/**
 * The map flags for each DmaAccess, from the interface's own read and write bits (the
 * container and iommufd number them differently).
 */
export function accessFlags(read: number, write: number): Readonly<Record<DmaAccess, number>> {
  return { rw: read | write, read, write };
}

/** Which kernel interface a device's DMA goes through. */
export type IommuApi = 'container' | 'iommufd' | 'noiommu';

/**
 * What a container and an iommufd IOAS have in common: an address space devices DMA
 * into, which owns the DMA buffers mapped in it and the IOVA allocator. The subclasses
 * say how one mapping is made and removed; the checks, the IOVA choice and the error
 * hints are here once. Without an IOMMU (no-IOMMU mode) there is nothing to map: the
 * device sees physical memory, so the buffer's physical address is its DMA address.
 */
export abstract class DmaSpace {
  /** The backend every call of this space (and of its devices) goes through. */
  readonly backend: Backend;
  #dma = new Set<DmaBuffer>();
  #iova: IovaAllocator | null = null;

  protected constructor(backend: Backend) {
    this.backend = backend;
  }

  /**
   * The kernel interface mappings go through; null until the space can map (a container
   * before its first group, an iommufd context before its first device).
   */
  abstract readonly api: IommuApi | null;
  /** Does an IOMMU translate (and confine) the device's DMA? False only in no-IOMMU mode. */
  abstract readonly dmaTranslated: boolean;
  /** Names the space in errors ('the container', 'IOAS 2'). */
  protected abstract readonly label: string;
  /** The smallest IOMMU page size: the granule of mappings. */
  abstract readonly iommuPageSize: number;
  /** Closes the space: its devices, then every DMA buffer, then the kernel object. Idempotent. */
  abstract close(): void;

  protected abstract checkOpen(op: string): void;
  /** The request that maps, for error messages ('VFIO_IOMMU_MAP_DMA'). */
  protected abstract readonly mapOp: string;
  protected abstract readonly unmapOp: string;
  protected abstract map(buffer: ArrayBuffer, length: number, iova: bigint, access: DmaAccess): void;
  /** Returns the bytes the kernel unmapped. */
  protected abstract unmap(iova: bigint, length: bigint): bigint;
  /** One request that drops every mapping, or false when the kernel has none. */
  protected abstract unmapAll(): boolean;

  /**
   * Called when the IOMMU's usable ranges are known, and again when they change (an
   * iommufd IOAS narrows as devices attach); buffers already mapped keep their IOVAs.
   */
  protected setIovaRanges(ranges: readonly { start: bigint; end: bigint }[]): void {
    const next = new IovaAllocator(ranges);
    for (const b of this.#dma) if (this.dmaTranslated) next.reserve(b.iova, b.size);
    this.#iova = next;
  }

  protected get iovaAllocator(): IovaAllocator | null {
    return this.#iova;
  }

  /** The DMA buffers mapped in this space and not yet freed (a snapshot). */
  get dmaBuffers(): readonly DmaBuffer[] {
    return [...this.#dma];
  }

  /**
   * Allocates pinned memory and maps it for DMA at an IOVA inside the IOMMU's ranges (or
   * at `options.iova`); in no-IOMMU mode, at its physical address. Free it with
   * `buffer.free()` or by closing. `size` is in bytes, rounded up to the page size.
   *
   * Throws a RangeError for bad arguments (a fixed `iova` whose range ends beyond `dmaBits`
   * among them), and a VfioError: ERR_VFIO_NO_GROUP before the
   * space has an IOMMU; ERR_VFIO_NO_IOVA when no IOVA range fits (or the fixed one is taken);
   * the kernel's errno from the map (ENOMEM: RLIMIT_MEMLOCK, ENOSPC: too many mappings,
   * with hints). In no-IOMMU mode also ERR_VFIO_NOIOMMU_HUGEPAGES, ERR_VFIO_NOIOMMU_IOVA,
   * ERR_VFIO_NOT_CONTIGUOUS and ERR_VFIO_DMA_UNREACHABLE (physical address above `dmaBits`).
   */
  allocDma(size: number, options: DmaOptions = {}): DmaBuffer {
    const op = `${this.constructor.name}.allocDma`;
    this.checkOpen(op);
    if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`allocDma: size must be a positive integer, got ${size}`);
    const access = options.access ?? 'rw';
    if (access !== 'rw' && access !== 'read' && access !== 'write') throw new RangeError(`allocDma: access must be 'rw', 'read' or 'write'`);
    if (options.dmaBits !== undefined && !(Number.isInteger(options.dmaBits) && options.dmaBits >= 12 && options.dmaBits <= 64))
      throw new RangeError(`allocDma: dmaBits must be an integer in [12, 64], got ${options.dmaBits}`);
    if (options.iova !== undefined && (!Number.isSafeInteger(options.iova) || options.iova < 0))
      throw new RangeError(`allocDma: iova must be a non-negative safe integer, got ${options.iova}`);
    if (options.iova !== undefined && options.dmaBits !== undefined && options.dmaBits < 53 && options.iova + size > 2 ** options.dmaBits)
      throw new RangeError(
        `allocDma: iova 0x${options.iova.toString(16)} + ${size} bytes ends beyond dmaBits ${options.dmaBits} (0x${(2 ** options.dmaBits).toString(16)}): the device could not reach it`,
      );
    if (this.api === null) {
      throw new VfioError({
        code: 'ERR_VFIO_NO_GROUP',
        op,
        message: `${this.label} has no IOMMU yet`,
        hint: 'attach a group or open a device first (attachGroup, openDevice)',
      });
    }
    const limit = options.dmaBits === undefined || options.dmaBits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** options.dmaBits;
    // Without an IOMMU only hugepages will do (see #physical): ask for them outright.
    const huge = options.hugepages ?? (this.dmaTranslated ? 'prefer' : 'require');
    if (!this.dmaTranslated && huge === 'never') throw noIommuHugepagesError(op);
    if (!this.dmaTranslated && options.iova !== undefined)
      throw new VfioError({
        code: 'ERR_VFIO_NOIOMMU_IOVA',
        op,
        message: 'a fixed IOVA was asked for, but without an IOMMU DMA addresses are physical addresses',
      });
    const mem = syscall('mmap DMA memory', { hint: (c) => (this.dmaTranslated ? undefined : hugepagesHint(c)) }, () => this.backend.dmaAlloc(size, huge));
    const buf = this.dmaTranslated ? this.#mapAtIova(mem.buffer, mem.pageSize, limit, access, options.iova) : this.#physical(mem.buffer, mem.pageSize, limit, options);
    this.#dma.add(buf);
    return buf;
  }

  #mapAtIova(memory: ArrayBuffer, pageSize: number, limit: number, access: DmaAccess, fixed: number | undefined): DmaBuffer {
    const length = memory.byteLength;
    const iovas = this.#iova!;
    const align = Math.max(pageSize, this.iommuPageSize);
    // The page rounding (a hugepage) can carry a fixed IOVA past the limit the arguments passed.
    const reachable = fixed === undefined || fixed + length <= limit;
    const iova = fixed !== undefined ? (reachable && iovas.reserve(fixed, length) ? fixed : undefined) : iovas.alloc(length, align, limit);
    if (iova === undefined) {
      this.backend.dmaFree(memory);
      throw new VfioError({
        code: 'ERR_VFIO_NO_IOVA',
        op: `${this.constructor.name}.allocDma`,
        message:
          fixed !== undefined
            ? reachable
              ? `IOVA range 0x${fixed.toString(16)}+${length} is in use or outside the IOMMU's ranges`
              : `IOVA range 0x${fixed.toString(16)}+${length} (the buffer rounded up to its ${formatBytes(pageSize)} pages) ends beyond dmaBits (0x${limit.toString(16)})`
            : `no free IOVA range of ${formatBytes(length)} below 0x${limit.toString(16)}`,
        hint: `usable IOVA ranges: ${this.describeRanges()}`,
      });
    }
    try {
      this.map(memory, length, BigInt(iova), access);
    } catch (e) {
      // Released before the hint is computed: it lists the ranges as they were before this request.
      iovas.release(iova, length);
      this.backend.dmaFree(memory);
      throw toVfioError(e, this.mapOp, { ...this.errorContext(), hint: (code) => this.mapHint(code, length) });
    }
    return new DmaBuffer(this, memory, iova, length, pageSize);
  }

  // No IOMMU: the device is given physical addresses, so the buffer must be one physically
  // contiguous run (a scatter of 4 KiB pages would have the device write over other memory),
  // and it must stay where it is: the kernel may migrate ordinary pages, locked ones included
  // (compaction, vm.compact_unevictable_allowed), while hugetlb pages stay put.
  #physical(memory: ArrayBuffer, pageSize: number, limit: number, options: DmaOptions): DmaBuffer {
    const op = `${this.constructor.name}.allocDma`;
    if (pageSize < HUGEPAGE) {
      this.backend.dmaFree(memory);
      throw noIommuHugepagesError(op);
    }
    const fail = (init: { code: string; message: string; hint?: string }): never => {
      this.backend.dmaFree(memory);
      throw new VfioError({ op, ...init });
    };
    let phys: BigUint64Array;
    try {
      phys = syscall('read physical addresses (/proc/self/pagemap)', { hint: pagemapHint }, () => this.backend.dmaPhysical(memory));
    } catch (e) {
      this.backend.dmaFree(memory);
      throw e;
    }
    const page = BigInt(this.backend.pageSize);
    const base = phys[0]!;
    for (let k = 1; k < phys.length; k++) {
      if (phys[k] !== base + BigInt(k) * page)
        fail({
          code: 'ERR_VFIO_NOT_CONTIGUOUS',
          message: `the ${formatBytes(memory.byteLength)} buffer is not physically contiguous (page ${k} of ${phys.length} is elsewhere), and without an IOMMU the device needs one physical run`,
          hint: 'keep each buffer within one 2 MiB hugepage',
        });
    }
    const end = base + BigInt(memory.byteLength);
    if (end > BigInt(Math.min(limit, Number.MAX_SAFE_INTEGER)))
      fail({
        code: 'ERR_VFIO_DMA_UNREACHABLE',
        message: `the buffer's physical address 0x${base.toString(16)} is beyond the device's reach (below 0x${limit.toString(16)})`,
        hint: 'without an IOMMU nothing remaps addresses: the device needs a wider DMA mask, or the memory must come from low physical memory',
      });
    return new DmaBuffer(this, memory, Number(base), memory.byteLength, pageSize);
  }

  /**
   * Asked after an unmap failed with EINVAL: did the kernel drop every mapping of this space
   * already? A container does when its last group has left it (see Container).
   */
  protected mappingsDropped(): boolean {
    return false;
  }

  /** Names the space's group or device in its errors, where it has one. */
  protected errorContext(): ErrorContext {
    return {};
  }

  // An unmap that failed because the kernel had already dropped the mappings: the memory
  // is no longer reachable by any device, so it is freed like after an unmap.
  #unmapFailed(e: unknown): boolean {
    if (!(e instanceof VfioError && e.code === 'EINVAL' && this.mappingsDropped())) return false;
    this.#freeUnmapped([...this.#dma]);
    return true;
  }

  #unmapContext(): ErrorContext {
    return { ...this.errorContext(), hint: (code) => (code === 'EINVAL' ? this.unmapHint() : undefined) };
  }

  /** The hint of an unmap's EINVAL. */
  protected unmapHint(): string {
    return `the range must cover whole mappings of ${this.label} (a mapping is never split)`;
  }

  #freeUnmapped(buffers: readonly DmaBuffer[]): void {
    for (const b of buffers) {
      this.#dma.delete(b);
      this.#iova?.release(b.iova, b.size);
      syscall('free DMA memory', this.errorContext(), () => this.backend.dmaFree(b.buffer));
      b.markFreed();
    }
  }

  /** @internal DmaBuffer.free: IOMMU unmap first, then the memory. */
  releaseDma(buf: DmaBuffer): void {
    if (!this.#dma.has(buf)) return;
    if (this.dmaTranslated) {
      let unmapped: bigint;
      try {
        unmapped = syscall(this.unmapOp, this.#unmapContext(), () => this.unmap(BigInt(buf.iova), BigInt(buf.size)));
      } catch (e) {
        if (this.#unmapFailed(e)) return;
        throw e;
      }
      if (unmapped !== BigInt(buf.size)) {
        throw new VfioError({
          code: 'ERR_VFIO_UNMAP_SHORT',
          op: this.unmapOp,
          message: `the kernel unmapped ${unmapped} of ${buf.size} bytes at IOVA 0x${buf.iova.toString(16)}; the memory stays allocated`,
        });
      }
    }
    this.#freeUnmapped([buf]);
  }

  /** One unmap-all request where the kernel offers it (not one per buffer), then frees the memory. */
  protected releaseAllDma(): void {
    if (this.#dma.size === 0) return;
    let all: boolean;
    try {
      all = this.dmaTranslated && syscall(`${this.unmapOp} (all)`, this.#unmapContext(), () => this.unmapAll());
    } catch (e) {
      if (this.#unmapFailed(e)) return;
      throw e;
    }
    if (!all) {
      for (const b of [...this.#dma]) b.free();
      return;
    }
    this.#freeUnmapped([...this.#dma]);
  }

  protected describeRanges(): string {
    const r = this.#iova?.ranges ?? [];
    return r.length ? r.map((x) => `0x${x.start.toString(16)}-0x${x.end.toString(16)}`).join(', ') : 'none left';
  }

  /** Extra words for ENOSPC (e.g. the container's dma_avail). */
  protected mapLimitNote(): string {
    return '';
  }

  protected mapHint(code: string, size: number): string | undefined {
    switch (code) {
      case 'ENOMEM': {
        const limit = this.backend.memlockLimit();
        const mapped = [...this.#dma].reduce((n, b) => n + b.size, 0);
        return (
          `RLIMIT_MEMLOCK is ${limit === undefined ? 'unknown' : formatBytes(limit)}; this mapping needs ${formatBytes(size)} ` +
          `more on top of ${formatBytes(mapped)} already mapped in ${this.label}. Raise it: \`ulimit -l\` (limits.conf memlock, ` +
          'or LimitMEMLOCK= in a systemd unit); root with CAP_IPC_LOCK is not limited'
        );
      }
      case 'ENOSPC':
        return `${this.label}'s DMA mapping count is exhausted${this.mapLimitNote()}; use fewer, larger buffers`;
      case 'EEXIST':
        return 'the IOVA range overlaps an existing mapping';
      case 'EINVAL':
        return `IOVA and size must be multiples of the IOMMU page size (${formatBytes(this.iommuPageSize)}) inside ${this.describeRanges()}`;
      default:
        return undefined;
    }
  }
}

const HUGEPAGE = 2 * 1024 * 1024;

function noIommuHugepagesError(op: string): VfioError {
  return new VfioError({
    code: 'ERR_VFIO_NOIOMMU_HUGEPAGES',
    op,
    message:
      'without an IOMMU, DMA memory must be hugepages: the kernel may move ordinary pages (compaction migrates ' +
      'even locked ones), and the device would go on writing to the old physical address',
    hint: "reserve 2 MiB hugepages (echo 64 > /proc/sys/vm/nr_hugepages) and leave hugepages at its default ('require' in no-IOMMU mode)",
  });
}

function hugepagesHint(code: string): string | undefined {
  if (code === 'ENOMEM') return 'no free 2 MiB hugepage: reserve more (echo 64 > /proc/sys/vm/nr_hugepages); no-IOMMU mode needs them';
  return undefined;
}

function pagemapHint(code: string): string | undefined {
  if (code === 'EPERM' || code === 'EACCES')
    return 'physical addresses (no-IOMMU mode) come from /proc/self/pagemap, which shows them only to root (CAP_SYS_ADMIN)';
  if (code === 'ENOMEM' || code === 'EAGAIN') return 'locking the pages failed: raise RLIMIT_MEMLOCK (ulimit -l) or run as root';
  return undefined;
}
