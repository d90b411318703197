/**
 * A split virtqueue (spec §2.7), driver side, in one piece of DMA memory: the descriptor
 * table, the available ring (with used_event) and the used ring (with avail_event). Every
 * buffer is one descriptor (no chains, no indirect tables: what a NIC without offloads
 * needs); each descriptor carries a 32-bit token (a pool buffer id) handed back when the
 * device returns it.
 *
 * The hot path allocates nothing and makes no native call: the rings are plain typed arrays
 * over the DMA memory, add() is a handful of stores, and kick() notifies the device (one MMIO
 * write) only when it asked for it: with EVENT_IDX, when the new avail idx crosses the
 * device's avail_event (vring_need_event); without, unless it set VRING_USED_F_NO_NOTIFY.
 * Used-buffer interrupts are suppressed the same way (used_event, or VRING_AVAIL_F_NO_INTERRUPT)
 * unless enableInterrupts() asked for one.
 *
 * Memory ordering (§2.7.13, Linux's virtio_wmb/virtio_mb/virtio_rmb). What the spec needs:
 * (1) descriptor and ring-entry stores visible before the avail idx store; (2) the avail idx
 * store visible before the avail_event (or used flags) load that decides whether to notify,
 * and likewise used_event before re-checking the used idx; (3) the used idx load before the
 * loads of the entries it covers. How it is done here: ring contents are plain typed-array
 * stores (V8 keeps stores to memory in program order: they are effects on one chain, never
 * reordered with each other or with an Atomics operation); the avail idx and used_event are
 * written with Atomics.store, and the used idx, avail_event and used flags read with
 * Atomics.load. On x86-64 (TSO: stores are not reordered with stores, nor loads with loads)
 * V8 compiles Atomics.store to XCHG, a full barrier, which gives (2); (1) and (3) need only
 * the compiler's order. On arm64 it emits STLR (release: (1)) and LDAR (acquire: (3)), and an
 * STLR followed by an LDAR is ordered ((2)). The JS memory model promises this only for
 * shared memory between agents; for a device it is V8's code generation we rely on, the same
 * as for MMIO (Region uses Atomics for the same reason). Endianness: virtio 1.x rings are
 * little-endian and typed arrays use the host's order, so this runs on little-endian hosts
 * only (x86-64, arm64), checked at construction.
 */
import type { DmaBuffer } from '../model/dma.js';
import type { DmaOptions } from '../model/dma-space.js';
import {
  VIRTQUEUE_MAX_SIZE,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_SIZEOF,
  VRING_USED_F_NO_NOTIFY,
  vringAvailSize,
  vringNeedEvent,
  vringUsedSize,
} from '../uapi/virtio.js';

/** Where a queue gets its memory (a Device or a DMA space). */
export interface QueueAllocator {
  /** Allocates pinned memory mapped for the device's DMA. */
  allocDma(size: number, options?: DmaOptions): DmaBuffer;
}

/** Where the three parts of a split queue of `size` entries sit in its memory. */
export interface SplitQueueLayout {
  /** Bytes in all. */
  bytes: number;
  /** Offset of the descriptor table (0). */
  desc: number;
  /** Offset of the available ring. */
  avail: number;
  /** Offset of the used ring (64-byte aligned: the device writes it, the driver the rest). */
  used: number;
}

/** The layout of a split queue of `size` entries (the used ring on its own cache line). */
export function splitQueueLayout(size: number): SplitQueueLayout {
  const avail = VRING_DESC_SIZEOF * size;
  const used = Math.ceil((avail + vringAvailSize(size)) / 64) * 64;
  return { bytes: used + vringUsedSize(size), desc: 0, avail, used };
}

const LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** A split virtqueue's driver side (see the module comment). */
export class SplitQueue {
  /** Entries (a power of two). */
  readonly size: number;
  /** IOVA of the memory's first byte (the descriptor table). */
  readonly iova: number;
  /** Where the parts are. */
  readonly layout: SplitQueueLayout;
  /** Whether VIRTIO_F_EVENT_IDX was negotiated (used_event/avail_event in use). */
  readonly eventIdx: boolean;
  /** The token of each descriptor (valid while it is the device's). */
  readonly tokens: Uint32Array;
  /** Used entries refused: naming a descriptor the driver had not given the device (or twice). */
  badUsed = 0;
  /** Notifications sent by kick(). */
  notifications = 0;
  /** The DMA buffer, when allocate() made it (free() frees it). */
  readonly buffer: DmaBuffer | null;
  #mask: number;
  #desc: Uint32Array;
  #avail: Uint16Array;
  #used16: Uint16Array;
  #used32: Uint32Array;
  #usedEvent: number;
  #availEvent: number;
  #free: Uint16Array;
  #freeTop: number;
  #owned: Uint8Array;
  #availIdx = 0;
  #kicked = 0;
  #lastUsed = 0;
  #interrupts = false;
  #notify: () => void = () => {};

  /** Allocates the queue's memory from `space` (one DMA allocation) and builds the queue over it. */
  static allocate(space: QueueAllocator, size: number, eventIdx: boolean, options?: DmaOptions): SplitQueue {
    checkSize(size);
    const buffer = space.allocDma(splitQueueLayout(size).bytes, options);
    try {
      return new SplitQueue(buffer.buffer, buffer.iova, size, eventIdx, buffer);
    } catch (e) {
      buffer.free();
      throw e;
    }
  }

  /**
   * A queue over `memory` (at least splitQueueLayout(size).bytes, zeroed or not: this writes
   * every field the device reads first) whose first byte the device knows as `iova`. Throws a
   * RangeError for a size that is not a power of two in [1, 32768] or memory too small.
   */
  constructor(memory: ArrayBuffer, iova: number, size: number, eventIdx: boolean, buffer: DmaBuffer | null = null) {
    checkSize(size);
    if (!LITTLE_ENDIAN) throw new RangeError('SplitQueue: virtio rings are little-endian and this host is not');
    const layout = splitQueueLayout(size);
    if (memory.byteLength < layout.bytes) throw new RangeError(`SplitQueue: ${layout.bytes} bytes needed for ${size} entries, the memory has ${memory.byteLength}`);
    this.size = size;
    this.iova = iova;
    this.layout = layout;
    this.eventIdx = eventIdx;
    this.buffer = buffer;
    this.#mask = size - 1;
    this.#desc = new Uint32Array(memory, 0, size * 4);
    this.#avail = new Uint16Array(memory, layout.avail, vringAvailSize(size) / 2);
    this.#used16 = new Uint16Array(memory, layout.used, vringUsedSize(size) >>> 1);
    this.#used32 = new Uint32Array(memory, layout.used, (vringUsedSize(size) - 2) >>> 2);
    this.#usedEvent = 2 + size;
    this.#availEvent = 2 + 4 * size;
    new Uint8Array(memory, 0, layout.bytes).fill(0);
    this.tokens = new Uint32Array(size);
    this.#owned = new Uint8Array(size);
    this.#free = new Uint16Array(size);
    for (let i = 0; i < size; i++) this.#free[i] = size - 1 - i; // descriptor 0 is handed out first
    this.#freeTop = size;
    this.disableInterrupts();
  }

  /** IOVA of the descriptor table. */
  get descIova(): number {
    return this.iova + this.layout.desc;
  }
  /** IOVA of the available ring. */
  get availIova(): number {
    return this.iova + this.layout.avail;
  }
  /** IOVA of the used ring. */
  get usedIova(): number {
    return this.iova + this.layout.used;
  }

  /** Sets what kick() calls to notify the device (the transport's MMIO write). */
  setNotifier(notify: () => void): void {
    this.#notify = notify;
  }

  /** Descriptors free for add(). */
  get freeCount(): number {
    return this.#freeTop;
  }

  /** Buffers the device holds (added and not yet taken back). */
  get inFlight(): number {
    return this.size - this.#freeTop;
  }

  /** The avail idx as the driver will publish it (free-running, 16 bits). */
  get availIdx(): number {
    return this.#availIdx;
  }

  /** The used idx the driver has consumed up to. */
  get lastUsed(): number {
    return this.#lastUsed;
  }

  /**
   * Puts a buffer on the queue (not yet visible: publish() makes it so): one descriptor at
   * `lo`/`hi` (the IOVA's halves), `len` bytes, `flags` (VRING_DESC_F_WRITE for a buffer the
   * device fills), and `token`, handed back by takeUsed. The caller checks freeCount first.
   */
  add(lo: number, hi: number, len: number, flags: number, token: number): void {
    const d = this.#free[--this.#freeTop]!;
    this.#owned[d] = 1;
    this.tokens[d] = token;
    const q = d << 2;
    const desc = this.#desc;
    desc[q] = lo;
    desc[q + 1] = hi;
    desc[q + 2] = len;
    desc[q + 3] = flags; // next = 0: a single descriptor
    this.#avail[2 + (this.#availIdx & this.#mask)] = d;
    this.#availIdx = (this.#availIdx + 1) & 0xffff;
  }

  /** Takes back the last `count` add()s not yet published (a burst refused half-way). */
  unadd(count: number): void {
    for (let k = 0; k < count; k++) {
      this.#availIdx = (this.#availIdx - 1) & 0xffff;
      const d = this.#avail[2 + (this.#availIdx & this.#mask)]!;
      this.#owned[d] = 0;
      this.#free[this.#freeTop++] = d;
    }
  }

  /** Makes the added buffers visible: the avail idx store, ordered after the ring stores. */
  publish(): void {
    Atomics.store(this.#avail, 1, this.#availIdx);
  }

  /**
   * Notifies the device of buffers published since the last kick, if it wants to be told
   * (EVENT_IDX: the new idx crossed avail_event; else: used flags without NO_NOTIFY). Returns
   * whether it notified.
   */
  kick(): boolean {
    const idx = this.#availIdx;
    const old = this.#kicked;
    if (idx === old) return false;
    this.#kicked = idx;
    const need = this.eventIdx
      ? vringNeedEvent(Atomics.load(this.#used16, this.#availEvent), idx, old)
      : (Atomics.load(this.#used16, 0) & VRING_USED_F_NO_NOTIFY) === 0;
    if (need) {
      this.notifications++;
      this.#notify();
    }
    return need;
  }

  /** Notifies the device unconditionally (the first kick after DRIVER_OK). */
  forceKick(): void {
    this.#kicked = this.#availIdx;
    this.notifications++;
    this.#notify();
  }

  /** The device has returned buffers not yet taken (one ordered load). */
  hasUsed(): boolean {
    return Atomics.load(this.#used16, 1) !== this.#lastUsed;
  }

  /**
   * Takes up to `max` buffers the device returned: their tokens to out[start..], the bytes
   * the device wrote into each to lens[0..] (when given). A used entry naming a descriptor the
   * driver does not own (out of range, never added, or returned twice) is skipped and
   * counted in `badUsed`, never trusted. Returns how many it took.
   */
  takeUsed(out: Uint32Array, lens: Uint32Array | null, max: number, start = 0): number {
    const end = Atomics.load(this.#used16, 1);
    let last = this.#lastUsed;
    if (end === last) return 0;
    const ring = this.#used32;
    const owned = this.#owned;
    const tokens = this.tokens;
    const free = this.#free;
    const mask = this.#mask;
    const size = this.size;
    let top = this.#freeTop;
    let k = start;
    const stop = start + max;
    while (k < stop && last !== end) {
      const e = 1 + ((last & mask) << 1);
      const id = ring[e]!;
      const len = ring[e + 1]!;
      last = (last + 1) & 0xffff;
      if (id >= size || owned[id] === 0) {
        this.badUsed++;
        continue;
      }
      owned[id] = 0;
      free[top++] = id;
      out[k] = tokens[id]!;
      if (lens !== null) lens[k - start] = len;
      k++;
    }
    this.#freeTop = top;
    this.#lastUsed = last;
    if (!this.#interrupts) this.#suppress();
    return k - start;
  }

  /**
   * Asks for an interrupt at the next used buffer (used_event = last used, or the
   * NO_INTERRUPT flag cleared), then re-reads the used idx: true when buffers came back
   * before that store took effect (no interrupt will come for them: look now).
   */
  enableInterrupts(): boolean {
    this.#interrupts = true;
    if (this.eventIdx) Atomics.store(this.#avail, this.#usedEvent, this.#lastUsed);
    else Atomics.store(this.#avail, 0, 0);
    return this.hasUsed();
  }

  /** Asks for no used-buffer interrupts (the device may still send one already decided). */
  disableInterrupts(): void {
    this.#interrupts = false;
    this.#suppress();
  }

  /** Whether interrupts are asked for. */
  get interruptsEnabled(): boolean {
    return this.#interrupts;
  }

  /**
   * With EVENT_IDX, used_event half the index space ahead of the last used entry: the device
   * holds at most `size` ≤ 32768 buffers, so its used idx cannot cross it before the next
   * takeUsed moves it on (Linux leaves it behind instead and takes a spurious interrupt per
   * 65536 entries). Without EVENT_IDX, the NO_INTERRUPT flag.
   */
  #suppress(): void {
    if (this.eventIdx) this.#avail[this.#usedEvent] = (this.#lastUsed + 0x8000) & 0xffff;
    else this.#avail[0] = VRING_AVAIL_F_NO_INTERRUPT;
  }

  /**
   * Takes every token the device still holds, into out[0..] (at least `size` long), and
   * makes every descriptor free: only once the device is stopped (reset), at close. Returns
   * how many.
   */
  drain(out: Uint32Array): number {
    let n = 0;
    for (let d = 0; d < this.size; d++) {
      if (this.#owned[d] === 0) continue;
      this.#owned[d] = 0;
      out[n++] = this.tokens[d]!;
    }
    for (let i = 0; i < this.size; i++) this.#free[i] = this.size - 1 - i;
    this.#freeTop = this.size;
    return n;
  }

  /** Frees the memory if allocate() made it (after the device was reset). Idempotent. */
  free(): void {
    this.buffer?.free();
  }
}

function checkSize(size: number): void {
  if (!Number.isInteger(size) || size < 1 || size > VIRTQUEUE_MAX_SIZE || (size & (size - 1)) !== 0)
    throw new RangeError(`SplitQueue: size must be a power of two in [1, ${VIRTQUEUE_MAX_SIZE}], got ${size}`);
}
