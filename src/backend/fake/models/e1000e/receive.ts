import type { Interrupts } from './interrupts.js';
import type { RegisterFile } from './register-file.js';
import {
  BPRC, GORCL, GPRC, ICR_RXDMT0, ICR_RXO, ICR_RXQ0, ICR_RXT0, MPRC, MTA, PRC64, RAL0, RAH_AV, RCTL, RCTL_BAM, RCTL_BSEX, RCTL_EN, RCTL_LPE, RCTL_MPE,
  RCTL_SBP, RCTL_SECRC, RCTL_UPE, RDBAH0, RDBAL0, RDH0, RDLEN0, RDT0, ROC, RUC, RXD_STAT_DD, RXD_STAT_EOP, STATUS, STATUS_LU, TORL, TPR,
} from './regs.js';
import { descriptorAt, isBroadcast, readDescriptor, type Dma } from './ring.js';

const MIN_FRAME = 60;

/** What receiving needs of the kernel's DeviceBus. */
export interface ReceiveBus extends Dma {
  /** Bus Master Enable in the command register: without it the device takes no frames. */
  readonly busMaster: boolean;
}

/**
 * The receive side: the address filters (RAL/RAH, MTA, promiscuous and broadcast modes)
 * and the legacy receive ring, a frame spanning descriptors when larger than the buffer
 * (RCTL.BSIZE/BSEX), with DD/EOP/length written back.
 */
export class Receiver {
  readonly #regs: RegisterFile;
  readonly #irq: Interrupts;
  readonly #report: (message: string) => void;

  constructor(regs: RegisterFile, irq: Interrupts, report: (message: string) => void) {
    this.#regs = regs;
    this.#irq = irq;
    this.#report = report;
  }

  /** QEMU's e1000e_can_receive: link up, receiver on, bus master, a free descriptor. */
  canReceive(bus: ReceiveBus | null): boolean {
    const regs = this.#regs;
    return (regs.r(STATUS) & STATUS_LU) !== 0 && (regs.r(RCTL) & RCTL_EN) !== 0 && bus?.busMaster === true && regs.r(RDLEN0) > 0 && this.#free() > 0;
  }

  /**
   * True when the frame was taken or dropped by the device; false when it could not
   * take it now (the hub keeps it until RDT0 moves, like QEMU's net queue).
   */
  receive(bus: ReceiveBus | null, input: Uint8Array): boolean {
    if (!bus || !this.canReceive(bus)) return false;
    const regs = this.#regs;
    let frame = input;
    if (frame.length < MIN_FRAME) {
      frame = new Uint8Array(MIN_FRAME);
      frame.set(input);
      regs.inc(RUC);
    }
    const rctl = regs.r(RCTL);
    const size = frame.length;
    if ((size > 16384 - 4 || (size > 1518 && !(rctl & RCTL_LPE))) && !(rctl & RCTL_SBP)) {
      regs.inc(ROC);
      return true;
    }
    if (!this.#accepts(frame)) return true;
    const bufSize = this.#bufferSize();
    const fcs = rctl & RCTL_SECRC ? 0 : 4;
    const total = size + fcs;
    if (total > this.#free() * bufSize) {
      this.#irq.setCause(ICR_RXO);
      return false;
    }
    this.#writeToRing(bus, frame, total, bufSize, fcs);
    regs.inc(TPR);
    regs.inc(GPRC);
    regs.grow(TORL, size + 4);
    regs.grow(GORCL, size + 4);
    regs.sizeStat(PRC64, total);
    if (isBroadcast(frame)) regs.inc(BPRC);
    else if (frame[0]! & 1) regs.inc(MPRC);
    const shift = ((rctl >>> 8) & 3) + 1 + 4;
    const threshold = this.#free() === regs.r(RDLEN0) >>> shift;
    this.#irq.setCause(this.#irq.msix() ? ICR_RXQ0 : ICR_RXT0 | (threshold ? ICR_RXDMT0 : 0));
    return true;
  }

  #bufferSize(): number {
    const rctl = this.#regs.r(RCTL);
    const code = (rctl >>> 16) & 3;
    if (rctl & RCTL_BSEX) return code === 1 ? 16384 : code === 2 ? 8192 : code === 3 ? 4096 : 2048;
    return code === 1 ? 1024 : code === 2 ? 512 : code === 3 ? 256 : 2048;
  }

  #free(): number {
    const count = this.#regs.r(RDLEN0) / 16;
    const h = this.#regs.r(RDH0);
    const t = this.#regs.r(RDT0);
    if (t >= count) return 0;
    return h <= t ? t - h : count + t - h;
  }

  #accepts(frame: Uint8Array): boolean {
    const regs = this.#regs;
    const rctl = regs.r(RCTL);
    if (isBroadcast(frame)) {
      if (rctl & RCTL_BAM) return true;
    } else if (frame[0]! & 1) {
      if (rctl & RCTL_MPE) return true;
    } else if (rctl & RCTL_UPE) {
      return true;
    }
    for (let i = 0; i < 16; i++) {
      const high = regs.r(RAL0 + i * 8 + 4);
      if (!(high & RAH_AV)) continue;
      const low = regs.r(RAL0 + i * 8);
      if (
        frame[0] === (low & 0xff) && frame[1] === ((low >>> 8) & 0xff) && frame[2] === ((low >>> 16) & 0xff) && frame[3] === low >>> 24 &&
        frame[4] === (high & 0xff) && frame[5] === ((high >>> 8) & 0xff)
      )
        return true;
    }
    const shift = [4, 3, 2, 0][(rctl >>> 12) & 3]!;
    const f = (((frame[5]! << 8) | frame[4]!) >>> shift) & 0xfff;
    return (regs.r(MTA + (f >>> 5) * 4) & (1 << (f & 0x1f))) !== 0;
  }

  #writeToRing(bus: Dma, frame: Uint8Array, total: number, bufSize: number, fcs: number): void {
    const regs = this.#regs;
    const count = regs.r(RDLEN0) / 16;
    const base = regs.r(RDBAH0) * 2 ** 32 + regs.r(RDBAL0);
    const size = frame.length;
    let offset = 0;
    do {
      const head = regs.r(RDH0);
      const tail = regs.r(RDT0);
      if (head === tail || tail >= count) return; // QEMU stops mid-frame too
      if (head >= count) {
        this.#report(`RDH0 ${head} is beyond the ${count}-descriptor ring; starting over at 0`);
        regs.w(RDH0, 0);
        continue;
      }
      const at = descriptorAt(base, head);
      const d = readDescriptor(bus, base, head, 'receive', (m) => this.#report(m));
      const addr = d.getUint32(0, true) + d.getUint32(4, true) * 2 ** 32;
      let written = 0;
      let last = false;
      if (addr !== 0) {
        const chunk = Math.min(total - offset, bufSize);
        if (offset < size) {
          const copy = Math.min(size - offset, bufSize);
          if (!bus.dmaWrite(addr, frame.subarray(offset, offset + copy)))
            this.#report(`receive buffer of descriptor ${head} at IOVA 0x${addr.toString(16)} (+${copy}) faulted`);
          written = copy;
          if (offset + chunk >= total && fcs && copy + fcs <= bufSize) {
            bus.dmaWrite(addr + copy, new Uint8Array(fcs));
            written += fcs;
          }
        }
        offset += chunk;
        last = offset >= total;
      } // a descriptor without a buffer is skipped: written back with DD alone
      const wb = new Uint8Array(8);
      const w = new DataView(wb.buffer);
      w.setUint16(0, written, true);
      w.setUint8(4, RXD_STAT_DD | (last ? RXD_STAT_EOP : 0));
      if (!bus.dmaWrite(at + 8, wb)) this.#report(`receive descriptor ${head}: write-back faulted`);
      regs.w(RDH0, head + 1 >= count ? 0 : head + 1);
    } while (offset < total);
  }
}
