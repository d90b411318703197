import type { IrqLines } from '../e1000e/interrupts.js';
import { EICR_VECTORS, IVAR0, IVAR_MISC, IVAR_RX0_SHIFT, IVAR_TX0_SHIFT, IVAR_VALID, MSIX_VECTORS } from '../../../../hw/e82576vf.js';
import type { VfRegisters } from './registers.js';

/**
 * The VF's interrupts as QEMU's igb core delivers them (igb_raise_interrupts, the PVTEI*
 * mirrors): MSI-X only, cause bit n is vector n. A cause fires its vector when it becomes
 * pending and unmasked; EIAC clears it from the causes as it fires, so the next one fires
 * again; there is no auto-masking (EIAM has no effect). The queues reach a cause through
 * IVAR0 (receive and transmit queue 0), the mailbox through IVAR_MISC (with QEMU's mistake:
 * see mailbox()).
 *
 * QEMU: reading EICR returns the value last written to it (and clears that), and reading
 * EIMS the value last written to it; the model does the same, so a driver that reads them
 * fails here as it would there.
 */
export class VfInterrupts {
  readonly #regs: VfRegisters;
  readonly #report: (message: string) => void;
  #lines: IrqLines | null = null;
  #causes = 0;
  #mask = 0;
  #autoClear = 0;
  #eicrWritten = 0;
  #eimsWritten = 0;

  constructor(regs: VfRegisters, report: (message: string) => void) {
    this.#regs = regs;
    this.#report = report;
  }

  attach(lines: IrqLines): void {
    this.#lines = lines;
  }

  reset(): void {
    this.#causes = this.#mask = this.#autoClear = this.#eicrWritten = this.#eimsWritten = 0;
  }

  /** Pending causes (for tests). */
  get pending(): number {
    return this.#causes;
  }

  /** Unmasked causes (for tests). */
  get enabled(): number {
    return this.#mask;
  }

  readEicr(): number {
    const v = this.#eicrWritten;
    this.#eicrWritten = 0;
    return v;
  }

  readEims(): number {
    return this.#eimsWritten;
  }

  writeEicr(v: number): void {
    this.#eicrWritten = v >>> 0;
    this.#causes &= ~v;
  }

  writeEics(v: number): void {
    this.#raise(v & EICR_VECTORS);
  }

  writeEims(v: number): void {
    this.#eimsWritten = v >>> 0;
    const old = this.#causes & this.#mask;
    this.#mask |= v & EICR_VECTORS;
    this.#fire(this.#causes & this.#mask & ~old);
  }

  writeEimc(v: number): void {
    this.#mask &= ~v;
  }

  writeEiac(v: number): void {
    this.#autoClear |= v & EICR_VECTORS;
  }

  /** EIAC is cleared by writing 0 (QEMU only ORs bits in; Linux writes 0 when it stops). */
  clearEiac(): void {
    this.#autoClear = 0;
  }

  /** A receive descriptor of queue 0 was written back. */
  rxQueue(): void {
    this.#queue(IVAR_RX0_SHIFT);
  }

  /** A transmit descriptor of queue 0 was written back (RS). */
  txQueue(): void {
    this.#queue(IVAR_TX0_SHIFT);
  }

  /**
   * The PF wrote to the mailbox (a message, or an acknowledgement). As QEMU 10 does it
   * (mailbox_interrupt_to_vf: causes = (ent & 3) << base), the entry's vector number is used
   * as a cause mask, not as a bit number: vector 2 raises the cause of vector 1, vector 1 that
   * of vector 0, vector 0 nothing. Measured in the sriov guest: the mailbox vector never
   * fired, the receive vector did while it was unmasked.
   */
  mailbox(): void {
    const ent = this.#regs.r(IVAR_MISC) & 0xff;
    if (ent & IVAR_VALID) this.#raise(ent & 3);
  }

  #queue(shift: number): void {
    const ent = (this.#regs.r(IVAR0) >>> shift) & 0xff;
    if (ent & IVAR_VALID) this.#raise(1 << (ent & 3));
  }

  #raise(causes: number): void {
    const old = this.#causes & this.#mask;
    this.#causes |= causes;
    this.#fire(this.#causes & this.#mask & ~old);
  }

  #fire(raised: number): void {
    for (let v = 0; v < MSIX_VECTORS; v++) {
      const bit = 1 << v;
      if (!(raised & bit)) continue;
      if (this.#lines?.irqType === 'msix') this.#lines.raiseIrq(v);
      else if (this.#lines && this.#lines.irqType !== undefined && this.#lines.irqType !== 'none') this.#report(`vector ${v} raised but the VF signals only through MSI-X (${this.#lines.irqType} is enabled)`);
      this.#causes &= ~(this.#autoClear & bit);
    }
  }
}
