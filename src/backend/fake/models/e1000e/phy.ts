import type { Interrupts } from './interrupts.js';
import type { RegisterFile } from './register-file.js';
import { ICR_LSC, ICR_MDAC, MDIC, MDIC_ERROR, MDIC_INT_EN, MDIC_OP_READ, MDIC_OP_WRITE, MDIC_READY, STATUS, STATUS_LU } from './regs.js';

// IEEE 802.3 clause 22 registers the 82574's PHY implements.
const PHY_CTRL = 0;
const PHY_STATUS = 1;
const PHY_CTRL_RESTART_AN = 1 << 9;
const PHY_CTRL_AN_ENABLE = 1 << 12;
const PHY_STATUS_LINK = 1 << 2;
const PHY_STATUS_AN_COMPLETE = 1 << 5;

export interface PhyOptions {
  /** The cable is plugged in at power-on. */
  cable: boolean;
  /** How long a restarted auto-negotiation keeps the link down. */
  autonegMs: number;
  /** The link came up: the receiver may take frames again. */
  onLinkUp(): void;
}

/**
 * The PHY behind MDIC, and the link it negotiates: the cable, STATUS.LU, and the
 * auto-negotiation delay during which the link stays down.
 */
export class Phy {
  readonly #regs: RegisterFile;
  readonly #irq: Interrupts;
  readonly #autonegMs: number;
  readonly #onLinkUp: () => void;
  readonly #phy = new Uint16Array(32);
  readonly #timers = new Set<NodeJS.Timeout>();
  #cable: boolean;

  constructor(regs: RegisterFile, irq: Interrupts, options: PhyOptions) {
    this.#regs = regs;
    this.#irq = irq;
    this.#cable = options.cable;
    this.#autonegMs = options.autonegMs;
    this.#onLinkUp = options.onLinkUp;
  }

  get cable(): boolean {
    return this.#cable;
  }

  /** Unplugging takes the link down at once; plugging in brings it up (LSC either way). */
  setCable(up: boolean): void {
    this.#cable = up;
    const before = this.#regs.r(STATUS);
    if (!up) this.#linkDown();
    else if (this.#phy[PHY_CTRL]! & PHY_CTRL_AN_ENABLE && !(this.#phy[PHY_STATUS]! & PHY_STATUS_AN_COMPLETE)) this.#restartAutoneg();
    else this.#linkUp();
    if (this.#regs.r(STATUS) !== before) this.#irq.setCause(ICR_LSC);
  }

  /** After the register file was reset (STATUS.LU set): the PHY's registers, and the link down if unplugged. */
  reset(): void {
    this.#stopAutoneg();
    this.#phy.fill(0);
    this.#phy[PHY_CTRL] = 0x0040 | 0x0100 | PHY_CTRL_AN_ENABLE; // 1000 Mb/s, full duplex, auto-negotiation
    this.#phy[PHY_STATUS] = 0x0001 | PHY_STATUS_LINK | 0x0008 | 0x0040 | 0x0100 | 0x0800 | 0x1000 | 0x2000 | 0x4000;
    this.#phy[2] = 0x0141; // PHY id
    this.#phy[3] = 0x0cb0;
    if (!this.#cable) this.#linkDown();
  }

  dispose(): void {
    this.#stopAutoneg();
  }

  /** A write to MDIC: the PHY access completes at once. */
  mdic(v: number): void {
    const data = v & 0xffff;
    const reg = (v >>> 16) & 0x1f;
    const phy = (v >>> 21) & 0x1f;
    let out = v;
    if (phy !== 1) {
      out = this.#regs.r(MDIC) | MDIC_ERROR;
    } else if (v & MDIC_OP_READ && !(v & MDIC_OP_WRITE)) {
      out = (v & ~0xffff) | this.#phy[reg]!;
    } else if (v & MDIC_OP_WRITE) {
      if (reg === PHY_CTRL) {
        this.#phy[PHY_CTRL] = data & ~(0x3f | 0x8000 | PHY_CTRL_RESTART_AN);
        if (data & PHY_CTRL_RESTART_AN && data & PHY_CTRL_AN_ENABLE) this.#restartAutoneg();
      } else if (reg !== PHY_STATUS && reg !== 2 && reg !== 3) {
        this.#phy[reg] = data;
      }
    }
    this.#regs.w(MDIC, (out | MDIC_READY) >>> 0);
    if (v & MDIC_INT_EN) this.#irq.setCause(ICR_MDAC);
  }

  #linkDown(): void {
    this.#regs.w(STATUS, this.#regs.r(STATUS) & ~STATUS_LU);
    this.#phy[PHY_STATUS] = this.#phy[PHY_STATUS]! & ~(PHY_STATUS_LINK | PHY_STATUS_AN_COMPLETE);
  }

  #linkUp(): void {
    this.#regs.w(STATUS, this.#regs.r(STATUS) | STATUS_LU);
    this.#phy[PHY_STATUS] = this.#phy[PHY_STATUS]! | PHY_STATUS_LINK;
    this.#onLinkUp();
  }

  /** QEMU: the link drops at once (no interrupt), and comes back with LSC when negotiation "completes". */
  #restartAutoneg(): void {
    this.#linkDown();
    this.#stopAutoneg();
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#cable) return;
      this.#linkUp();
      this.#phy[PHY_STATUS] = this.#phy[PHY_STATUS]! | PHY_STATUS_AN_COMPLETE;
      this.#irq.setCause(ICR_LSC);
    }, this.#autonegMs);
    t.unref?.();
    this.#timers.add(t);
  }

  #stopAutoneg(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
  }
}
