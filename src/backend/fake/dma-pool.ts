// The process side of DMA memory, as the native shim provides it: anonymous or
// hugepage mmaps (dmaAlloc), their release (dmaFree, refused while an IOMMU mapping
// still names one), and mlock plus /proc/self/pagemap for no-IOMMU mode (dmaPhysical).
import { errnoError } from './errno.js';
import { argU64 } from '../args.js';
import { PhysicalMemory, type FakeMem, type MemlockAccount } from './memory.js';
import type { Capabilities } from './objects.js';
import type { DmaAllocation, HugePages } from '../backend.js';

const PAGE = 4096;
const HUGE = 2 ** 21;

export class DmaPool {
  readonly phys = new PhysicalMemory();
  #mems = new Map<ArrayBuffer, FakeMem>();
  #hugepages: number;
  #memlock: MemlockAccount;
  #caps: Capabilities;

  /** `hugepages`: free 2 MiB pages (/proc/sys/vm/nr_hugepages). */
  constructor(hugepages: number, memlock: MemlockAccount, caps: Capabilities) {
    this.#hugepages = hugepages;
    this.#memlock = memlock;
    this.#caps = caps;
  }

  has(buffer: ArrayBuffer): boolean {
    return this.#mems.has(buffer);
  }

  alloc(length: number, huge: HugePages): DmaAllocation {
    const len64 = argU64(length, 'dmaAlloc', 'length');
    if (len64 === 0n) throw new RangeError('dmaAlloc: length must be greater than 0');
    if (huge !== 'never' && huge !== 'prefer' && huge !== 'require') throw new RangeError(`dmaAlloc: hugepages must be 'never', 'prefer' or 'require'`);
    if (len64 > 1n << 40n) throw errnoError('ENOMEM', 'mmap', 'DMA memory');
    length = Number(len64);
    let pageSize = PAGE;
    if (huge !== 'never') {
      const need = Math.ceil(length / HUGE);
      if (need <= this.#hugepages) {
        this.#hugepages -= need;
        pageSize = HUGE;
      } else if (huge === 'require') {
        throw errnoError('ENOMEM', 'mmap', '2 MiB hugepages (see /proc/sys/vm/nr_hugepages)');
      }
    }
    let buffer: ArrayBuffer;
    let bytes: Uint8Array;
    try {
      buffer = new ArrayBuffer(Math.ceil(length / pageSize) * pageSize);
      // Node 20 makes an ArrayBuffer above 4 GiB but no view of it.
      bytes = new Uint8Array(buffer);
    } catch {
      this.#hugepages += pageSize === PAGE ? 0 : Math.ceil(length / pageSize);
      throw errnoError('ENOMEM', 'mmap', 'DMA memory');
    }
    const hugepages = pageSize === PAGE ? 0 : buffer.byteLength / pageSize;
    const phys = this.phys.place(pageSize, buffer.byteLength / pageSize);
    const mem: FakeMem = { buffer, bytes, maps: 0, hugepages, phys, mlocked: 0 };
    this.#mems.set(buffer, mem);
    this.phys.add(mem);
    return { buffer, pageSize };
  }

  /** The memory behind a buffer dmaAlloc returned; a TypeError naming `fn` for anything else. */
  get(buffer: ArrayBuffer, fn: string): FakeMem {
    if (!(buffer instanceof ArrayBuffer)) throw new TypeError(`${fn}: buffer must be an ArrayBuffer returned by mmap or dmaAlloc`);
    const m = this.#mems.get(buffer);
    if (!m) throw new TypeError(`${fn}: buffer was not returned by mmap/dmaAlloc, or was already released`);
    return m;
  }

  free(buffer: ArrayBuffer): void {
    const m = this.get(buffer, 'dmaFree');
    if (m.maps > 0) throw errnoError('EBUSY', 'dmaFree', `${m.maps} IOMMU mapping(s) still name this memory; unmap them first`);
    this.#mems.delete(buffer);
    this.#hugepages += m.hugepages;
    this.phys.remove(m);
    this.#memlock.locked -= m.mlocked;
    structuredClone(buffer, { transfer: [buffer] }); // detaches: every view becomes empty
  }

  physical(buffer: ArrayBuffer): BigUint64Array {
    const m = this.get(buffer, 'dmaPhysical');
    // mlock() first, as the shim does: it counts against RLIMIT_MEMLOCK like pinning.
    if (m.mlocked === 0) {
      if (this.#memlock.limit === 0) throw errnoError('EPERM', 'mlock', 'DMA memory for no-IOMMU mode');
      if (this.#memlock.locked + m.bytes.length > this.#memlock.limit) throw errnoError('ENOMEM', 'mlock', 'DMA memory for no-IOMMU mode');
      this.#memlock.locked += m.bytes.length;
      m.mlocked = m.bytes.length;
    }
    if (!this.#caps.sysAdmin) throw errnoError('EPERM', 'dmaPhysical', '/proc/self/pagemap hides frame numbers without CAP_SYS_ADMIN');
    return this.phys.addresses(m);
  }
}
