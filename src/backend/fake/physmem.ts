/**
 * "Physical" frames behind the fake's DMA memory, for no-IOMMU mode, where a device
 * addresses physical memory: dmaPhysical reports them and device models' DMA is
 * translated through them. Like a real allocator, consecutive 4 KiB pages of one
 * buffer do not come out adjacent (so code that needs physically contiguous memory
 * must ask for hugepages); each 2 MiB hugepage is contiguous in itself, and is not
 * adjacent to the next one either.
 *
 * Placement is arithmetic (page i of a buffer is at base + i * 2 * pageSize), so a
 * huge allocation costs nothing until its addresses are asked for. Space is handed
 * out first-fit from 256 MiB up and reused once freed, so addresses stay below
 * 4 GiB (where a 32-bit DMA engine reaches) unless much memory is live.
 */
import type { DmaFault, FakeMem } from './iommu.js';

const PAGE = 4096;
const START = 0x1000_0000n;

export interface PhysicalPlacement {
  /** Physical address of the buffer's first page. */
  readonly base: bigint;
  /** The allocation's page size: 4 KiB or 2 MiB. */
  readonly pageSize: number;
}

export class PhysicalMemory {
  /** Reserved spans, by base ascending; a buffer's span includes its gaps. */
  #spans: { base: bigint; end: bigint }[] = [];
  #live = new Set<FakeMem>();

  /** Reserves room for `count` pages of `pageSize`, each followed by an equal gap. */
  place(pageSize: number, count: number): PhysicalPlacement {
    const size = BigInt(pageSize);
    const span = 2n * size * BigInt(count);
    const align = (x: bigint) => ((x + size - 1n) / size) * size;
    let base = START;
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

  /** Where physical address `addr` lives: a buffer and an offset into it, and how many bytes follow in that page. */
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

  /** A device's access to physical memory; an address that is no buffer's is a fault and nothing moves. */
  access(addr: number, length: number, write: boolean, data?: Uint8Array): { bytes?: Uint8Array; fault?: DmaFault } {
    const pieces: { mem: FakeMem; at: number; len: number; from: number }[] = [];
    let done = 0;
    while (done < length) {
      const pos = addr + done;
      const hit = this.#find(BigInt(pos));
      if (!hit) return { fault: { iova: pos, length, write, reason: 'no memory at this physical address' } };
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
}
