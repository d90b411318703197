// The seam below the object model: everything the library asks of the kernel.

/**
 * Whether a DMA allocation uses huge pages: never; if available, falling back to normal
 * pages; or only huge pages (the allocation fails otherwise).
 */
export type HugePages = 'never' | 'prefer' | 'require';

/** Memory from Backend.dmaAlloc: page-aligned and zeroed, for mapping into an IOMMU. */
export interface DmaAllocation {
  /** Page-aligned, zeroed; its length is the request rounded up to `pageSize`. */
  readonly buffer: ArrayBuffer;
  /** Bytes per page of this allocation: the system page size, or the huge page size. */
  readonly pageSize: number;
}

/** An eventfd watched on the event loop (Backend.poll); it owns the fd. */
export interface EventPoller {
  /** Keep the process alive while armed (the default). */
  ref(): void;
  /** Let the process exit while this poller is armed. */
  unref(): void;
  /** Stops polling, then closes the eventfd the poller owns. Idempotent. */
  close(): void;
  /** True after close(). */
  readonly closed: boolean;
}

/** What IOMMU_IOAS_IOVA_RANGES reports: where an IOAS accepts mappings. */
export interface IoasRanges {
  /** Inclusive ranges, ascending. */
  readonly ranges: readonly {
    /** First IOVA of the range. */
    start: bigint;
    /** Last IOVA of the range (inclusive). */
    last: bigint;
  }[];
  /** Bytes; a mapping's IOVA must be a multiple of it. */
  readonly alignment: bigint;
}

/**
 * Called by an EventPoller each time its eventfd fires: with the counter read (and reset),
 * or with an Error (`code`, negative `errno`; count 0) when polling or reading the eventfd failed.
 */
export type EventCallback = (err: Error | null, count: number) => void;

/**
 * The seam below the object model: everything the library asks of the kernel.
 * The native addon implements it against the real kernel (nativeBackend); the fake kernel
 * (`vfio/fake`) implements it for tests. Nothing above this interface knows which it has.
 * Pass one as the `backend` option of openDevice and friends.
 *
 * Failed syscalls throw an Error with `code` ('EINVAL'), `errno` (negative: -22) and `syscall`,
 * like Node's system errors (the object model turns them into VfioErrors); bad arguments
 * throw TypeError/RangeError.
 */
export interface Backend {
  /** Which backend this is, for messages: 'native', 'fake', … */
  readonly name: string;
  /** The system page size in bytes: the granule of DMA allocations and mappings. */
  readonly pageSize: number;

  /** open(2), close-on-exec; flags O_RDONLY or O_RDWR (the default), nothing else. Returns the fd. */
  open(path: string, flags?: number): number;
  /** close(2). */
  close(fd: number): void;
  /** Requests outside the backend's allow-list throw a RangeError. Returns the ioctl's result. */
  ioctl(fd: number, request: number, arg?: number | string | Uint8Array): number;
  /** pread(2) into `target` at file offset `offset`; returns the bytes read. */
  pread(fd: number, target: Uint8Array, offset: number): number;
  /** pwrite(2) of `source` at file offset `offset`; returns the bytes written. */
  pwrite(fd: number, source: Uint8Array, offset: number): number;

  /**
   * A shared mapping of `fd` as a detachable ArrayBuffer. `prot` must be PROT_READ|PROT_WRITE:
   * a store into read-only memory would be a SIGSEGV, so read-only regions use pread.
   */
  mmap(fd: number, offset: number, length: number, prot: number): ArrayBuffer;
  /**
   * Detaches the buffer (all views become empty), then unmaps; the range stays reserved by a
   * throwaway placeholder for a while (README, "Safety model").
   */
  munmap(buffer: ArrayBuffer): void;

  /**
   * Anonymous, pre-faulted memory for DMA, `length` bytes rounded up to the page size. The
   * native backend refuses (RangeError) more than the machine's physical memory: the whole
   * size is committed at once.
   */
  dmaAlloc(length: number, huge: HugePages): DmaAllocation;
  /** Refuses (EBUSY) while an IOMMU mapping still names the memory. */
  dmaFree(buffer: ArrayBuffer): void;
  /**
   * VFIO_IOMMU_MAP_DMA of buffer[offset, offset+size) at `iova`; the backend fills vaddr.
   * DmaSpace maps whole buffers (offset 0); a part of one allocation, with its own IOVA and
   * permissions, is how the conformance suites hold both kernels to the rules for split
   * mappings and partial unmaps, which the shim's mapping records must follow too.
   */
  dmaMap(containerFd: number, buffer: ArrayBuffer, offset: number, size: number, iova: bigint, flags: number): void;
  /** VFIO_IOMMU_UNMAP_DMA; returns the bytes the kernel unmapped. */
  dmaUnmap(containerFd: number, iova: bigint, size: bigint, flags: number): bigint;

  /**
   * IOMMU_IOAS_MAP of buffer[offset, offset+size) at the fixed `iova` of IOAS `ioas` in the
   * iommufd `iommufd`; the backend fills user_va. flags: IOMMU_IOAS_MAP_READABLE | _WRITEABLE.
   */
  ioasMap(iommufd: number, ioas: number, buffer: ArrayBuffer, offset: number, size: number, iova: bigint, flags: number): void;
  /** IOMMU_IOAS_UNMAP; returns the bytes unmapped. iova 0 with length 2^64-1 unmaps everything. */
  ioasUnmap(iommufd: number, ioas: number, iova: bigint, length: bigint): bigint;
  /** IOMMU_IOAS_IOVA_RANGES: where the IOAS accepts mappings, and the IOVA alignment it needs. */
  ioasIovaRanges(iommufd: number, ioas: number): IoasRanges;
  /**
   * No-IOMMU mode: locks DMA memory and returns the physical address of each of its
   * `pageSize` pages (the device sees physical memory). EPERM without CAP_SYS_ADMIN.
   */
  dmaPhysical(buffer: ArrayBuffer): BigUint64Array;

  /** A non-blocking, close-on-exec eventfd. */
  eventfd(): number;
  /**
   * Adds to an eventfd's counter. The library only reads eventfds (the kernel signals
   * them); tests and benchmarks signal them with this on either backend, whose eventfds
   * need not be the kernel's (the fake's are not).
   */
  eventfdWrite(fd: number, value: number): void;
  /**
   * The counter (reset to 0), or null when nothing is pending. A counter above 2^53-1 is a
   * RangeError and stays in the eventfd (a Number would round it). A non-eventfd fd is EINVAL.
   */
  eventfdRead(fd: number): number | null;
  /** Watches `fd` on this thread's event loop; the poller takes ownership of the fd. */
  poll(fd: number, callback: EventCallback): EventPoller;

  /** RLIMIT_MEMLOCK that pinned DMA memory counts against, in bytes (Infinity: none); undefined if unknown. */
  memlockLimit(): number | undefined;
}

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const O_RDONLY = 0;
export const O_RDWR = 2;
