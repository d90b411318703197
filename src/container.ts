/**
 * A VFIO container: one IOMMU address space that groups join. It owns the DMA
 * mappings and the IOVA allocator.
 */
import type { Backend, HugePages } from './backend/backend.js';
import { defaultBackend } from './backend/native.js';
import { VfioError, closedError, syscall } from './errors.js';
import { IovaAllocator } from './iova.js';
import { DmaBuffer, type DmaBufferOwner } from './dma.js';
import { formatBytes } from './limits.js';
import { Group } from './group.js';
import { queryWithCaps } from './query.js';
import { sysPath, type SysfsOptions } from './sysfs.js';
import {
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_GET_INFO,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from './uapi/ioctl.js';
import {
  VFIO_DMA_UNMAP_FLAG_ALL,
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  decodeIommuInfo,
  encodeIommuInfoQuery,
  type IommuInfo,
} from './uapi/vfio-iommu.js';

export interface ContainerOptions extends SysfsOptions {
  backend?: Backend;
}

export type IommuType = 'Type1v2' | 'Type1';

export interface DmaOptions {
  /** 'prefer' (default) uses a 2 MiB hugepage when the system has one free. */
  hugepages?: HugePages;
  /** A fixed IOVA instead of an allocated one. */
  iova?: number;
  /** The device's DMA address width: IOVAs stay below 2^dmaBits (e.g. 28 for QEMU's edu). */
  dmaBits?: number;
  /** What the device may do with the buffer (default 'rw'). */
  access?: 'rw' | 'read' | 'write';
}

const ACCESS = { rw: VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE, read: VFIO_DMA_MAP_FLAG_READ, write: VFIO_DMA_MAP_FLAG_WRITE };

export class Container implements DmaBufferOwner {
  readonly backend: Backend;
  readonly options: SysfsOptions;
  #fd: number;
  #groups = new Set<Group>();
  #dma = new Set<DmaBuffer>();
  #iommuType: IommuType | null = null;
  #info: IommuInfo | null = null;
  #iova: IovaAllocator | null = null;
  #unmapAll = false;

  private constructor(backend: Backend, fd: number, options: SysfsOptions) {
    this.backend = backend;
    this.#fd = fd;
    this.options = options;
  }

  /** Opens /dev/vfio/vfio and checks the API version. */
  static open(options: ContainerOptions = {}): Container {
    const backend = options.backend ?? defaultBackend();
    const path = sysPath(options, 'dev/vfio/vfio');
    const fd = syscall(`open ${path}`, { hint: containerOpenHint }, () => backend.open(path));
    try {
      const version = syscall('VFIO_GET_API_VERSION', {}, () => backend.ioctl(fd, VFIO_GET_API_VERSION));
      if (version !== VFIO_API_VERSION) {
        throw new VfioError({
          code: 'ERR_VFIO_API_VERSION',
          op: 'VFIO_GET_API_VERSION',
          message: `the kernel speaks VFIO API ${version}, this library ${VFIO_API_VERSION}`,
        });
      }
    } catch (e) {
      backend.close(fd);
      throw e;
    }
    return new Container(backend, fd, { ...(options.root !== undefined && { root: options.root }) });
  }

  get fd(): number {
    this.#check('Container.fd');
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** Set when the first group joins. */
  get iommuType(): IommuType | null {
    return this.#iommuType;
  }

  /** What VFIO_IOMMU_GET_INFO reported (page sizes, IOVA ranges, dma_avail). */
  get iommuInfo(): IommuInfo | null {
    return this.#info;
  }

  get groups(): readonly Group[] {
    return [...this.#groups];
  }

  checkExtension(extension: number): boolean {
    this.#check('VFIO_CHECK_EXTENSION');
    return syscall('VFIO_CHECK_EXTENSION', {}, () => this.backend.ioctl(this.#fd, VFIO_CHECK_EXTENSION, extension)) > 0;
  }

  /**
   * Opens /dev/vfio/<group>, checks it is viable and joins it to this container.
   * The first group also selects the IOMMU model (Type1v2, else Type1).
   */
  attachGroup(group: number): Group {
    this.#check('Container.attachGroup');
    const g = Group.attach(this, group);
    this.#groups.add(g);
    return g;
  }

  /** @internal called by Group.attach after VFIO_GROUP_SET_CONTAINER. */
  setupIommu(group: number): void {
    if (this.#iommuType !== null) return;
    const type = this.checkExtension(VFIO_TYPE1v2_IOMMU)
      ? 'Type1v2'
      : this.checkExtension(VFIO_TYPE1_IOMMU)
        ? 'Type1'
        : null;
    if (type === null) {
      throw new VfioError({
        code: 'ERR_VFIO_NO_IOMMU_MODEL',
        op: 'VFIO_CHECK_EXTENSION',
        group,
        message: 'the container offers neither the Type1v2 nor the Type1 IOMMU model',
        hint: 'load vfio_iommu_type1 (modprobe vfio_iommu_type1); no-IOMMU groups need an explicit opt-in',
      });
    }
    syscall('VFIO_SET_IOMMU', { group, hint: setIommuHint }, () =>
      this.backend.ioctl(this.#fd, VFIO_SET_IOMMU, type === 'Type1v2' ? VFIO_TYPE1v2_IOMMU : VFIO_TYPE1_IOMMU),
    );
    this.#iommuType = type;
    this.#info = this.#queryIommuInfo();
    this.#unmapAll = this.checkExtension(VFIO_UNMAP_ALL);
    const ranges = this.#info.iovaRanges ?? [{ start: 0n, end: (1n << 48n) - 1n }];
    this.#iova = new IovaAllocator(ranges);
  }

  #queryIommuInfo(): IommuInfo {
    return queryWithCaps(encodeIommuInfoQuery, decodeIommuInfo, (bytes) =>
      syscall('VFIO_IOMMU_GET_INFO', {}, () => this.backend.ioctl(this.#fd, VFIO_IOMMU_GET_INFO, bytes)),
    );
  }

  /** The smallest IOMMU page size (the granule for DMA mappings). */
  get iommuPageSize(): number {
    const p = this.#info?.pgsizes;
    if (!p) return this.backend.pageSize;
    return Number(p & -p);
  }

  /**
   * Allocates pinned memory and maps it for DMA at an IOVA inside the IOMMU's
   * ranges (or at `options.iova`). Free it with `buffer.free()` or close().
   */
  allocDma(size: number, options: DmaOptions = {}): DmaBuffer {
    this.#check('Container.allocDma');
    if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`allocDma: size must be a positive integer, got ${size}`);
    const flags = ACCESS[options.access ?? 'rw'];
    if (flags === undefined) throw new RangeError(`allocDma: access must be 'rw', 'read' or 'write'`);
    if (options.dmaBits !== undefined && !(Number.isInteger(options.dmaBits) && options.dmaBits >= 12 && options.dmaBits <= 64))
      throw new RangeError(`allocDma: dmaBits must be an integer in [12, 64], got ${options.dmaBits}`);
    const iovas = this.#iova;
    if (iovas === null) {
      throw new VfioError({
        code: 'ERR_VFIO_NO_GROUP',
        op: 'Container.allocDma',
        message: 'the container has no IOMMU yet',
        hint: 'attach a group first (Container.attachGroup or openDevice)',
      });
    }
    const mem = syscall('mmap DMA memory', {}, () => this.backend.dmaAlloc(size, options.hugepages ?? 'prefer'));
    const length = mem.buffer.byteLength;
    const align = Math.max(mem.pageSize, this.iommuPageSize);
    const limit = options.dmaBits === undefined || options.dmaBits >= 53 ? Number.MAX_SAFE_INTEGER : 2 ** options.dmaBits;
    let iova: number | undefined;
    if (options.iova !== undefined) {
      if (!Number.isSafeInteger(options.iova) || options.iova < 0) {
        this.backend.dmaFree(mem.buffer);
        throw new RangeError(`allocDma: iova must be a non-negative safe integer, got ${options.iova}`);
      }
      iova = iovas.reserve(options.iova, length) ? options.iova : undefined;
    } else {
      iova = iovas.alloc(length, align, limit);
    }
    if (iova === undefined) {
      this.backend.dmaFree(mem.buffer);
      throw new VfioError({
        code: 'ERR_VFIO_NO_IOVA',
        op: 'Container.allocDma',
        message:
          options.iova !== undefined
            ? `IOVA range 0x${options.iova.toString(16)}+${length} is in use or outside the IOMMU's ranges`
            : `no free IOVA range of ${formatBytes(length)} below 0x${limit.toString(16)}`,
        hint: `usable IOVA ranges: ${this.#describeRanges()}`,
      });
    }
    try {
      syscall('VFIO_IOMMU_MAP_DMA', { hint: (code) => this.#mapHint(code, length) }, () =>
        this.backend.dmaMap(this.#fd, mem.buffer, 0, length, BigInt(iova), flags),
      );
    } catch (e) {
      iovas.release(iova, length);
      this.backend.dmaFree(mem.buffer);
      throw e;
    }
    const buf = new DmaBuffer(this, mem.buffer, iova, length, mem.pageSize);
    this.#dma.add(buf);
    return buf;
  }

  /** @internal DmaBuffer.free: IOMMU unmap first, then the memory. */
  releaseDma(buf: DmaBuffer): void {
    if (!this.#dma.has(buf)) return;
    const unmapped = syscall('VFIO_IOMMU_UNMAP_DMA', {}, () =>
      this.backend.dmaUnmap(this.#fd, BigInt(buf.iova), BigInt(buf.size), 0),
    );
    if (unmapped !== BigInt(buf.size)) {
      throw new VfioError({
        code: 'ERR_VFIO_UNMAP_SHORT',
        op: 'VFIO_IOMMU_UNMAP_DMA',
        message: `the kernel unmapped ${unmapped} of ${buf.size} bytes at IOVA 0x${buf.iova.toString(16)}; the memory stays allocated`,
      });
    }
    this.#dma.delete(buf);
    this.#iova?.release(buf.iova, buf.size);
    syscall('free DMA memory', {}, () => this.backend.dmaFree(buf.buffer));
    buf.markFreed();
  }

  /** One UNMAP_ALL where the kernel offers it (one ioctl, not one per buffer), then frees the memory. */
  #releaseAllDma(): void {
    if (this.#dma.size === 0) return;
    if (!this.#unmapAll) {
      for (const b of [...this.#dma]) b.free();
      return;
    }
    syscall('VFIO_IOMMU_UNMAP_DMA (all)', {}, () => this.backend.dmaUnmap(this.#fd, 0n, 0n, VFIO_DMA_UNMAP_FLAG_ALL));
    for (const b of [...this.#dma]) {
      this.#dma.delete(b);
      this.#iova?.release(b.iova, b.size);
      syscall('free DMA memory', {}, () => this.backend.dmaFree(b.buffer));
      b.markFreed();
    }
  }

  get dmaBuffers(): readonly DmaBuffer[] {
    return [...this.#dma];
  }

  /** @internal Group.close */
  forgetGroup(g: Group): void {
    this.#groups.delete(g);
  }

  /**
   * Closes every group (and their devices), unmaps and frees every DMA buffer,
   * then closes the container. Idempotent.
   */
  close(): void {
    if (this.#fd < 0) return;
    const errors: unknown[] = [];
    for (const g of [...this.#groups]) {
      try {
        g.closeDevices();
      } catch (e) {
        errors.push(e);
      }
    }
    try {
      this.#releaseAllDma();
    } catch (e) {
      errors.push(e);
    }
    for (const g of [...this.#groups]) {
      try {
        g.close();
      } catch (e) {
        errors.push(e);
      }
    }
    this.backend.close(this.#fd);
    this.#fd = -1;
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, 'Container.close: several steps failed');
  }

  #check(op: string): void {
    if (this.#fd < 0) throw closedError('the container', op);
  }

  #describeRanges(): string {
    const r = this.#iova?.ranges ?? [];
    return r.length ? r.map((x) => `0x${x.start.toString(16)}-0x${x.end.toString(16)}`).join(', ') : 'none left';
  }

  #mapHint(code: string, size: number): string | undefined {
    switch (code) {
      case 'ENOMEM': {
        const limit = this.backend.memlockLimit();
        const mapped = [...this.#dma].reduce((n, b) => n + b.size, 0);
        return (
          `RLIMIT_MEMLOCK is ${limit === undefined ? 'unknown' : formatBytes(limit)}; this mapping needs ${formatBytes(size)} ` +
          `more on top of ${formatBytes(mapped)} already mapped by this container. Raise it: \`ulimit -l\` (limits.conf memlock, ` +
          'or LimitMEMLOCK= in a systemd unit); root with CAP_IPC_LOCK is not limited'
        );
      }
      case 'ENOSPC':
        return `the container's DMA mapping count is exhausted (dma_avail was ${this.#info?.dmaAvail ?? 'unknown'}); use fewer, larger buffers`;
      case 'EEXIST':
        return 'the IOVA range overlaps an existing mapping';
      case 'EINVAL':
        return `IOVA and size must be multiples of the IOMMU page size (${formatBytes(this.iommuPageSize)}) inside ${this.#describeRanges()}`;
      default:
        return undefined;
    }
  }
}

function containerOpenHint(code: string): string | undefined {
  if (code === 'ENOENT') return 'the vfio modules are not loaded: modprobe vfio-pci (and vfio_iommu_type1)';
  if (code === 'EACCES' || code === 'EPERM') return '/dev/vfio/vfio is not accessible to this user (it is normally mode 0666)';
  return undefined;
}

function setIommuHint(code: string): string | undefined {
  if (code === 'EPERM')
    return (
      'the IOMMU offers no interrupt remapping, so vfio refuses it by default. If you accept that risk: ' +
      'modprobe vfio_iommu_type1 allow_unsafe_interrupts=1'
    );
  if (code === 'EBUSY') return 'this group already belongs to another container';
  return undefined;
}
