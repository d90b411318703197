import { ConfigBuilder } from '../config.js';
import type { BarSpec, DeviceBus, DeviceModel } from '../model.js';
import { Eeprom } from './e1000e/eeprom.js';
import { Interrupts } from './e1000e/interrupts.js';
import { Phy } from './e1000e/phy.js';
import { Receiver } from './e1000e/receive.js';
import { RegisterFile } from './e1000e/register-file.js';
import {
  CLEAR_ON_READ, CLEAR_ON_READ_64, CTRL, CTRL_EXT, CTRL_FD, CTRL_GIO_MASTER_DISABLE, CTRL_RST, CTRL_SLU, CTRL_SPD_1000, CTRL_SWDPIN0, CTRL_SWDPIN2, EEC,
  EEC_AUTO_RD, EEC_PRES, EERD, EERD_DONE, ICR, ICS, IMC, IMS, ITR, MDIC, MMIO_SIZE, MPC, MSIX_PBA, MSIX_VECTORS, PBA, RAL0, RADV, RAH_AV, RCTL, RCTL_EN,
  RDBAL0, RDH0, RDLEN0, RDT0, RDTR, RFCTL, RFCTL_EXTEN, RXCSUM, RXDCTL, STATUS, STATUS_ASDV_1000, STATUS_FD, STATUS_GIO_MASTER_ENABLE, STATUS_LU,
  STATUS_SPEED_1000, TADV, TARC0, TARC1, TARC_ENABLE, TCTL, TDBAL, TDH, TDLEN, TDT, TIDV, TIPG,
} from './e1000e/regs.js';
import { Transmitter } from './e1000e/transmit.js';
import type { EthernetLink, EthernetPort } from './ethernet.js';

/** Options of E1000eModel. */
export interface E1000eModelOptions {
  /** The permanent MAC address (default 52:54:00:12:34:56, QEMU's first NIC). */
  mac?: string | Uint8Array;
  /** The cable is plugged in (default true): STATUS.LU after reset. */
  link?: boolean;
  /** How long a restarted auto-negotiation keeps the link down (QEMU: 500 ms). */
  autonegMs?: number;
  /** PCI device id (default 0x10d3, the 82574L). */
  deviceId?: number;
}

/** Parses "52:54:00:12:34:56". */
export function parseMac(text: string): Uint8Array {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) throw new RangeError(`not a MAC address: ${JSON.stringify(text)}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/**
 * A model of the Intel 82574L (e1000e, 8086:10d3) as QEMU 7.2 emulates it
 * (hw/net/e1000e.c, e1000e_core.c), for the subset a user-level driver needs:
 *
 *  - PCI: class 0x020000; BAR0 128 KiB registers, BAR1 128 KiB flash (reads 0), BAR2 32
 *    bytes of I/O (IOADDR/IODATA window onto BAR0), BAR3 16 KiB MSI-X table and PBA;
 *    PM, MSI (1 vector), PCIe (FLR) and MSI-X (5 vectors) capabilities; resettable.
 *  - Registers: CTRL (RST resets the station address only, as QEMU does), STATUS with link
 *    up, EERD over a 64-word EEPROM holding the MAC, MDIC with the PHY's control/status
 *    (restarting auto-negotiation takes the link down for `autonegMs`), RAL/RAH and MTA
 *    filters, promiscuous/broadcast modes, the statistics QEMU keeps (clear on read as
 *    QEMU reads them; GPTC/GOTC mirror TPT/TOT after every transmit, like QEMU).
 *  - Rings: legacy receive and transmit descriptors. TDT (or TCTL) writes transmit at once:
 *    descriptors and buffers are fetched through the IOMMU, frames go to the hub, DD is
 *    written back when RS is set. Frames from the hub are written to the receive ring,
 *    spanning descriptors when larger than the buffer (RCTL.BSIZE/BSEX), DD/EOP/length
 *    written back; a frame that does not fit in the free descriptors waits in the hub
 *    (QEMU's net queue) until RDT0 moves.
 *  - Interrupts: ICR/ICS/IMS/IMC with QEMU's edge logic for MSI (a cause already signalled
 *    signals again only once ICR was cleared), MSI-X through IVAR with EIAC auto-clear and
 *    auto-mask, INTx as a level. No throttling (ITR/EITR) and no delay timers.
 *
 * Anything a driver writes is accepted: bad lengths, ring sizes, unmapped IOVAs end up in
 * `errors` (and the kernel's IOMMU `faults`), never as an exception in the fake kernel.
 */
export class E1000eModel implements DeviceModel, EthernetPort {
  readonly config: Uint8Array;
  readonly bars: readonly (BarSpec | undefined)[] = [
    { size: MMIO_SIZE },
    { size: 128 * 1024 },
    { size: 32, kind: 'io' },
    { size: 16 * 1024 },
  ];
  readonly resettable = true;
  /** What the driver did that the hardware would not like (bad descriptors, faulted DMA, ...), oldest first. */
  readonly errors: string[] = [];
  /** The permanent MAC address (6 bytes), as the EEPROM and RAL0/RAH0 hold it after reset. */
  readonly mac: Uint8Array;
  readonly #regs = new RegisterFile();
  readonly #eeprom: Eeprom;
  readonly #irq: Interrupts;
  readonly #phy: Phy;
  readonly #tx: Transmitter;
  readonly #rx: Receiver;
  #msixTable = new Uint8Array(16 * 1024);
  #ioaddr = 0;
  #bus: DeviceBus | null = null;
  #link: EthernetLink | null = null;

  constructor(options: E1000eModelOptions = {}) {
    this.mac = options.mac === undefined ? Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56) : typeof options.mac === 'string' ? parseMac(options.mac) : Uint8Array.from(options.mac);
    if (this.mac.length !== 6) throw new RangeError('E1000eModel: mac must have 6 bytes');
    this.config = new ConfigBuilder({
      vendor: 0x8086,
      device: options.deviceId ?? 0x10d3,
      classCode: 0x020000,
      subsystemVendor: 0x8086,
      subsystem: 0,
      interruptPin: 1,
      express: true,
    })
      .pm()
      .msi({ log2Vectors: 0, is64: true })
      .pcie({ flr: true })
      .msix({ tableSize: MSIX_VECTORS, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: MSIX_PBA })
      .build();
    this.#eeprom = new Eeprom(this.mac, options.deviceId ?? 0x10d3);
    const report = (message: string): void => this.#error(message);
    this.#irq = new Interrupts(this.#regs, report);
    this.#phy = new Phy(this.#regs, this.#irq, { cable: options.link ?? true, autonegMs: options.autonegMs ?? 500, onLinkUp: () => this.#link?.ready(this) });
    // A frame sent with the cable out is lost (and counted as sent), as in QEMU.
    this.#tx = new Transmitter(this.#regs, this.#irq, report, (frame) => {
      if (this.#phy.cable) this.#link?.send(this, frame);
    });
    this.#rx = new Receiver(this.#regs, this.#irq, report);
    this.reset();
  }

  attach(bus: DeviceBus): void {
    this.#bus = bus;
    this.#irq.attach(bus);
  }

  connect(link: EthernetLink): void {
    this.#link = link;
  }

  /** The cable: unplugging takes the link down at once; plugging in brings it up (LSC either way). */
  setLink(up: boolean): void {
    this.#phy.setCable(up);
  }

  /** The link is up now (STATUS.LU), as the driver would read it. */
  get linkUp(): boolean {
    return (this.#regs.r(STATUS) & STATUS_LU) !== 0;
  }

  // ---- reset -----------------------------------------------------------------------

  /** Power-on / FLR reset (VFIO_DEVICE_RESET): every register to its initial value. */
  reset(): void {
    const regs = this.#regs;
    regs.clear();
    regs.w(CTRL, CTRL_FD | CTRL_SWDPIN0 | CTRL_SWDPIN2 | CTRL_SPD_1000 | CTRL_SLU);
    regs.w(STATUS, STATUS_ASDV_1000 | STATUS_LU);
    regs.w(EEC, EEC_AUTO_RD | EEC_PRES);
    regs.w(EERD, EERD_DONE);
    regs.w(PBA, 0x00140014);
    regs.w(RXDCTL, 1 << 16);
    regs.w(TIPG, 8 | (8 << 10) | (6 << 20));
    regs.w(TARC0, 0x3 | TARC_ENABLE);
    regs.w(TARC1, 0x3 | TARC_ENABLE);
    regs.w(RXCSUM, 0x300);
    this.#irq.reset();
    this.#tx.reset();
    this.#phy.reset();
    this.#ioaddr = 0;
    this.#resetStationAddress();
  }

  #resetStationAddress(): void {
    const m = this.mac;
    this.#regs.w(RAL0, (m[0]! | (m[1]! << 8) | (m[2]! << 16) | (m[3]! << 24)) >>> 0);
    this.#regs.w(RAL0 + 4, (m[4]! | (m[5]! << 8) | RAH_AV) >>> 0);
  }

  dispose(): void {
    this.#phy.dispose();
  }

  // ---- BAR access ------------------------------------------------------------------

  read(bar: number, offset: number, width: 1 | 2 | 4 | 8): number | bigint {
    try {
      if (width === 8) return BigInt(this.#read32(bar, offset)) | (BigInt(this.#read32(bar, offset + 4)) << 32n);
      const v = this.#read32(bar, offset & ~3);
      if (width === 4) return v;
      const shift = (offset & 3) * 8;
      return (v >>> shift) & (width === 1 ? 0xff : 0xffff);
    } catch (e) {
      this.#error(`read BAR${bar}+0x${offset.toString(16)}: ${(e as Error).message}`);
      return width === 8 ? 0n : 0;
    }
  }

  write(bar: number, offset: number, width: 1 | 2 | 4 | 8, value: number | bigint): void {
    try {
      if (width === 8) {
        const v = BigInt.asUintN(64, BigInt(value));
        this.#write32(bar, offset, Number(v & 0xffffffffn));
        this.#write32(bar, offset + 4, Number(v >> 32n));
        return;
      }
      const v = Number(value) >>> 0;
      if (width === 4) return this.#write32(bar, offset, v);
      // Narrower than the registers: merged into the register's stored value.
      const at = offset & ~3;
      const shift = (offset & 3) * 8;
      const mask = (width === 1 ? 0xff : 0xffff) << shift;
      const old = bar === 0 ? this.#regs.r(at) : this.#read32(bar, at);
      this.#write32(bar, at, ((old & ~mask) | ((v << shift) & mask)) >>> 0);
    } catch (e) {
      this.#error(`write BAR${bar}+0x${offset.toString(16)}: ${(e as Error).message}`);
    }
  }

  #read32(bar: number, offset: number): number {
    switch (bar) {
      case 0:
        return offset >= 0 && offset + 4 <= MMIO_SIZE ? this.#readReg(offset) : 0;
      case 2:
        if (offset === 0) return this.#ioaddr;
        if (offset === 4) return this.#ioaddr < MMIO_SIZE - 3 ? this.#readReg(this.#ioaddr & ~3) : 0;
        return 0;
      case 3:
        return offset + 4 <= this.#msixTable.length ? new DataView(this.#msixTable.buffer).getUint32(offset, true) : 0;
      default:
        return 0; // BAR1: QEMU's dummy flash
    }
  }

  #write32(bar: number, offset: number, value: number): void {
    switch (bar) {
      case 0:
        if (offset >= 0 && offset + 4 <= MMIO_SIZE) this.#writeReg(offset, value);
        return;
      case 2:
        if (offset === 0) this.#ioaddr = value;
        else if (offset === 4 && this.#ioaddr < MMIO_SIZE - 3) this.#writeReg(this.#ioaddr & ~3, value);
        return;
      case 3:
        if (offset < MSIX_PBA && offset + 4 <= MSIX_PBA) new DataView(this.#msixTable.buffer).setUint32(offset, value, true);
        return;
    }
  }

  #readReg(off: number): number {
    const regs = this.#regs;
    switch (off) {
      case ICR:
        return this.#irq.readIcr();
      case ICS:
        return regs.r(ICR);
      case ITR:
        return this.#irq.itr;
      case STATUS: {
        let v = regs.r(STATUS) | STATUS_FD | STATUS_SPEED_1000;
        if (!(regs.r(CTRL) & CTRL_GIO_MASTER_DISABLE)) v |= STATUS_GIO_MASTER_ENABLE;
        return v >>> 0;
      }
      case IMC:
        return 0; // write-only
    }
    const v = regs.r(off);
    if (CLEAR_ON_READ.has(off)) regs.w(off, 0);
    else if (CLEAR_ON_READ_64.has(off)) {
      regs.w(off, 0);
      regs.w(off - 4, 0);
    }
    return v;
  }

  #writeReg(off: number, v: number): void {
    const regs = this.#regs;
    switch (off) {
      case CTRL:
        regs.w(CTRL, v & ~CTRL_RST);
        if (v & CTRL_RST) this.#resetStationAddress(); // all QEMU 7.2 resets on CTRL.RST
        return;
      case STATUS:
        return; // read-only
      case EEC:
        regs.w(EEC, (regs.r(EEC) & (EEC_PRES | EEC_AUTO_RD)) | (v & ~(EEC_PRES | EEC_AUTO_RD)));
        return;
      case EERD:
        regs.w(EERD, this.#eeprom.lookup(v));
        return;
      case MDIC:
        return this.#phy.mdic(v);
      case ICR:
        return this.#irq.writeIcr(v);
      case ICS:
        return this.#irq.setCause(v);
      case IMS:
        return this.#irq.unmask(v);
      case IMC:
        return this.#irq.mask(v);
      case ITR:
        return this.#irq.writeItr(v);
      case RCTL:
        regs.w(RCTL, v);
        if (v & RCTL_EN) {
          if (regs.r(RFCTL) & RFCTL_EXTEN || (v >>> 10) & 3) this.#error('RCTL: extended and packet-split receive descriptors are not modelled; using legacy');
          this.#link?.ready(this);
        }
        return;
      case TCTL:
        regs.w(TCTL, v);
        return this.#tx.run(this.#bus);
      case RDBAL0:
      case TDBAL:
        regs.w(off, v & ~0xf);
        return;
      case RDLEN0:
      case TDLEN:
        if (v & 0x7f || v > 0xfff80) this.#error(`${off === RDLEN0 ? 'RDLEN0' : 'TDLEN'} = ${v}: not a multiple of 128 bytes below 1 MiB; the low bits are ignored`);
        regs.w(off, v & 0xfff80);
        return;
      case RDH0:
      case TDH:
      case RDTR:
      case RADV:
      case TIDV:
      case TADV:
        regs.w(off, v & 0xffff);
        return;
      case RDT0:
        regs.w(RDT0, v & 0xffff);
        this.#link?.ready(this);
        return;
      case TDT:
        regs.w(TDT, v & 0xffff);
        return this.#tx.run(this.#bus);
      case CTRL_EXT:
        regs.w(CTRL_EXT, v & ~((1 << 13) | (1 << 12))); // ASDCHK and EE_RST self-clear
        return;
    }
    if (off >= 0x4000 && off < 0x4100) return; // statistics are read-only
    regs.w(off, v);
  }

  // ---- the wire --------------------------------------------------------------------

  /** QEMU's e1000e_can_receive: link up, receiver on, bus master, a free descriptor. */
  canReceive(): boolean {
    return this.#rx.canReceive(this.#bus);
  }

  missed(): void {
    this.#regs.inc(MPC);
  }

  receiveFrame(frame: Uint8Array): boolean {
    try {
      return this.#rx.receive(this.#bus, frame);
    } catch (e) {
      this.#error(`receive: ${(e as Error).message}`);
      return true;
    }
  }

  #error(message: string): void {
    if (this.errors.length < 1000) this.errors.push(message);
  }
}
