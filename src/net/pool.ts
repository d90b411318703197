/**
 * The packet-buffer pool: DPDK's mempool/mbuf and ixy's pkt_buf, rethought for JavaScript.
 *
 * A pool is `count` fixed-size buffers in DMA memory, each known by an integer id
 * (0..count-1). Everything about a buffer lives in typed arrays indexed by id, allocated once:
 * its IOVA (as two Uint32 halves, so a driver writes a descriptor address with two plain
 * stores and no BigInt or division), frame length, port and queue, flags, receive timestamp,
 * and owner. Its bytes are reachable through a Uint8Array view per id, made once. Free ids
 * sit on a Uint32Array stack: alloc and free move ids in bulk between it and the caller's
 * Uint32Array. Nothing is allocated per packet.
 *
 * Ownership is one byte per id (`owner`): free (on the stack), the app's, or the NIC's (in a
 * ring). Every transfer checks it, so a double free, sending a free id or freeing or sending
 * an id the NIC holds is a named VfioError instead of a corrupted ring. What the check cannot
 * see: an id the app freed and then kept using after another alloc handed it out again (the
 * owner is "app" again, rightly so for the new holder). Measured on the 2-vCPU dev VM, a
 * txBurst-shaped loop of 32 ids: 7-8 ns per frame without the check, 8.5-9 ns with it; and
 * writing the descriptor address from the lo/hi halves costs about 8 ns per frame less
 * than splitting a Float64 IOVA (a modulo and a division).
 *
 * Memory comes in chunks of at most 2 MiB, one allocDma each, and a buffer never spans two:
 * without an IOMMU (no-IOMMU mode) a DMA address is physical, and only a hugepage is
 * physically contiguous, so each chunk must fit one.
 *
 * In a chunk of 4 KiB pages, a buffer that fits in a page is not placed across a page
 * boundary (as DPDK's mempool does for memory that is not IOVA-contiguous): the IOVA range is
 * contiguous, but behind an emulated IOMMU the pages behind it are not, and QEMU 7.2's e1000e
 * drops a transmit buffer it cannot map in one piece (net_tx_pkt maps each descriptor with one
 * pci_dma_map). That costs memory only when a page holds no whole number of buffers: a
 * 2048-byte buffer with a 12-byte virtio-net headroom takes a page of its own; the default
 * 2048-byte buffers, or any chunk on a hugepage, are laid out back to back.
 */
import type { HugePages } from '../backend/backend.js';
import type { DmaBuffer } from '../model/dma.js';
import type { DmaOptions } from '../model/dma-space.js';
import { VfioError } from '../errors.js';
import { netError } from './errors.js';

/** Where a pool gets its memory: a DmaSpace (Container, IommufdContext) or a Device (its space). */
export interface DmaAllocator {
  /** Allocates pinned memory mapped for the device's DMA (see DmaSpace.allocDma). */
  allocDma(size: number, options?: DmaOptions): DmaBuffer;
}

/** A buffer's owner as `PacketPool.owner` records it. */
export const BufferOwner = {
  /** On the pool's free stack. */
  FREE: 0,
  /** The app's: allocated, or received from a port. */
  APP: 1,
  /** A port's ring's: the NIC may read or write it. */
  NIC: 2,
} as const;

/** One of the BufferOwner values. */
export type BufferOwner = (typeof BufferOwner)[keyof typeof BufferOwner];

/** Options of PacketPool.create. */
export interface PacketPoolOptions {
  /** Number of buffers; ids run 0..count-1. */
  count: number;
  /** Bytes of frame data per buffer (the data room a NIC may fill). Default 2048. */
  bufferSize?: number;
  /**
   * Bytes reserved in front of each buffer's data, for a header a driver puts before the
   * frame (virtio-net's 12-byte header, for instance). Default 0: the e1000e needs none.
   * The IOVA and the `data` view start after it; `raw` views include it.
   */
  headroom?: number;
  /** Bytes per DMA allocation, at most (and by default) 2 MiB: see the module comment. */
  chunkSize?: number;
  /** Passed to allocDma; by default the space's own default ('prefer', or 'require' without an IOMMU). */
  hugepages?: HugePages;
  /** Passed to allocDma: the device's DMA address width. */
  dmaBits?: number;
}

const MAX_CHUNK = 2 * 1024 * 1024;
/** The small page size: the boundary a buffer is kept off (see the module comment). */
const PAGE = 4096;
/** Buffers start on a cache line: a NIC's DMA write of a frame then touches whole lines. */
const ALIGN = 64;

/** A pool of fixed-size DMA packet buffers, each an integer id; see the module comment. */
export class PacketPool {
  /** Number of buffers. */
  readonly capacity: number;
  /** Bytes of frame data per buffer. */
  readonly bufferSize: number;
  /** Bytes in front of each buffer's data. */
  readonly headroom: number;
  /** Bytes a buffer takes (headroom + bufferSize, rounded up to 64); the next starts there, or at the next 4 KiB page when it would cross one (see the module comment). */
  readonly stride: number;
  /** Low 32 bits of each buffer's data IOVA (after the headroom). */
  readonly iovaLo: Uint32Array;
  /** High 32 bits of each buffer's data IOVA. */
  readonly iovaHi: Uint32Array;
  /** Frame length in bytes: set by a port on receive, by the app before sending. */
  readonly length: Uint32Array;
  /** The port that received the frame (its `portId`). */
  readonly port: Uint16Array;
  /** The queue that received the frame. */
  readonly queue: Uint16Array;
  /** Free for the app's and drivers' use (zeroed on alloc). */
  readonly flags: Uint32Array;
  /** Receive time, ms since the epoch (fractional), when the port stamps it (`timestamps`); else 0. */
  readonly timestamp: Float64Array;
  /** Each buffer's BufferOwner. Drivers read it on their hot path; nobody else writes it. */
  readonly owner: Uint8Array;
  /** Each buffer's data: `bufferSize` bytes after the headroom. The frame is its first `length[id]` bytes. */
  readonly data: readonly Uint8Array[];
  /** Each buffer including its headroom. */
  readonly raw: readonly Uint8Array[];
  /** alloc calls that got fewer ids than asked for. */
  allocFailures = 0;
  #stack: Uint32Array;
  #top: number;
  #chunks: DmaBuffer[];
  #closed = false;

  /**
   * Allocates the pool's memory from `space` (chunks of at most 2 MiB) and makes every buffer
   * free. Throws a RangeError for bad options, and what allocDma throws (memlock, hugepages).
   */
  static create(space: DmaAllocator, options: PacketPoolOptions): PacketPool {
    return new PacketPool(space, options);
  }

  private constructor(space: DmaAllocator, options: PacketPoolOptions) {
    const count = options.count;
    const bufferSize = options.bufferSize ?? 2048;
    const headroom = options.headroom ?? 0;
    const chunkSize = options.chunkSize ?? MAX_CHUNK;
    if (!Number.isInteger(count) || count < 1 || count > 0x1000000) throw new RangeError(`PacketPool: count must be an integer in [1, 16777216], got ${count}`);
    if (!Number.isInteger(bufferSize) || bufferSize < 64 || bufferSize > 65536) throw new RangeError(`PacketPool: bufferSize must be an integer in [64, 65536], got ${bufferSize}`);
    if (!Number.isInteger(headroom) || headroom < 0 || headroom > 4096) throw new RangeError(`PacketPool: headroom must be an integer in [0, 4096], got ${headroom}`);
    const stride = Math.ceil((headroom + bufferSize) / ALIGN) * ALIGN;
    if (!Number.isInteger(chunkSize) || chunkSize < stride || chunkSize > MAX_CHUNK)
      throw new RangeError(`PacketPool: chunkSize must be an integer in [${stride} (one buffer), ${MAX_CHUNK}], got ${chunkSize}`);
    this.capacity = count;
    this.bufferSize = bufferSize;
    this.headroom = headroom;
    this.stride = stride;
    this.iovaLo = new Uint32Array(count);
    this.iovaHi = new Uint32Array(count);
    this.length = new Uint32Array(count);
    this.port = new Uint16Array(count);
    this.queue = new Uint16Array(count);
    this.flags = new Uint32Array(count);
    this.timestamp = new Float64Array(count);
    this.owner = new Uint8Array(count);
    this.#stack = new Uint32Array(count);
    const data: Uint8Array[] = [];
    const raw: Uint8Array[] = [];
    const chunks: DmaBuffer[] = [];
    const dmaOptions: DmaOptions = {
      ...(options.hugepages !== undefined && { hugepages: options.hugepages }),
      ...(options.dmaBits !== undefined && { dmaBits: options.dmaBits }),
    };
    // Keep buffers off 4 KiB page boundaries where a boundary can matter: see the module comment.
    const perPage = stride <= PAGE && PAGE % stride !== 0 ? Math.floor(PAGE / stride) : 0;
    try {
      for (let id = 0; id < count; ) {
        const left = count - id;
        // Planned for 4 KiB pages; a chunk that comes back as a hugepage takes more.
        const planned = perPage ? Math.min(left, Math.floor(chunkSize / PAGE) * perPage) : Math.min(left, Math.floor(chunkSize / stride));
        const chunk = space.allocDma(perPage ? Math.ceil(planned / perPage) * PAGE : planned * stride, dmaOptions);
        chunks.push(chunk);
        const paged = perPage !== 0 && chunk.pageSize <= PAGE;
        const fits = paged ? planned : Math.min(left, Math.floor(chunk.size / stride));
        for (let k = 0; k < fits; k++, id++) {
          const at = paged ? Math.floor(k / perPage) * PAGE + (k % perPage) * stride : k * stride;
          const iova = chunk.iova + at + headroom;
          this.iovaLo[id] = iova % 2 ** 32;
          this.iovaHi[id] = Math.floor(iova / 2 ** 32);
          raw.push(new Uint8Array(chunk.buffer, at, headroom + bufferSize));
          data.push(new Uint8Array(chunk.buffer, at + headroom, bufferSize));
        }
      }
    } catch (e) {
      for (const c of chunks) c.free();
      throw e;
    }
    this.data = data;
    this.raw = raw;
    this.#chunks = chunks;
    // Lowest ids on top: a fresh pool hands out 0, 1, 2, … (easier to read in a debugger).
    for (let i = 0; i < count; i++) this.#stack[i] = count - 1 - i;
    this.#top = count;
  }

  /** Free buffers (on the stack). */
  get available(): number {
    return this.#top;
  }

  /** The DMA chunks the buffers live in (each at most 2 MiB). */
  get chunks(): readonly DmaBuffer[] {
    return this.#chunks;
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Takes up to `n` free buffers for the app into ids[start..start+n): returns how many it
   * got, fewer when the pool runs low (counted in `allocFailures`; the caller counts a drop),
   * never waiting. Their length and flags are zeroed.
   */
  alloc(ids: Uint32Array, n: number, start = 0): number {
    const k = this.#take(ids, n, start, BufferOwner.APP);
    for (let i = start; i < start + k; i++) {
      const id = ids[i]!;
      this.length[id] = 0;
      this.flags[id] = 0;
    }
    return k;
  }

  /**
   * Gives ids[start..start+n) back to the pool. Each must be the app's: a free id is
   * ERR_VFIO_NET_DOUBLE_FREE, one in a port's ring ERR_VFIO_NET_HELD_BY_NIC, one outside the
   * pool ERR_VFIO_NET_BAD_ID (the ids before it are freed).
   */
  free(ids: Uint32Array, n: number, start = 0): void {
    const owner = this.owner;
    const stack = this.#stack;
    let top = this.#top;
    for (let i = start; i < start + n; i++) {
      const id = ids[i]!;
      if (owner[id] !== BufferOwner.APP) {
        this.#top = top;
        throw this.ownershipError(id, 'PacketPool.free');
      }
      owner[id] = BufferOwner.FREE;
      stack[top++] = id;
    }
    this.#top = top;
  }

  /** Frees one id (see free). */
  freeOne(id: number): void {
    if (this.owner[id] !== BufferOwner.APP) throw this.ownershipError(id, 'PacketPool.free');
    this.owner[id] = BufferOwner.FREE;
    this.#stack[this.#top++] = id;
  }

  /**
   * Copies `frame[0..length)` into the app's buffer `id` and sets its length: for building
   * frames (a generator, a pcap replay). A frame longer than the buffer is a RangeError.
   */
  write(id: number, frame: Uint8Array, length = frame.length): void {
    if (this.owner[id] !== BufferOwner.APP) throw this.ownershipError(id, 'PacketPool.write');
    if (length > this.bufferSize || length > frame.length) throw new RangeError(`PacketPool.write: ${length} bytes do not fit a ${this.bufferSize}-byte buffer (or exceed the source)`);
    const dst = this.data[id]!;
    if (length === frame.length) dst.set(frame);
    else for (let i = 0; i < length; i++) dst[i] = frame[i]!;
    this.length[id] = length;
  }

  // ---- for drivers ---------------------------------------------------------------------

  /** Drivers: takes up to `n` free buffers straight into a ring (owner NIC); returns how many. */
  allocForNic(ids: Uint32Array, n: number, start = 0): number {
    return this.#take(ids, n, start, BufferOwner.NIC);
  }

  /** Drivers: one free buffer for a ring (owner NIC), or -1 when the pool is empty. */
  takeForNic(): number {
    if (this.#top === 0) return -1;
    const id = this.#stack[--this.#top]!;
    this.owner[id] = BufferOwner.NIC;
    return id;
  }

  /** Drivers: a buffer the NIC is done with (sent, or taken off a ring at close) goes back on the stack. */
  releaseFromNic(id: number): void {
    this.owner[id] = BufferOwner.FREE;
    this.#stack[this.#top++] = id;
  }

  /** Drivers: releaseFromNic for each of ids[start..start+n) (a run of a ring the NIC is done with), in one loop. */
  releaseManyFromNic(ids: Uint32Array, n: number, start = 0): void {
    const FREE = BufferOwner.FREE; // a local: an imported or module binding is loaded (and checked) on every use
    const owner = this.owner;
    const stack = this.#stack;
    let top = this.#top;
    for (let i = start; i < start + n; i++) {
      const id = ids[i]!;
      owner[id] = FREE;
      stack[top++] = id;
    }
    this.#top = top;
  }

  /**
   * The error for an id whose owner is not what `op` needs: ERR_VFIO_NET_BAD_ID,
   * ERR_VFIO_NET_DOUBLE_FREE (free), ERR_VFIO_NET_NOT_ALLOCATED (a free id used), or
   * ERR_VFIO_NET_HELD_BY_NIC. Built off the hot path: callers test `owner` first.
   */
  ownershipError(id: number, op: string, device?: string): VfioError {
    const where = device === undefined ? {} : { device };
    if (!Number.isInteger(id) || id < 0 || id >= this.capacity)
      return netError('ERR_VFIO_NET_BAD_ID', op, `buffer id ${id} is not in this pool (ids 0-${this.capacity - 1})`, where);
    const o = this.owner[id];
    if (o === BufferOwner.FREE && op.endsWith('.free'))
      return netError('ERR_VFIO_NET_DOUBLE_FREE', op, `buffer ${id} is already free`, { ...where, hint: 'free each id once: a received or allocated id is freed by whoever holds it, a sent one by the port' });
    if (o === BufferOwner.FREE)
      return netError('ERR_VFIO_NET_NOT_ALLOCATED', op, `buffer ${id} is free: it was never allocated, or was freed (or sent) already`, {
        ...where,
        hint: 'after txBurst accepts an id it belongs to the port, which frees it once sent: do not use it again',
      });
    return netError('ERR_VFIO_NET_HELD_BY_NIC', op, `buffer ${id} is held by a port's ring: the NIC may be reading or writing it`, {
      ...where,
      hint: 'an id accepted by txBurst (or still in a receive ring) is not the app\'s until a port hands it back',
    });
  }

  #take(ids: Uint32Array, n: number, start: number, to: BufferOwner): number {
    if (this.#closed) throw netError('ERR_VFIO_CLOSED', 'PacketPool.alloc', 'the pool is closed');
    const k = Math.min(n, this.#top, ids.length - start);
    const owner = this.owner;
    const stack = this.#stack;
    let top = this.#top;
    for (let i = start; i < start + k; i++) {
      const id = stack[--top]!;
      owner[id] = to;
      ids[i] = id;
    }
    this.#top = top;
    if (k < n) this.allocFailures++;
    return k;
  }

  /**
   * Frees the DMA memory. The ports using the pool must be closed first (they give their
   * ring buffers back); views of the buffers read as empty afterwards. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#top = 0;
    const errors: unknown[] = [];
    for (const c of this.#chunks) {
      try {
        c.free();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) throw errors[0];
  }
}
