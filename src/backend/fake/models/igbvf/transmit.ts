import type { Dma } from '../e1000e/ring.js';
import {
  ADVTXD_DCMD_DEXT, ADVTXD_DCMD_EOP, ADVTXD_DCMD_RS, ADVTXD_DTYP_CTXT, ADVTXD_DTYP_DATA, ADVTXD_DTYP_MASK, DESC_SIZE, TDBAH, TDBAL, TDH, TDLEN, TDT,
  TXDCTL, TXD_STAT_DD, VFGOTC, VFGPTC, XDCTL_QUEUE_ENABLE,
} from '../../../../hw/e82576vf.js';
import type { VfInterrupts } from './interrupts.js';
import type { VfRegisters } from './registers.js';

const MAX_FRAGMENTS = 64;
const MAX_FRAME = 65536;

/**
 * Transmit queue 0 with advanced descriptors, as QEMU's igb core runs it (igb_start_xmit,
 * igb_process_tx_desc, igb_txdesc_writeback): on a TDT write, every descriptor from TDH to
 * TDT is read through the IOMMU; data descriptors gather the frame until EOP, context
 * descriptors are taken and ignored (no offloads are modelled); with RS the status word is
 * written back with DD. Legacy descriptors are an error here (QEMU does not implement them).
 */
export class VfTransmitter {
  readonly #regs: VfRegisters;
  readonly #irq: VfInterrupts;
  readonly #report: (message: string) => void;
  readonly #deliver: (frame: Uint8Array) => void;
  #frags: Uint8Array[] = [];
  #size = 0;
  #skip = false;

  /** `deliver` gets every frame sent, after it was counted. */
  constructor(regs: VfRegisters, irq: VfInterrupts, report: (message: string) => void, deliver: (frame: Uint8Array) => void) {
    this.#regs = regs;
    this.#irq = irq;
    this.#report = report;
    this.#deliver = deliver;
  }

  reset(): void {
    this.#frags = [];
    this.#size = 0;
    this.#skip = false;
  }

  /** After a TDT write: sends everything up to the tail (when the PF enabled transmit for the VF and the queue is on). */
  run(bus: Dma | null, enabled: boolean): void {
    const regs = this.#regs;
    if (!bus || !enabled || !(regs.r(TXDCTL) & XDCTL_QUEUE_ENABLE)) return;
    const count = regs.r(TDLEN) / DESC_SIZE;
    const base = regs.r(TDBAH) * 2 ** 32 + regs.r(TDBAL);
    let done = false;
    while (regs.r(TDH) !== regs.r(TDT) && regs.r(TDT) < count) {
      const head = regs.r(TDH);
      if (head >= count) {
        this.#report(`TDH ${head} is beyond the ${count}-descriptor ring; starting over at 0`);
        regs.w(TDH, 0);
        continue;
      }
      const at = base + head * DESC_SIZE;
      const desc = bus.dmaRead(at, DESC_SIZE);
      if (!desc) this.#report(`transmit descriptor ${head} at IOVA 0x${at.toString(16)}: DMA read faulted`);
      const d = new DataView((desc ?? new Uint8Array(DESC_SIZE)).buffer, desc?.byteOffset ?? 0, DESC_SIZE);
      const cmd = d.getUint32(8, true);
      this.#descriptor(bus, d.getUint32(0, true) + d.getUint32(4, true) * 2 ** 32, cmd, head);
      if (cmd & ADVTXD_DCMD_RS) {
        const wb = new Uint8Array(4);
        new DataView(wb.buffer).setUint32(0, (d.getUint32(12, true) | TXD_STAT_DD) >>> 0, true);
        if (!bus.dmaWrite(at + 12, wb)) this.#report(`transmit descriptor ${head}: status write-back faulted`);
        done = true;
      }
      regs.w(TDH, head + 1 >= count ? 0 : head + 1);
    }
    if (done) this.#irq.txQueue();
  }

  #descriptor(bus: Dma, addr: number, cmd: number, index: number): void {
    if (!(cmd & ADVTXD_DCMD_DEXT)) {
      this.#report(`transmit descriptor ${index}: a legacy descriptor (DEXT = 0); the 82576 VF is driven with advanced descriptors (QEMU does not implement legacy ones)`);
    } else if ((cmd & ADVTXD_DTYP_MASK) === ADVTXD_DTYP_CTXT) {
      return; // a context descriptor: offloads are not modelled
    } else if ((cmd & ADVTXD_DTYP_MASK) !== ADVTXD_DTYP_DATA) {
      this.#report(`transmit descriptor ${index}: unknown descriptor type 0x${((cmd & ADVTXD_DTYP_MASK) >>> 20).toString(16)}; ignored`);
      return;
    }
    const length = cmd & 0xffff;
    if (!this.#skip && length > 0) {
      if (this.#frags.length >= MAX_FRAGMENTS || this.#size + length > MAX_FRAME) {
        this.#report(`transmit descriptor ${index}: frame exceeds ${MAX_FRAGMENTS} fragments or ${MAX_FRAME} bytes; dropped`);
        this.#skip = true;
      } else {
        const data = bus.dmaRead(addr, length);
        if (!data) {
          this.#report(`transmit descriptor ${index}: buffer at IOVA 0x${addr.toString(16)} (+${length}) faulted; frame dropped`);
          this.#skip = true;
        } else {
          this.#frags.push(data);
          this.#size += length;
        }
      }
    }
    if (!(cmd & ADVTXD_DCMD_EOP)) return;
    if (!this.#skip) {
      if (this.#size < 14) this.#report(`transmit descriptor ${index}: a ${this.#size}-byte frame has no Ethernet header; dropped`);
      else this.#send(this.#frags.length === 1 ? this.#frags[0]! : concat(this.#frags, this.#size));
    }
    this.reset();
  }

  #send(frame: Uint8Array): void {
    this.#regs.add(VFGPTC, 1);
    this.#regs.add(VFGOTC, frame.length + 4);
    this.#deliver(frame);
  }
}

function concat(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
