import type { RegisterFile } from './register-file.js';
import {
  CTRL_EXT, CTRL_EXT_EIAME, CTRL_EXT_IAME, EIAC, IAM, ICR, ICR_INT_ASSERTED, ICR_OTHER, ICR_OTHER_CAUSES, ICR_RXQ0, ICR_RXQ1, ICR_TXQ0, ICR_TXQ1,
  IMS, IMS_VALID, ITR, IVAR, IVAR_VALID, MSIX_VECTORS,
} from './regs.js';

/** The part of the kernel's DeviceBus that carries interrupts. */
export interface IrqLines {
  /** Signals vector `vector` of the enabled interrupt type (MSI/MSI-X), or asserts INTx (level). */
  raiseIrq(vector?: number): void;
  /** Deasserts INTx. */
  lowerIrq(): void;
  /** Which interrupt type the driver enabled; a bus that does not say leaves the choice to IVAR. */
  readonly irqType?: string;
}

/**
 * ICR/ICS/IMS/IMC/ITR and how a cause reaches the bus: QEMU's edge logic for MSI, MSI-X
 * through IVAR with EIAC auto-clear and auto-mask, INTx as a level. The causes themselves
 * live in the register file (ICR, IMS, IAM), where the MMIO dispatch and the other parts
 * see them.
 */
export class Interrupts {
  readonly #regs: RegisterFile;
  readonly #report: (message: string) => void;
  #lines: IrqLines | null = null;
  /** Causes signalled since ICR last cleared them: MSI and MSI-X fire only for new ones. */
  #msiPending = 0;
  /** ITR as the driver wrote it; the register file holds QEMU's clamped value. */
  #itrGuest = 0;

  constructor(regs: RegisterFile, report: (message: string) => void) {
    this.#regs = regs;
    this.#report = report;
  }

  attach(lines: IrqLines): void {
    this.#lines = lines;
  }

  /** After the register file was cleared. */
  reset(): void {
    this.#regs.w(ITR, 500);
    this.#itrGuest = 0;
    this.#msiPending = 0;
  }

  get itr(): number {
    return this.#itrGuest;
  }

  writeItr(v: number): void {
    this.#itrGuest = v & 0xffff;
    this.#regs.w(ITR, Math.max(v & 0xffff, 500));
  }

  /** MSI-X when the kernel enabled it (or, without that information, when IVAR maps any cause). */
  msix(): boolean {
    const kind = this.#lines?.irqType;
    if (kind !== undefined) return kind === 'msix';
    return (this.#regs.r(IVAR) & 0x88888) !== 0; // the valid bit of any of the five entries
  }

  readIcr(): number {
    const regs = this.#regs;
    const ret = regs.r(ICR);
    if (regs.r(IMS) === 0) regs.w(ICR, 0);
    if (regs.r(ICR) & ICR_INT_ASSERTED && regs.r(CTRL_EXT) & CTRL_EXT_IAME) {
      regs.w(ICR, 0);
      regs.w(IMS, regs.r(IMS) & ~regs.r(IAM));
    }
    this.#update();
    return ret;
  }

  /** Write 1s to clear; clearing Other clears the causes it stands for. */
  writeIcr(v: number): void {
    const regs = this.#regs;
    if (regs.r(ICR) & ICR_INT_ASSERTED && regs.r(CTRL_EXT) & CTRL_EXT_IAME) regs.w(IMS, regs.r(IMS) & ~regs.r(IAM));
    let icr = regs.r(ICR) & ~v;
    if (v & ICR_OTHER) icr &= ~ICR_OTHER_CAUSES;
    regs.w(ICR, icr);
    this.#update();
  }

  /** ICS, and every cause the device raises itself. */
  setCause(cause: number): void {
    this.#regs.w(ICR, this.#regs.r(ICR) | cause);
    this.#update();
  }

  /** IMS. */
  unmask(v: number): void {
    this.#regs.w(IMS, this.#regs.r(IMS) | (v & IMS_VALID));
    this.#update();
  }

  /** IMC. */
  mask(v: number): void {
    this.#regs.w(IMS, this.#regs.r(IMS) & ~v);
    this.#update();
  }

  #update(): void {
    const regs = this.#regs;
    const msix = this.msix();
    if (msix && regs.r(ICR) & ICR_OTHER_CAUSES) regs.w(ICR, regs.r(ICR) | ICR_OTHER);
    let icr = regs.r(ICR) & ~ICR_INT_ASSERTED;
    if (icr) icr |= ICR_INT_ASSERTED;
    regs.w(ICR, icr);
    const pending = (regs.r(IMS) & regs.r(ICR)) !== 0;
    if (!pending) {
      this.#msiPending = 0;
      this.#lines?.lowerIrq();
      return;
    }
    // QEMU's edge logic: only causes not signalled since ICR last cleared signal again.
    let causes = regs.r(ICR) & regs.r(IMS) & ~ICR_INT_ASSERTED;
    this.#msiPending &= causes;
    causes ^= this.#msiPending;
    if (causes === 0) return;
    this.#msiPending |= causes;
    if (!msix) {
      this.#lines?.raiseIrq(0);
      return;
    }
    const ivar = regs.r(IVAR);
    if (causes & ICR_RXQ0) this.#msixNotify(ICR_RXQ0, ivar >>> 0);
    if (causes & ICR_RXQ1) this.#msixNotify(ICR_RXQ1, ivar >>> 4);
    if (causes & ICR_TXQ0) this.#msixNotify(ICR_TXQ0, ivar >>> 8);
    if (causes & ICR_TXQ1) this.#msixNotify(ICR_TXQ1, ivar >>> 12);
    if (causes & ICR_OTHER) this.#msixNotify(ICR_OTHER, ivar >>> 16);
  }

  #msixNotify(cause: number, entry: number): void {
    const regs = this.#regs;
    if (entry & IVAR_VALID) {
      const vec = entry & 0x7;
      if (vec < MSIX_VECTORS) this.#lines?.raiseIrq(vec);
      else this.#report(`IVAR maps cause 0x${cause.toString(16)} to vector ${vec}; the device has ${MSIX_VECTORS}`);
    }
    if (regs.r(CTRL_EXT) & CTRL_EXT_EIAME) regs.w(IAM, regs.r(IAM) & ~cause);
    const autoClear = regs.r(EIAC) & cause;
    regs.w(ICR, regs.r(ICR) & ~autoClear);
    this.#msiPending &= ~autoClear;
    if (!(regs.r(CTRL_EXT) & CTRL_EXT_IAME)) regs.w(IMS, regs.r(IMS) & ~autoClear);
  }
}
