/**
 * The memory the simulator and the driver share: a memfd (the native mmap maps no regular
 * file, which could be truncated under it), mapped MAP_SHARED by both through the same native
 * mmap the Region class uses for real BARs; the C programs open it as /proc/<pid>/fd/<fd>. BAR0 is a Region over the file's first 128 KiB, so the driver's register
 * accesses take exactly the path they take on a VFIO device (Atomics on a mapping).
 */
import { loadAddon, nativeBackend } from '../../src/backend/native.js';
import type { Backend, FdHandle } from '../../src/backend/backend.js';
import { Region } from '../../src/model/region.js';
import { VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE } from '../../src/uapi/vfio-region.js';
import { BAR_SIZE, CTL_OFFSET, FILE_SIZE } from './layout.js';

const PROT_RW = 3; // PROT_READ | PROT_WRITE

export interface SharedNic {
  readonly path: string;
  readonly backend: Backend;
  readonly fd: FdHandle;
  readonly bar: Region;
  /** The control page as 32-bit words (see layout.ts), for Atomics. */
  readonly ctl: Uint32Array;
  close(): void;
}

export function createSharedNic(): SharedNic {
  // A fresh, zeroed memfd per run: the simulator starts from power-on state.
  const fd = loadAddon().memfd(FILE_SIZE);
  const path = `/proc/${process.pid}/fd/${fd.fd}`;
  const backend = nativeBackend();
  const bar = new Region(backend, fd, 'sim', 'BAR0', {
    argsz: 32,
    flags: VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP,
    index: 0,
    size: BigInt(BAR_SIZE),
    offset: 0n,
    caps: { msixMappable: false },
  }, true);
  const ctlBuffer = backend.mmap(fd, CTL_OFFSET, 4096, PROT_RW);
  let closed = false;
  return {
    path,
    backend,
    fd,
    bar,
    ctl: new Uint32Array(ctlBuffer),
    close() {
      if (closed) return;
      closed = true;
      bar.close();
      backend.munmap(ctlBuffer);
      backend.close(fd);
    },
  };
}
