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

/**
 * What a backend found an open file to be, once, when it opened it. VFIO reuses ioctl
 * numbers across kinds (MAP_DMA on a container is PCI_HOT_RESET on a device), so every
 * call checks the kind recorded in the handle, never a number JS could have swapped.
 */
export type FileKind = 'container' | 'group' | 'device' | 'iommufd' | 'eventfd' | 'memfd' | 'other';

/**
 * An open file of a backend: made by `open`, `groupDeviceFd` and `eventfd` (and the native
 * addon's `memfd`), and owning its fd. Every call that reaches a file takes its handle, never
 * an fd number, so a number closed and reused by other code (another worker thread, `fs`)
 * cannot redirect a call. `close` closes the fd exactly once. A handle works only with the
 * backend that made it; one from elsewhere, or a number, is a TypeError, and a closed handle
 * fails with EBADF. A handle nobody closed closes its fd when it is garbage-collected.
 */
export interface FdHandle {
  /**
   * The fd number, for the structs that carry one (SET_IRQS eventfds, hot-reset group lists),
   * which the kernel checks itself; -1 once closed.
   */
  readonly fd: number;
  /** What the file is, as classified when the handle was made. */
  readonly kind: FileKind;
  /** True once closed (by close(), or by the poller that owned it). */
  readonly closed: boolean;
}

/** An eventfd watched on the event loop (Backend.poll); it owns the eventfd's handle. */
export interface EventPoller {
  /** Keep the process alive while armed (the default). */
  ref(): void;
  /** Let the process exit while this poller is armed. */
  unref(): void;
  /** Stops polling, then closes the eventfd (its handle reads as closed). Idempotent. */
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
 * throw TypeError/RangeError. Files are reached through FdHandles, never fd numbers.
 */
export interface Backend {
  /** Which backend this is, for messages: 'native', 'fake', … */
  readonly name: string;
  /** The system page size in bytes: the granule of DMA allocations and mappings. */
  readonly pageSize: number;

  /**
   * open(2), close-on-exec; flags O_RDONLY or O_RDWR (the default), nothing else. The handle
   * records what the file is (FileKind), looked up once, here.
   */
  open(path: string, flags?: number): FdHandle;
  /**
   * close(2), exactly once: a closed handle is EBADF, and an eventfd a poller owns is EBUSY
   * (close the poller). Closing a container or iommufd first unmaps every DMA mapping made
   * through the handle (the kernel would keep them while a group or device still holds the
   * address space), so their memory can be freed; a mapping that cannot be unmapped keeps its
   * memory from ever being freed.
   */
  close(file: FdHandle): void;
  /**
   * Requests outside the backend's allow-list throw a RangeError; a request not valid on this
   * kind of file is ENOTTY. An fd argument (VFIO_GROUP_SET_CONTAINER) may be a handle or a
   * number. Returns the ioctl's result.
   */
  ioctl(file: FdHandle, request: number, arg?: number | string | Uint8Array | FdHandle): number;
  /**
   * VFIO_GROUP_GET_DEVICE_FD: the device `name` (its PCI address) of the group, as a new
   * device handle. The only ioctl that makes an fd, hence not through `ioctl`.
   */
  groupDeviceFd(group: FdHandle, name: string): FdHandle;
  /**
   * VFIO_DEVICE_BIND_IOMMUFD: binds a device cdev to an iommufd and returns the device's id
   * in it (out_devid). With `token`, the 16 bytes of a VF token (uuid_t order), the backend
   * sets VFIO_DEVICE_BIND_FLAG_TOKEN and points the kernel at its own copy of them (argsz
   * 24, Linux 6.17+; an older kernel refuses the flag with EINVAL); without, it sends the
   * 16 bytes every cdev kernel reads. Not through `ioctl`, since the token sits behind a
   * pointer JS never supplies. Another kind of file than a device is ENOTTY, an `iommufd`
   * that is no iommufd EBADFD (the kernel's answer); a token of another size a RangeError.
   */
  bindIommufd(device: FdHandle, iommufd: FdHandle, token?: Uint8Array): number;
  /** pread(2) into `target` at file offset `offset`; returns the bytes read. */
  pread(file: FdHandle, target: Uint8Array, offset: number): number;
  /** pwrite(2) of `source` at file offset `offset`; returns the bytes written. */
  pwrite(file: FdHandle, source: Uint8Array, offset: number): number;

  /**
   * A shared mapping of a device file as a detachable ArrayBuffer. `prot` must be
   * PROT_READ|PROT_WRITE: a store into read-only memory would be a SIGSEGV, so read-only
   * regions use pread. Any other kind of file is ENODEV (the native addon also maps its own
   * memfds, for tests).
   */
  mmap(file: FdHandle, offset: number, length: number, prot: number): ArrayBuffer;
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
  /**
   * Refuses (EBUSY) while an IOMMU mapping still names the memory. Memory whose physical
   * addresses dmaPhysical handed out is freed for the caller (the buffer is detached) but its
   * pages are kept, locked and out of reach, while any no-IOMMU device file is open, since
   * such a device may still DMA to them; they go back when the last one closes.
   */
  dmaFree(buffer: ArrayBuffer): void;
  /**
   * VFIO_IOMMU_MAP_DMA of buffer[offset, offset+size) at `iova` on a container; the backend
   * fills vaddr. DmaSpace maps whole buffers (offset 0); a part of one allocation, with its own
   * IOVA and permissions, is how the conformance suites hold both kernels to the rules for
   * split mappings and partial unmaps, which the backend's mapping records must follow too.
   */
  dmaMap(container: FdHandle, buffer: ArrayBuffer, offset: number, size: number, iova: bigint, flags: number): void;
  /**
   * VFIO_IOMMU_UNMAP_DMA; returns the bytes the kernel unmapped. A range that cuts a mapping
   * made through this handle is refused (EINVAL) before the kernel sees it.
   */
  dmaUnmap(container: FdHandle, iova: bigint, size: bigint, flags: number): bigint;

  /**
   * IOMMU_IOAS_MAP of buffer[offset, offset+size) at the fixed `iova` of IOAS `ioas` in the
   * iommufd; the backend fills user_va. flags: IOMMU_IOAS_MAP_READABLE | _WRITEABLE.
   */
  ioasMap(iommufd: FdHandle, ioas: number, buffer: ArrayBuffer, offset: number, size: number, iova: bigint, flags: number): void;
  /**
   * IOMMU_IOAS_UNMAP; returns the bytes unmapped. iova 0 with length 2^64-1 unmaps everything.
   * A range that cuts a mapping made through this handle is refused (ENOENT) before the kernel
   * sees it: the kernel would unmap the areas before the cut and then fail.
   */
  ioasUnmap(iommufd: FdHandle, ioas: number, iova: bigint, length: bigint): bigint;
  /** IOMMU_IOAS_IOVA_RANGES: where the IOAS accepts mappings, and the IOVA alignment it needs. */
  ioasIovaRanges(iommufd: FdHandle, ioas: number): IoasRanges;
  /**
   * No-IOMMU mode: locks DMA memory and returns the physical address of each of its
   * `pageSize` pages (the device sees physical memory). EPERM without CAP_SYS_ADMIN.
   */
  dmaPhysical(buffer: ArrayBuffer): BigUint64Array;

  /** A non-blocking, close-on-exec eventfd. */
  eventfd(): FdHandle;
  /**
   * Adds to an eventfd's counter. The library only reads eventfds (the kernel signals
   * them); tests and benchmarks signal them with this on either backend, whose eventfds
   * need not be the kernel's (the fake's are not).
   */
  eventfdWrite(eventfd: FdHandle, value: number): void;
  /**
   * The counter (reset to 0), or null when nothing is pending. A counter above 2^53-1 is a
   * RangeError and stays in the eventfd (a Number would round it). Any other kind of file is
   * EINVAL.
   */
  eventfdRead(eventfd: FdHandle): number | null;
  /**
   * Watches an eventfd on this thread's event loop. The poller owns the handle from then on:
   * close(handle) is EBUSY while it is armed, and poller.close() closes it.
   */
  poll(eventfd: FdHandle, callback: EventCallback): EventPoller;

  /** RLIMIT_MEMLOCK that pinned DMA memory counts against, in bytes (Infinity: none); undefined if unknown. */
  memlockLimit(): number | undefined;
}

export const PROT_READ = 1;
export const PROT_WRITE = 2;
export const O_RDONLY = 0;
export const O_RDWR = 2;
