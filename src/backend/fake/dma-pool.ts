// The process side of DMA memory, as the native shim provides it: anonymous or
// hugepage mmaps (dmaAlloc), their release (dmaFree, refused while an IOMMU mapping
// still names one), and mlock plus /proc/self/pagemap for no-IOMMU mode (dmaPhysical).
//
// Memory whose physical addresses were handed out may still be the target of a no-IOMMU
// device's DMA after the driver freed it (nothing translates or revokes those addresses):
// while such a device is open, a free detaches the caller's buffer but parks the pages,
// still mlocked, still where the device would write, until the last such device closes.
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
  #parked: FakeMem[] = [];
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
    const mem: FakeMem = { buffer, bytes, maps: 0, hugepages, phys, mlocked: 0, addressesShown: false };
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

  /** dmaFree; `park`: a no-IOMMU device is open, so memory whose addresses it may know is parked. */
  free(buffer: ArrayBuffer, park: boolean): void {
    const m = this.get(buffer, 'dmaFree');
    if (m.maps > 0) throw errnoError('EBUSY', 'dmaFree', `${m.maps} IOMMU mapping(s) still name this memory; unmap them first`);
    this.#mems.delete(buffer);
    // Detaches the caller's buffer (every view becomes empty); the memory moves to the clone.
    const moved = structuredClone(buffer, { transfer: [buffer] });
    if (park && m.addressesShown) {
      m.bytes = new Uint8Array(moved);
      this.#parked.push(m);
    } else {
      this.#release(m);
    }
  }

  /** The last no-IOMMU device closed: parked memory goes back to the allocator. */
  releaseParked(): void {
    for (const m of this.#parked) this.#release(m);
    this.#parked = [];
  }

  #release(m: FakeMem): void {
    this.#hugepages += m.hugepages;
    this.phys.remove(m);
    this.#memlock.locked -= m.mlocked;
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
    m.addressesShown = true;
    return this.phys.addresses(m);
  }
}
