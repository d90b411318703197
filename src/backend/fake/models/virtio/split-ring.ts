// The device side of a split virtqueue (virtio 1.x §2.7), as QEMU's hw/virtio/virtio.c
// walks it: descriptor chains popped from the available ring, used entries pushed and
// flushed, EVENT_IDX both ways (avail_event written as entries are popped, used_event
// honoured before interrupting). Every access goes through the bus's DMA, so an unmapped
// IOVA is an IOMMU fault the kernel records, and a VirtioDeviceError here.
import {
  VIRTIO_MSI_NO_VECTOR,
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_AVAIL_FLAGS,
  VRING_AVAIL_IDX,
  VRING_AVAIL_RING,
  VRING_DESC_ADDR,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
  VRING_DESC_FLAGS,
  VRING_DESC_LEN,
  VRING_DESC_NEXT,
  VRING_DESC_SIZEOF,
  VRING_USED_ELEM_SIZEOF,
  VRING_USED_F_NO_NOTIFY,
  VRING_USED_FLAGS,
  VRING_USED_IDX,
  VRING_USED_RING,
  vringNeedEvent,
} from '../../../../uapi/virtio.js';
import { QEMU_VIRTIO_QUEUE_MAX } from './layout.js';

/** The part of the kernel's DeviceBus that moves ring entries and buffers, through the IOMMU. */
export interface Dma {
  /** null when the IOVA is unmapped or Bus Master is off (the kernel records the fault). */
  dmaRead(iova: number, length: number): Uint8Array | null;
  /** false when it cannot (the kernel records the fault). */
  dmaWrite(iova: number, data: Uint8Array): boolean;
}

/**
 * Something the driver did that QEMU answers with virtio_error(): the device is broken
 * (DEVICE_NEEDS_RESET) until reset. Thrown inside the model only; the transport catches it.
 */
export class VirtioDeviceError extends Error {}

/** One buffer of a chain: guest IOVA and length. */
export interface Segment {
  addr: number;
  len: number;
}

/** A popped descriptor chain: the head (its used-ring id) and its buffers, driver-readable ones first. */
export interface Chain {
  head: number;
  out: Segment[];
  in: Segment[];
}

/**
 * One virtqueue: what the common configuration stages (size, ring addresses, vector,
 * enabled) and the device's ring state (last_avail_idx, used_idx, signalled_used).
 */
export class DeviceQueue {
  /** The size the device offers (QEMU's num_default), restored by reset. */
  readonly maxSize: number;
  /** queue_size: QEMU's vring.num. */
  size: number;
  /** The addresses as the driver wrote them (read back through the common configuration). */
  desc = 0;
  avail = 0;
  used = 0;
  /** queue_enable as the driver sees it. */
  enabled = false;
  /** queue_msix_vector. */
  vector = VIRTIO_MSI_NO_VECTOR;
  /** The addresses in use since queue_enable was written (QEMU: vring.desc/avail/used); 0 = not set up. */
  ring = { desc: 0, avail: 0, used: 0 };
  lastAvail = 0;
  usedIdx = 0;
  signalledUsed = 0;
  signalledValid = false;
  /** Whether VIRTIO_RING_F_EVENT_IDX was negotiated (set by the transport). */
  eventIdx = false;

  constructor(maxSize: number) {
    this.maxSize = maxSize;
    this.size = maxSize;
  }

  /** Back to the state after device reset. */
  reset(): void {
    this.resetRing();
    this.desc = this.avail = this.used = 0;
  }

  /**
   * queue_reset (QEMU's virtio_queue_reset, synchronous): the ring, its indices, size and
   * vector as after reset, disabled; the addresses the driver wrote still read back.
   */
  resetRing(): void {
    this.size = this.maxSize;
    this.enabled = false;
    this.vector = VIRTIO_MSI_NO_VECTOR;
    this.ring = { desc: 0, avail: 0, used: 0 };
    this.lastAvail = this.usedIdx = this.signalledUsed = 0;
    this.signalledValid = false;
  }

  /** QEMU's virtio_queue_ready: the rings were set up by queue_enable. */
  get ready(): boolean {
    return this.ring.avail !== 0;
  }

  /** queue_enable = 1: the staged addresses become the rings (QEMU's virtio_queue_set_rings). */
  enable(): void {
    this.ring = { desc: this.desc, avail: this.avail, used: this.used };
    this.enabled = true;
  }

  // ---- guest memory --------------------------------------------------------------

  #read(bus: Dma, iova: number, length: number, what: string): DataView {
    const b = bus.dmaRead(iova, length);
    if (!b) throw new VirtioDeviceError(`${what} at IOVA 0x${iova.toString(16)}: DMA read faulted`);
    return new DataView(b.buffer, b.byteOffset, b.byteLength);
  }

  #write16(bus: Dma, iova: number, value: number, what: string): void {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, value, true);
    if (!bus.dmaWrite(iova, b)) throw new VirtioDeviceError(`${what} at IOVA 0x${iova.toString(16)}: DMA write faulted`);
  }

  /** avail->idx as the driver published it. */
  availIdx(bus: Dma): number {
    return this.#read(bus, this.ring.avail + VRING_AVAIL_IDX, 2, 'avail idx').getUint16(0, true);
  }

  /** Entries the driver made available that the device has not taken (QEMU's virtqueue_num_heads). */
  pending(bus: Dma): number {
    const idx = this.availIdx(bus);
    const n = (idx - this.lastAvail) & 0xffff;
    if (n > this.size) throw new VirtioDeviceError(`Guest moved avail index from ${this.lastAvail} to ${idx}`);
    return n;
  }

  /** used_event (the driver's interrupt threshold, after the avail ring). */
  #usedEvent(bus: Dma): number {
    return this.#read(bus, this.ring.avail + VRING_AVAIL_RING + 2 * this.size, 2, 'used_event').getUint16(0, true);
  }

  /** avail_event (the device's notification threshold, after the used ring). */
  #setAvailEvent(bus: Dma, value: number): void {
    this.#write16(bus, this.ring.used + VRING_USED_RING + VRING_USED_ELEM_SIZEOF * this.size, value, 'avail_event');
  }

  /**
   * QEMU's virtio_queue_set_notification: with EVENT_IDX, avail_event is set to the avail
   * index as it is now (for enable and disable alike: the driver kicks when it moves past it);
   * without, VRING_USED_F_NO_NOTIFY in used->flags.
   */
  setNotification(bus: Dma, enable: boolean): void {
    if (!this.ready) return;
    if (this.eventIdx) {
      this.#setAvailEvent(bus, this.availIdx(bus));
      return;
    }
    const at = this.ring.used + VRING_USED_FLAGS;
    const flags = this.#read(bus, at, 2, 'used flags').getUint16(0, true);
    this.#write16(bus, at, enable ? flags & ~VRING_USED_F_NO_NOTIFY : flags | VRING_USED_F_NO_NOTIFY, 'used flags');
  }

  /**
   * Takes the next available chain, or null when there is none (QEMU's virtqueue_split_pop).
   * A malformed chain is a VirtioDeviceError with QEMU's message.
   */
  pop(bus: Dma): Chain | null {
    if (!this.ready || this.pending(bus) === 0) return null;
    const slot = this.ring.avail + VRING_AVAIL_RING + 2 * (this.lastAvail % this.size);
    const head = this.#read(bus, slot, 2, 'avail ring entry').getUint16(0, true);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    if (this.eventIdx) this.#setAvailEvent(bus, this.lastAvail);
    if (head >= this.size) throw new VirtioDeviceError(`Guest says index ${head} is available`);
    return this.#walk(bus, head);
  }

  /** QEMU's virtqueue_unpop: the chain goes back to the available ring, to be popped again. */
  unpop(): void {
    this.lastAvail = (this.lastAvail - 1) & 0xffff;
  }

  #walk(bus: Dma, head: number): Chain {
    const chain: Chain = { head, out: [], in: [] };
    let table = this.ring.desc;
    let max = this.size;
    let i = head;
    let d = this.#desc(bus, table, i, 'descriptor');
    if (d.flags & VRING_DESC_F_INDIRECT) {
      if (d.len === 0 || d.len % VRING_DESC_SIZEOF) throw new VirtioDeviceError('Invalid size for indirect buffer table');
      table = d.addr;
      max = d.len / VRING_DESC_SIZEOF;
      i = 0;
      d = this.#desc(bus, table, i, 'indirect descriptor');
    }
    for (;;) {
      if (d.len === 0) throw new VirtioDeviceError('virtio: zero sized buffers are not allowed');
      if (d.flags & VRING_DESC_F_WRITE) chain.in.push({ addr: d.addr, len: d.len });
      else if (chain.in.length > 0) throw new VirtioDeviceError('Incorrect order for descriptors');
      else chain.out.push({ addr: d.addr, len: d.len });
      if (chain.in.length + chain.out.length > Math.min(max, QEMU_VIRTIO_QUEUE_MAX)) throw new VirtioDeviceError('Looped descriptor');
      if (!(d.flags & VRING_DESC_F_NEXT)) return chain;
      i = d.next;
      if (i >= max) throw new VirtioDeviceError(`Desc next is ${i}`);
      d = this.#desc(bus, table, i, table === this.ring.desc ? 'descriptor' : 'indirect descriptor');
    }
  }

  #desc(bus: Dma, table: number, i: number, what: string): { addr: number; len: number; flags: number; next: number } {
    const v = this.#read(bus, table + i * VRING_DESC_SIZEOF, VRING_DESC_SIZEOF, `${what} ${i}`);
    const addr = Number(v.getBigUint64(VRING_DESC_ADDR, true));
    return { addr, len: v.getUint32(VRING_DESC_LEN, true), flags: v.getUint16(VRING_DESC_FLAGS, true), next: v.getUint16(VRING_DESC_NEXT, true) };
  }

  /** Writes used entry { id, len } and publishes used->idx (QEMU's virtqueue_fill + virtqueue_flush for one). */
  push(bus: Dma, id: number, len: number): void {
    const at = this.ring.used + VRING_USED_RING + VRING_USED_ELEM_SIZEOF * (this.usedIdx % this.size);
    const e = new Uint8Array(VRING_USED_ELEM_SIZEOF);
    const v = new DataView(e.buffer);
    v.setUint32(0, id >>> 0, true);
    v.setUint32(4, len >>> 0, true);
    if (!bus.dmaWrite(at, e)) throw new VirtioDeviceError(`used ring entry at IOVA 0x${at.toString(16)}: DMA write faulted`);
    const old = this.usedIdx;
    const next = (old + 1) & 0xffff;
    // The entry is visible before the index that publishes it: DMA writes here are in program order.
    this.#write16(bus, this.ring.used + VRING_USED_IDX, next, 'used idx');
    this.usedIdx = next;
    // QEMU: a wrap past signalled_used makes the next interrupt unconditional.
    if (((next - this.signalledUsed) << 16) >> 16 < ((next - old) & 0xffff)) this.signalledValid = false;
  }

  /**
   * Whether to interrupt the driver after pushing (QEMU's virtio_split_should_notify without
   * NOTIFY_ON_EMPTY, which modern devices do not offer): with EVENT_IDX when used_idx crossed
   * used_event since the last interrupt (always the first time), else unless
   * VRING_AVAIL_F_NO_INTERRUPT.
   */
  shouldNotify(bus: Dma): boolean {
    if (!this.eventIdx) {
      const flags = this.#read(bus, this.ring.avail + VRING_AVAIL_FLAGS, 2, 'avail flags').getUint16(0, true);
      return !(flags & VRING_AVAIL_F_NO_INTERRUPT);
    }
    const valid = this.signalledValid;
    this.signalledValid = true;
    const old = this.signalledUsed;
    const next = (this.signalledUsed = this.usedIdx);
    return !valid || vringNeedEvent(this.#usedEvent(bus), next, old);
  }
}
