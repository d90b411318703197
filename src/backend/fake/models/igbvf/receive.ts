import type { Dma } from '../e1000e/ring.js';
import {
  DESC_SIZE, RDBAH, RDBAL, RDH, RDLEN, RDT, RXDCTL, RXD_STAT_DD, RXD_STAT_EOP, SRRCTL, SRRCTL_BSIZEPKT_MASK, SRRCTL_BSIZEPKT_SHIFT, SRRCTL_DESCTYPE_ADV_ONEBUF,
  SRRCTL_DESCTYPE_MASK, VFGORC, VFGPRC, VFMPRC, XDCTL_QUEUE_ENABLE,
} from '../../../../hw/e82576vf.js';
import type { VfInterrupts } from './interrupts.js';
import type { VfRegisters } from './registers.js';

const MIN_FRAME = 60;

/**
 * Receive queue 0 with advanced one-buffer descriptors, as QEMU's igb core writes them
 * (igb_write_packet_to_guest): the frame goes to the buffers from RDH on (a frame larger than
 * SRRCTL's buffer size spans descriptors), then each descriptor's write-back (length, DD, EOP
 * on the last) with the status word stored last. The FCS is stripped (the PF's RCTL.SECRC,
 * which Linux's igb sets). Frames shorter than 60 bytes are padded.
 */
export class VfReceiver {
  readonly #regs: VfRegisters;
  readonly #irq: VfInterrupts;
  readonly #report: (message: string) => void;
  #warnedType = false;

  constructor(regs: VfRegisters, irq: VfInterrupts, report: (message: string) => void) {
    this.#regs = regs;
    this.#irq = irq;
    this.#report = report;
  }

  reset(): void {
    this.#warnedType = false;
  }

  /** The queue is enabled and has a free descriptor. */
  ready(): boolean {
    const regs = this.#regs;
    return (regs.r(RXDCTL) & XDCTL_QUEUE_ENABLE) !== 0 && regs.r(RDLEN) > 0 && this.#free() > 0;
  }

  /** Writes `input` to the ring (the caller checked ready() and the filter); false when it does not fit in the free descriptors (QEMU drops it: RXO). */
  write(bus: Dma, input: Uint8Array): boolean {
    const regs = this.#regs;
    let frame = input;
    if (frame.length < MIN_FRAME) {
      frame = new Uint8Array(MIN_FRAME);
      frame.set(input);
    }
    const srrctl = regs.r(SRRCTL);
    if ((srrctl & SRRCTL_DESCTYPE_MASK) !== SRRCTL_DESCTYPE_ADV_ONEBUF && !this.#warnedType) {
      this.#warnedType = true;
      this.#report(`SRRCTL = 0x${srrctl.toString(16)}: only advanced one-buffer descriptors (DESCTYPE 001b) are modelled, as in QEMU; using them`);
    }
    const bufSize = (srrctl & SRRCTL_BSIZEPKT_MASK) << SRRCTL_BSIZEPKT_SHIFT || 2048;
    const size = frame.length;
    if (size > this.#free() * bufSize) return false;
    const count = regs.r(RDLEN) / DESC_SIZE;
    const base = regs.r(RDBAH) * 2 ** 32 + regs.r(RDBAL);
    let offset = 0;
    while (offset < size) {
      const head = regs.r(RDH);
      const at = base + head * DESC_SIZE;
      const desc = bus.dmaRead(at, DESC_SIZE);
      const n = Math.min(bufSize, size - offset);
      let written = 0;
      if (!desc) this.#report(`receive descriptor ${head} at IOVA 0x${at.toString(16)}: DMA read faulted`);
      else {
        const v = new DataView(desc.buffer, desc.byteOffset, DESC_SIZE);
        const addr = v.getUint32(0, true) + v.getUint32(4, true) * 2 ** 32;
        if (addr === 0) this.#report(`receive descriptor ${head}: null buffer address; skipped (as the datasheet says)`);
        else if (!bus.dmaWrite(addr, frame.subarray(offset, offset + n))) this.#report(`receive descriptor ${head}: buffer at IOVA 0x${addr.toString(16)} faulted`);
        else written = n;
      }
      offset += n;
      const wb = new Uint8Array(DESC_SIZE);
      const w = new DataView(wb.buffer);
      w.setUint16(12, written, true);
      // The status word last: DD says the rest is there.
      if (!bus.dmaWrite(at, wb.subarray(0, 8)) || !bus.dmaWrite(at + 12, wb.subarray(12, 16))) this.#report(`receive descriptor ${head}: write-back faulted`);
      const status = new Uint8Array(4);
      new DataView(status.buffer).setUint32(0, RXD_STAT_DD | (offset >= size ? RXD_STAT_EOP : 0), true);
      bus.dmaWrite(at + 8, status);
      regs.w(RDH, head + 1 >= count ? 0 : head + 1);
    }
    regs.add(VFGPRC, 1);
    regs.add(VFGORC, size + 4);
    if (frame[0]! & 1 && !frame.subarray(0, 6).every((b) => b === 0xff)) regs.add(VFMPRC, 1);
    this.#irq.rxQueue();
    return true;
  }

  #free(): number {
    const count = this.#regs.r(RDLEN) / DESC_SIZE;
    const h = this.#regs.r(RDH);
    const t = this.#regs.r(RDT);
    if (t >= count) return 0;
    return h <= t ? t - h : count + t - h;
  }
}
