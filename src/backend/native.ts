// The Backend over the native addon (native/*.cc). The addon is found by
// node-gyp-build (prebuilds/ or build/); VFIO_NATIVE_ADDON names another build,
// such as the ASan one from `node native/cmake-build.mjs --sanitize`.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import type { Backend, DmaAllocation, EventCallback, EventPoller, FdHandle, HugePages } from './backend.js';
import { memlockLimit } from '../host/limits.js';

// The calls the addon offers exactly as the Backend does; the rest differ in shape.
// Files are FdHandles the addon makes (native/handle.cc); every call takes one, never a number.
type Direct =
  | 'open' | 'close' | 'ioctl' | 'groupDeviceFd' | 'bindIommufd' | 'pread' | 'pwrite' | 'mmap' | 'munmap' | 'dmaFree' | 'dmaMap'
  | 'dmaUnmap' | 'ioasMap' | 'ioasUnmap' | 'dmaPhysical' | 'eventfdWrite' | 'eventfdRead';

interface Addon extends Pick<Backend, Direct> {
  dmaAlloc(length: number, huge: number): DmaAllocation;
  ioasIovaRanges(file: FdHandle, ioas: number): { ranges: BigUint64Array; alignment: bigint };
  eventfd(init?: number): FdHandle;
  /** Owns the eventfd's handle once made (close(handle) is EBUSY; poller.close() closes it). */
  Poller: new (eventfd: FdHandle, cb: EventCallback) => EventPoller;
  /** The class of the addon's handles, for instanceof; calling it throws (only the addon makes them). */
  FdHandle: abstract new () => FdHandle;
  constants: { pageSize: number };
  /**
   * A memfd of `size` bytes sealed against any size change (handle kind 'memfd'): besides a
   * VFIO device, the only file mmap accepts, within its size (a regular file could be
   * truncated under the mapping). For tests.
   */
  memfd(size: number): FdHandle;
  /**
   * Munmaps now every released range the shim still holds reserved with a placeholder
   * (native/memory.cc, "The quarantine"). For tests and measurements.
   */
  drainQuarantine(): void;
  /** The code the shim's errors carry for an errno ('EBADFD'); for tests of the table. */
  errnoName(err: number): string;
}

const require = createRequire(import.meta.url);
// src/backend/ and dist/backend/ both sit two levels below the package root.
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

let addon: Addon | undefined;

export function loadAddon(): Addon {
  if (addon) return addon;
  const override = process.env.VFIO_NATIVE_ADDON;
  try {
    addon = (override ? require(override) : require('node-gyp-build')(packageRoot)) as Addon;
  } catch (e) {
    throw new Error(
      `vfio: the native addon could not be loaded (${(e as Error).message}). ` +
        'Build it with `npm rebuild vfio` (needs python3, make and a C++ compiler).',
      { cause: e },
    );
  }
  return addon;
}

const HUGE: Record<HugePages, number> = { never: 0, prefer: 1, require: 2 };

/**
 * A new Backend over the native addon (the real kernel). Throws an Error when the addon
 * cannot be loaded (not built for this platform: `npm rebuild vfio`). Most callers want
 * defaultBackend(), which the open functions use when no `backend` option is given.
 */
export function nativeBackend(): Backend {
  const a = loadAddon();
  return {
    name: 'native',
    pageSize: a.constants.pageSize,
    open: (path, flags) => a.open(path, flags),
    close: (file) => a.close(file),
    ioctl: (file, request, arg) => a.ioctl(file, request, arg),
    groupDeviceFd: (group, name) => a.groupDeviceFd(group, name),
    bindIommufd: (device, iommufd, token) => a.bindIommufd(device, iommufd, token),
    pread: (file, target, offset) => a.pread(file, target, offset),
    pwrite: (file, source, offset) => a.pwrite(file, source, offset),
    mmap: (file, offset, length, prot) => a.mmap(file, offset, length, prot),
    munmap: (buffer) => a.munmap(buffer),
    dmaAlloc: (length, huge) => {
      const mode = HUGE[huge];
      if (mode === undefined) throw new RangeError(`dmaAlloc: hugepages must be 'never', 'prefer' or 'require'`);
      return a.dmaAlloc(length, mode);
    },
    dmaFree: (buffer) => a.dmaFree(buffer),
    dmaMap: (container, buffer, offset, size, iova, flags) => a.dmaMap(container, buffer, offset, size, iova, flags),
    dmaUnmap: (container, iova, size, flags) => a.dmaUnmap(container, iova, size, flags),
    ioasMap: (iommufd, ioas, buffer, offset, size, iova, flags) => a.ioasMap(iommufd, ioas, buffer, offset, size, iova, flags),
    ioasUnmap: (iommufd, ioas, iova, length) => a.ioasUnmap(iommufd, ioas, iova, length),
    ioasIovaRanges: (iommufd, ioas) => {
      const { ranges, alignment } = a.ioasIovaRanges(iommufd, ioas);
      const out: { start: bigint; last: bigint }[] = [];
      for (let k = 0; k + 1 < ranges.length; k += 2) out.push({ start: ranges[k]!, last: ranges[k + 1]! });
      return { ranges: out, alignment };
    },
    dmaPhysical: (buffer) => a.dmaPhysical(buffer),
    eventfd: () => a.eventfd(0),
    eventfdWrite: (eventfd, value) => a.eventfdWrite(eventfd, value),
    eventfdRead: (eventfd) => a.eventfdRead(eventfd),
    poll: (eventfd, callback) => new a.Poller(eventfd, callback),
    memlockLimit: () => memlockLimit(),
  };
}

let shared: Backend | undefined;
/** The process-wide native backend, created on first use. */
export function defaultBackend(): Backend {
  shared ??= nativeBackend();
  return shared;
}
