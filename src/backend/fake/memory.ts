// The fake's DMA memory as a device reaches it: the buffers dmaAlloc hands out,
// where their pages sit in "physical" memory, and the one copy loop every DMA
// goes through, whether an IOMMU translates the address (type1, IOAS) or nothing
// does (no-IOMMU mode).
//
// Physical placement is arithmetic (page i of a buffer is at base + i * 2 * pageSize),
// so a huge allocation costs nothing until its addresses are asked for. Like a real
// allocator, consecutive 4 KiB pages of one buffer do not come out adjacent (code that
// needs physically contiguous memory must ask for hugepages); each 2 MiB hugepage is
// contiguous in itself, and not adjacent to the next one either. Space is handed out
// first-fit from 256 MiB up and reused once freed, so addresses stay below 4 GiB
// (where a 32-bit DMA engine reaches) unless much memory is live.
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../../uapi/vfio-iommu.js';

const PAGE = 4096;
const PHYS_START = 0x1000_0000n;

export interface PhysicalPlacement {
  /** Physical address of the buffer's first page. */
  readonly base: bigint;
  /** The allocation's page size: 4 KiB or 2 MiB. */
  readonly pageSize: number;
}

/** DMA memory handed out by the fake's dmaAlloc. */
export interface FakeMem {
  readonly buffer: ArrayBuffer;
  /** The memory; after a parked free (DmaPool.free), a view of where it moved. */
  bytes: Uint8Array;
  /** IOMMU mappings (type1 or IOAS) that name it: it cannot be freed while any does. */
  maps: number;
  /** 2 MiB pages it took from the kernel's pool. */
  readonly hugepages: number;
  /** Where its pages are in physical memory. */
  readonly phys: PhysicalPlacement;
  /** Bytes mlock()ed for dmaPhysical (counted against RLIMIT_MEMLOCK until freed). */
  mlocked: number;
  /** dmaPhysical handed out its physical addresses: a no-IOMMU device may have been given them. */
  addressesShown: boolean;
}

/** IOVA [iova, iova+size) translates to mem.bytes[offset...]; flags: VFIO_DMA_MAP_FLAG_READ/WRITE. */
export interface Mapping {
  iova: bigint;
  size: bigint;
  mem: FakeMem;
  offset: number;
  flags: number;
}

/** Process-wide locked-memory accounting, shared by every container and IOAS of one kernel. */
export interface MemlockAccount {
  /** Bytes; Infinity behaves like CAP_IPC_LOCK. */
  limit: number;
  locked: number;
}

/** A DMA access the IOMMU (or the bus) refused. */
export interface DmaFault {
  /** The device address accessed. */
  iova: number;
  /** Bytes. */
  length: number;
  /** A write (true) or a read (false) by the device. */
  write: boolean;
  /** Why: 'bus master disabled', 'no IOMMU domain', an unmapped IOVA, a permission, … */
  reason: string;
}

export type DmaResult = { bytes?: Uint8Array; fault?: DmaFault };

/** Where one address lands: a buffer, the offset into it, and how many bytes follow contiguously; or why it faults. */
type Resolve = (addr: bigint) => { mem: FakeMem; offset: number; left: number } | string;

// Every piece is resolved before a byte moves: a fault anywhere leaves memory untouched.
function copy(resolve: Resolve, addr: bigint, length: number, write: boolean, data?: Uint8Array): DmaResult {
  const pieces: { mem: FakeMem; at: number; len: number; from: number }[] = [];
  let done = 0;
  while (done < length) {
    const pos = addr + BigInt(done);
    const hit = resolve(pos);
    if (typeof hit === 'string') return { fault: { iova: Number(pos), length, write, reason: hit } };
    const len = Math.min(length - done, hit.left);
    pieces.push({ mem: hit.mem, at: hit.offset, len, from: done });
    done += len;
  }
  if (write) {
    for (const p of pieces) p.mem.bytes.set(data!.subarray(p.from, p.from + p.len), p.at);
    return {};
  }
  const out = new Uint8Array(length);
  for (const p of pieces) out.set(p.mem.bytes.subarray(p.at, p.at + p.len), p.from);
  return { bytes: out };
}

/** A device's DMA through IOMMU mappings: every byte must be mapped with the needed permission. */
export function copyThrough(maps: readonly Mapping[], iova: number, length: number, write: boolean, data?: Uint8Array): DmaResult {
  const need = write ? VFIO_DMA_MAP_FLAG_WRITE : VFIO_DMA_MAP_FLAG_READ;
  const resolve: Resolve = (pos) => {
    const m = maps.find((x) => x.iova <= pos && pos < x.iova + x.size);
    if (!m) return 'not mapped';
    if ((m.flags & need) === 0) return write ? 'mapped read-only' : 'mapped write-only';
    return { mem: m.mem, offset: m.offset + Number(pos - m.iova), left: Number(m.iova + m.size - pos) };
  };
  return copy(resolve, BigInt(iova), length, write, data);
}

/** The "physical" frames behind every live buffer, for no-IOMMU mode, where a device addresses them directly. */
export class PhysicalMemory {
  /** Reserved spans, by base ascending; a buffer's span includes its gaps. */
  #spans: { base: bigint; end: bigint }[] = [];
  #live = new Set<FakeMem>();

  /** Reserves room for `count` pages of `pageSize`, each followed by an equal gap. */
  place(pageSize: number, count: number): PhysicalPlacement {
    const size = BigInt(pageSize);
    const span = 2n * size * BigInt(count);
    const align = (x: bigint) => ((x + size - 1n) / size) * size;
    let base = PHYS_START;
    for (const s of this.#spans) {
      if (base + span <= s.base) break;
      if (s.end > base) base = align(s.end);
    }
    this.#spans.push({ base, end: base + span });
    this.#spans.sort((x, y) => (x.base < y.base ? -1 : 1));
    return { base, pageSize };
  }

  /** Makes the memory reachable by device DMA. */
  add(mem: FakeMem): void {
    this.#live.add(mem);
  }

  /** Its frames went back to the allocator: DMA there no longer reaches it, and the space is free again. */
  remove(mem: FakeMem): void {
    this.#live.delete(mem);
    this.#spans = this.#spans.filter((s) => s.base !== mem.phys.base);
  }

  /** The physical address of each 4 KiB page of `mem`. */
  addresses(mem: FakeMem): BigUint64Array {
    const out = new BigUint64Array(mem.bytes.length / PAGE);
    const { base, pageSize } = mem.phys;
    const perPage = pageSize / PAGE;
    for (let k = 0; k < out.length; k++) {
      const page = Math.floor(k / perPage);
      out[k] = base + BigInt(page) * 2n * BigInt(pageSize) + BigInt((k % perPage) * PAGE);
    }
    return out;
  }

  /** A device's access to physical memory; an address that is no buffer's is a fault and nothing moves. */
  access(addr: number, length: number, write: boolean, data?: Uint8Array): DmaResult {
    return copy((pos) => this.#find(pos) ?? 'no memory at this physical address', BigInt(addr), length, write, data);
  }

  #find(addr: bigint): { mem: FakeMem; offset: number; left: number } | null {
    for (const mem of this.#live) {
      const { base, pageSize } = mem.phys;
      const d = addr - base;
      if (d < 0n) continue;
      const step = 2n * BigInt(pageSize);
      const page = d / step;
      const within = Number(d % step);
      const offset = Number(page) * pageSize + within;
      if (within < pageSize && offset < mem.bytes.length) return { mem, offset, left: pageSize - within };
    }
    return null;
  }
}
