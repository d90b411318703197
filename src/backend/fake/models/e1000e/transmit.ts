import type { Interrupts } from './interrupts.js';
import type { RegisterFile } from './register-file.js';
import {
  BPTC, GOTCH, GOTCL, GPTC, ICR_TXDW, ICR_TXQ0, ICR_TXQE, IVAR, IVAR_TX_INT_EVERY_WB, MPTC, PTC64, TARC0, TARC_ENABLE, TCTL, TCTL_EN, TDBAH, TDBAL,
  TDH, TDLEN, TDT, TOTH, TOTL, TPT, TXD_CMD_DEXT, TXD_CMD_EOP, TXD_CMD_RS, TXD_CMD_SHIFT, TXD_DTYP_D, TXD_STAT_DD,
} from './regs.js';
import { descriptorAt, isBroadcast, readDescriptor, type Dma } from './ring.js';

const MAX_TX_FRAGMENTS = 64;
const MAX_TX_FRAME = 65536;
// TXD_CMD's bits as they sit in the descriptor's second dword.
const CMD_EOP = TXD_CMD_EOP << TXD_CMD_SHIFT;
const CMD_RS = TXD_CMD_RS << TXD_CMD_SHIFT;
const CMD_DEXT = TXD_CMD_DEXT << TXD_CMD_SHIFT;

/**
 * The legacy transmit ring: from TDH to TDT, descriptors and their buffers are read
 * through DMA, fragments are gathered until EOP and the frame handed on; DD is written
 * back when RS asks for it (or IVAR says every write-back).
 */
export class Transmitter {
  readonly #regs: RegisterFile;
  readonly #irq: Interrupts;
  readonly #report: (message: string) => void;
  readonly #deliver: (frame: Uint8Array) => void;
  /** The frame being gathered; it may span several runs of the ring. */
  #tx = { frags: [] as Uint8Array[], size: 0, skip: false };

  /** `deliver` gets every frame sent, after it was counted. */
  constructor(regs: RegisterFile, irq: Interrupts, report: (message: string) => void, deliver: (frame: Uint8Array) => void) {
    this.#regs = regs;
    this.#irq = irq;
    this.#report = report;
    this.#deliver = deliver;
  }

  reset(): void {
    this.#tx = { frags: [], size: 0, skip: false };
  }

  /** After TDT or TCTL was written: sends everything up to the tail at once. */
  run(bus: Dma | null): void {
    const regs = this.#regs;
    if (!(regs.r(TCTL) & TCTL_EN) || !(regs.r(TARC0) & TARC_ENABLE)) return;
    if (!bus) return;
    const count = regs.r(TDLEN) / 16;
    const base = regs.r(TDBAH) * 2 ** 32 + regs.r(TDBAL);
    let cause = ICR_TXQE;
    while (regs.r(TDH) !== regs.r(TDT) && regs.r(TDT) < count) {
      const head = regs.r(TDH);
      if (head >= count) {
        this.#report(`TDH ${head} is beyond the ${count}-descriptor ring; starting over at 0`);
        regs.w(TDH, 0);
        continue;
      }
      const at = descriptorAt(base, head);
      const d = readDescriptor(bus, base, head, 'transmit', (m) => this.#report(m));
      const lower = d.getUint32(8, true);
      const upper = d.getUint32(12, true);
      this.#descriptor(bus, d.getUint32(0, true) + d.getUint32(4, true) * 2 ** 32, lower, head);
      if (lower & CMD_RS || regs.r(IVAR) & IVAR_TX_INT_EVERY_WB) {
        const wb = new Uint8Array(4);
        new DataView(wb.buffer).setUint32(0, (upper | TXD_STAT_DD) >>> 0, true);
        if (!bus.dmaWrite(at + 12, wb)) this.#report(`transmit descriptor ${head}: status write-back faulted`);
        cause |= this.#irq.msix() ? ICR_TXQ0 : ICR_TXDW;
      }
      regs.w(TDH, head + 1 >= count ? 0 : head + 1);
    }
    this.#irq.setCause(cause);
  }

  #descriptor(bus: Dma, addr: number, lower: number, index: number): void {
    const dtype = lower & (CMD_DEXT | TXD_DTYP_D);
    if (dtype === CMD_DEXT) {
      this.#report(`transmit descriptor ${index}: context descriptors are not modelled (ignored)`);
      return;
    }
    const tx = this.#tx;
    const length = lower & 0xffff;
    if (!tx.skip && length > 0) {
      if (tx.frags.length >= MAX_TX_FRAGMENTS || tx.size + length > MAX_TX_FRAME) {
        this.#report(`transmit descriptor ${index}: frame exceeds ${MAX_TX_FRAGMENTS} fragments or ${MAX_TX_FRAME} bytes; dropped`);
        tx.skip = true;
      } else {
        const data = bus.dmaRead(addr, length);
        if (!data) {
          this.#report(`transmit descriptor ${index}: buffer at IOVA 0x${addr.toString(16)} (+${length}) faulted; frame dropped`);
          tx.skip = true;
        } else {
          tx.frags.push(data);
          tx.size += length;
        }
      }
    }
    if (!(lower & CMD_EOP)) return;
    if (!tx.skip) {
      if (tx.size < 14) this.#report(`transmit descriptor ${index}: a ${tx.size}-byte frame has no Ethernet header; dropped`);
      else this.#send(tx.frags.length === 1 ? tx.frags[0]! : concat(tx.frags, tx.size));
    }
    this.#tx = { frags: [], size: 0, skip: false };
  }

  #send(frame: Uint8Array): void {
    const regs = this.#regs;
    regs.inc(TPT);
    regs.grow(TOTL, frame.length);
    regs.sizeStat(PTC64, frame.length);
    if (isBroadcast(frame)) regs.inc(BPTC);
    else if (frame[0]! & 1) regs.inc(MPTC);
    // QEMU 7.2 copies the totals into the "good" counters after every frame.
    regs.w(GPTC, regs.r(TPT));
    regs.w(GOTCL, regs.r(TOTL));
    regs.w(GOTCH, regs.r(TOTH));
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
