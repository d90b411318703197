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
 *    (QEMU's net queue) until RDT moves.
 *  - Interrupts: ICR/ICS/IMS/IMC with QEMU's edge logic for MSI (a cause already signalled
 *    signals again only once ICR was cleared), MSI-X through IVAR with EIAC auto-clear and
 *    auto-mask, INTx as a level. No throttling (ITR/EITR) and no delay timers.
 *
 * Anything a driver writes is accepted: bad lengths, ring sizes, unmapped IOVAs end up in
 * `errors` (and the kernel's IOMMU `faults`), never as an exception in the fake kernel.
 */
import { ConfigBuilder } from '../config.js';
import type { BarSpec, DeviceBus, DeviceModel } from '../model.js';
import type { EthernetLink, EthernetPort } from './ethernet.js';

// Register offsets (82574 datasheet chapter 10), byte addresses in BAR0.
const CTRL = 0x0000;
const STATUS = 0x0008;
const EEC = 0x0010;
const EERD = 0x0014;
const CTRL_EXT = 0x0018;
const MDIC = 0x0020;
const ICR = 0x00c0;
const ITR = 0x00c4;
const ICS = 0x00c8;
const IMS = 0x00d0;
const IMC = 0x00d8;
const EIAC = 0x00dc;
const IAM = 0x00e0;
const IVAR = 0x00e4;
const RCTL = 0x0100;
const TCTL = 0x0400;
const TIPG = 0x0410;
const RDBAL = 0x2800;
const RDBAH = 0x2804;
const RDLEN = 0x2808;
const RDH = 0x2810;
const RDT = 0x2818;
const RDTR = 0x2820;
const RXDCTL = 0x2828;
const RADV = 0x282c;
const TDBAL = 0x3800;
const TDBAH = 0x3804;
const TDLEN = 0x3808;
const TDH = 0x3810;
const TDT = 0x3818;
const TIDV = 0x3820;
const TADV = 0x382c;
const TARC0 = 0x3840;
const TARC1 = 0x3940;
const RXCSUM = 0x5000;
const RFCTL = 0x5008;
const MTA = 0x5200;
const RA = 0x5400;
const PBA = 0x1000;

// Statistics: clear on read as QEMU 7.2 has them (the rest of 0x4000-0x40ff reads plainly).
const PRC64 = 0x405c;
const PRC127 = 0x4060;
const PRC255 = 0x4064;
const PRC511 = 0x4068;
const PRC1023 = 0x406c;
const PRC1522 = 0x4070;
const GPRC = 0x4074;
const BPRC = 0x4078;
const MPRC = 0x407c;
const GPTC = 0x4080;
const GORCL = 0x4088;
const GORCH = 0x408c;
const GOTCL = 0x4090;
const GOTCH = 0x4094;
const MPC = 0x4010;
const RUC = 0x40a4;
const ROC = 0x40ac;
const TORL = 0x40c0;
const TORH = 0x40c4;
const TOTL = 0x40c8;
const TOTH = 0x40cc;
const TPR = 0x40d0;
const TPT = 0x40d4;
const PTC64 = 0x40d8;
const PTC127 = 0x40dc;
const PTC255 = 0x40e0;
const PTC511 = 0x40e4;
const PTC1023 = 0x40e8;
const PTC1522 = 0x40ec;
const MPTC = 0x40f0;
const BPTC = 0x40f4;
const CLEAR_ON_READ = new Set([
  PRC64, PRC127, PRC255, PRC511, PRC1023, PRC1522, GPRC, BPRC, MPRC, GPTC, RUC, ROC, TPR, TPT,
  PTC64, PTC127, PTC255, PTC511, PTC1023, PTC1522, MPTC, BPTC,
]);
/** Reading the high half clears both halves. */
const CLEAR_ON_READ_64 = new Set([GORCH, GOTCH, TORH, TOTH]);

// Bits.
const CTRL_FD = 1 << 0;
const CTRL_GIO_MASTER_DISABLE = 1 << 2;
const CTRL_SLU = 1 << 6;
const CTRL_SPD_1000 = 2 << 8;
const CTRL_SWDPIN0 = 1 << 18;
const CTRL_SWDPIN2 = 1 << 20;
const CTRL_RST = 1 << 26;
const STATUS_FD = 1 << 0;
const STATUS_LU = 1 << 1;
const STATUS_SPEED_1000 = 2 << 6;
const STATUS_ASDV_1000 = 2 << 8;
const STATUS_GIO_MASTER_ENABLE = 1 << 19;
const EEC_PRES = 1 << 8;
const EEC_AUTO_RD = 1 << 9;
const EERD_START = 1 << 0;
const EERD_DONE = 1 << 1;
const CTRL_EXT_IAME = 1 << 27;
const CTRL_EXT_EIAME = 1 << 24;
const MDIC_OP_WRITE = 1 << 26;
const MDIC_OP_READ = 2 << 26;
const MDIC_READY = 1 << 28;
const MDIC_INT_EN = 1 << 29;
const MDIC_ERROR = 1 << 30;
const ICR_TXDW = 1 << 0;
const ICR_TXQE = 1 << 1;
const ICR_LSC = 1 << 2;
const ICR_RXDMT0 = 1 << 4;
const ICR_RXO = 1 << 6;
const ICR_RXT0 = 1 << 7;
const ICR_MDAC = 1 << 9;
const ICR_SRPD = 1 << 16;
const ICR_ACK = 1 << 17;
const ICR_MNG = 1 << 18;
const ICR_RXQ0 = 1 << 20;
const ICR_RXQ1 = 1 << 21;
const ICR_TXQ0 = 1 << 22;
const ICR_TXQ1 = 1 << 23;
const ICR_OTHER = 1 << 24;
const ICR_ASSERTED = 1 << 31;
const ICR_OTHER_CAUSES = ICR_LSC | ICR_RXO | ICR_MDAC | ICR_SRPD | ICR_ACK | ICR_MNG;
const IMS_VALID =
  ICR_TXDW | ICR_TXQE | ICR_LSC | ICR_RXDMT0 | ICR_RXO | ICR_RXT0 | ICR_MDAC | (1 << 15) | ICR_SRPD | ICR_ACK | ICR_MNG |
  ICR_RXQ0 | ICR_RXQ1 | ICR_TXQ0 | ICR_TXQ1 | ICR_OTHER;
const IVAR_VALID = 0x8;
const IVAR_TX_INT_EVERY_WB = 1 << 31;
const RCTL_EN = 1 << 1;
const RCTL_SBP = 1 << 2;
const RCTL_UPE = 1 << 3;
const RCTL_MPE = 1 << 4;
const RCTL_LPE = 1 << 5;
const RCTL_BAM = 1 << 15;
const RCTL_BSEX = 1 << 25;
const RCTL_SECRC = 1 << 26;
const TCTL_EN = 1 << 1;
const TARC_ENABLE = 1 << 10;
const RFCTL_EXTEN = 1 << 15;
const RAH_AV = 1 << 31;
const RXD_STAT_DD = 1 << 0;
const RXD_STAT_EOP = 1 << 1;
const TXD_CMD_EOP = 1 << 24; // in the descriptor's second dword (length | cso << 16 | cmd << 24)
const TXD_CMD_RS = 1 << 27;
const TXD_CMD_DEXT = 1 << 29;
const TXD_DTYP_D = 1 << 20;
const TXD_STAT_DD = 1 << 0;
// PHY (IEEE 802.3 clause 22 registers the 82574's PHY implements).
const PHY_CTRL = 0;
const PHY_STATUS = 1;
const PHY_CTRL_RESTART_AN = 1 << 9;
const PHY_CTRL_AN_ENABLE = 1 << 12;
const PHY_STATUS_LINK = 1 << 2;
const PHY_STATUS_AN_COMPLETE = 1 << 5;

const MMIO_SIZE = 128 * 1024;
const MSIX_VECTORS = 5;
const MSIX_PBA = 0x2000;
const MIN_FRAME = 60;
const MAX_TX_FRAGMENTS = 64;
const MAX_TX_FRAME = 65536;
const EEPROM_WORDS = 64;
const U32_MAX = 0xffffffff;

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
  readonly mac: Uint8Array;
  #regs = new Uint32Array(MMIO_SIZE / 4);
  #phy = new Uint16Array(32);
  #eeprom = new Uint16Array(EEPROM_WORDS);
  #msixTable = new Uint8Array(16 * 1024);
  #ioaddr = 0;
  #itrGuest = 0;
  #msiPending = 0;
  #cable: boolean;
  #autonegMs: number;
  #bus: DeviceBus | null = null;
  #link: EthernetLink | null = null;
  #timers = new Set<NodeJS.Timeout>();
  #tx = { frags: [] as Uint8Array[], size: 0, skip: false };

  constructor(options: E1000eModelOptions = {}) {
    this.mac = options.mac === undefined ? Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x56) : typeof options.mac === 'string' ? parseMac(options.mac) : Uint8Array.from(options.mac);
    if (this.mac.length !== 6) throw new RangeError('E1000eModel: mac must have 6 bytes');
    this.#cable = options.link ?? true;
    this.#autonegMs = options.autonegMs ?? 500;
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
    // The NVM: MAC in words 0-2, the device id in words 11 and 13, checksum word 0x3f (sum 0xbaba).
    this.#eeprom.fill(0xffff);
    for (let i = 0; i < 3; i++) this.#eeprom[i] = this.mac[2 * i]! | (this.mac[2 * i + 1]! << 8);
    this.#eeprom[11] = this.#eeprom[13] = options.deviceId ?? 0x10d3;
    let sum = 0;
    for (let i = 0; i < 0x3f; i++) sum += this.#eeprom[i]!;
    this.#eeprom[0x3f] = (0xbaba - sum) & 0xffff;
    this.reset();
  }

  attach(bus: DeviceBus): void {
    this.#bus = bus;
  }

  connect(link: EthernetLink): void {
    this.#link = link;
  }

  /** The cable: unplugging takes the link down at once; plugging in brings it up (LSC either way). */
  setLink(up: boolean): void {
    this.#cable = up;
    const before = this.#r(STATUS);
    if (!up) this.#linkDown();
    else if (this.#phy[PHY_CTRL]! & PHY_CTRL_AN_ENABLE && !(this.#phy[PHY_STATUS]! & PHY_STATUS_AN_COMPLETE)) this.#restartAutoneg();
    else this.#linkUp();
    if (this.#r(STATUS) !== before) this.#setCause(ICR_LSC);
  }

  get linkUp(): boolean {
    return (this.#r(STATUS) & STATUS_LU) !== 0;
  }

  // ---- reset -----------------------------------------------------------------------

  /** Power-on / FLR reset (VFIO_DEVICE_RESET): every register to its initial value. */
  reset(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#regs.fill(0);
    this.#phy.fill(0);
    this.#phy[PHY_CTRL] = 0x0040 | 0x0100 | PHY_CTRL_AN_ENABLE; // 1000 Mb/s, full duplex, auto-negotiation
    this.#phy[PHY_STATUS] = 0x0001 | PHY_STATUS_LINK | 0x0008 | 0x0040 | 0x0100 | 0x0800 | 0x1000 | 0x2000 | 0x4000;
    this.#phy[2] = 0x0141; // PHY id
    this.#phy[3] = 0x0cb0;
    this.#w(CTRL, CTRL_FD | CTRL_SWDPIN0 | CTRL_SWDPIN2 | CTRL_SPD_1000 | CTRL_SLU);
    this.#w(STATUS, STATUS_ASDV_1000 | STATUS_LU);
    this.#w(EEC, EEC_AUTO_RD | EEC_PRES);
    this.#w(EERD, EERD_DONE);
    this.#w(PBA, 0x00140014);
    this.#w(RXDCTL, 1 << 16);
    this.#w(TIPG, 8 | (8 << 10) | (6 << 20));
    this.#w(TARC0, 0x3 | TARC_ENABLE);
    this.#w(TARC1, 0x3 | TARC_ENABLE);
    this.#w(RXCSUM, 0x300);
    this.#w(ITR, 500);
    this.#itrGuest = 0;
    this.#ioaddr = 0;
    this.#msiPending = 0;
    this.#tx = { frags: [], size: 0, skip: false };
    if (!this.#cable) this.#linkDown();
    this.#resetStationAddress();
  }

  #resetStationAddress(): void {
    const m = this.mac;
    this.#w(RA, (m[0]! | (m[1]! << 8) | (m[2]! << 16) | (m[3]! << 24)) >>> 0);
    this.#w(RA + 4, (m[4]! | (m[5]! << 8) | RAH_AV) >>> 0);
  }

  dispose(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
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
      const old = bar === 0 ? this.#regs[at >> 2] ?? 0 : this.#read32(bar, at);
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

  #r(off: number): number {
    return this.#regs[off >> 2]!;
  }
  #w(off: number, v: number): void {
    this.#regs[off >> 2] = v >>> 0;
  }

  #readReg(off: number): number {
    switch (off) {
      case ICR:
        return this.#readIcr();
      case ICS:
        return this.#r(ICR);
      case ITR:
        return this.#itrGuest;
      case STATUS: {
        let v = this.#r(STATUS) | STATUS_FD | STATUS_SPEED_1000;
        if (!(this.#r(CTRL) & CTRL_GIO_MASTER_DISABLE)) v |= STATUS_GIO_MASTER_ENABLE;
        return v >>> 0;
      }
      case IMC:
        return 0; // write-only
    }
    const v = this.#r(off);
    if (CLEAR_ON_READ.has(off)) this.#w(off, 0);
    else if (CLEAR_ON_READ_64.has(off)) {
      this.#w(off, 0);
      this.#w(off - 4, 0);
    }
    return v;
  }

  #writeReg(off: number, v: number): void {
    switch (off) {
      case CTRL:
        this.#w(CTRL, v & ~CTRL_RST);
        if (v & CTRL_RST) this.#resetStationAddress(); // all QEMU 7.2 resets on CTRL.RST
        return;
      case STATUS:
        return; // read-only
      case EEC:
        this.#w(EEC, (this.#r(EEC) & (EEC_PRES | EEC_AUTO_RD)) | (v & ~(EEC_PRES | EEC_AUTO_RD)));
        return;
      case EERD: {
        const addr = (v >>> 2) & 0x3fff;
        const ok = addr < EEPROM_WORDS && (v & EERD_START) !== 0;
        this.#w(EERD, (ok ? EERD_DONE : 0) | (addr << 2) | ((ok ? this.#eeprom[addr]! : 0) << 16));
        return;
      }
      case MDIC:
        return this.#mdic(v);
      case ICR: {
        if (this.#r(ICR) & ICR_ASSERTED && this.#r(CTRL_EXT) & CTRL_EXT_IAME) this.#w(IMS, this.#r(IMS) & ~this.#r(IAM));
        let icr = this.#r(ICR) & ~v;
        if (v & ICR_OTHER) icr &= ~ICR_OTHER_CAUSES;
        this.#w(ICR, icr);
        return this.#updateInterrupts();
      }
      case ICS:
        return this.#setCause(v);
      case IMS:
        this.#w(IMS, this.#r(IMS) | (v & IMS_VALID));
        return this.#updateInterrupts();
      case IMC:
        this.#w(IMS, this.#r(IMS) & ~v);
        return this.#updateInterrupts();
      case ITR:
        this.#itrGuest = v & 0xffff;
        this.#w(ITR, Math.max(v & 0xffff, 500));
        return;
      case RCTL:
        this.#w(RCTL, v);
        if (v & RCTL_EN) {
          if (this.#r(RFCTL) & RFCTL_EXTEN || (v >>> 10) & 3) this.#error('RCTL: extended and packet-split receive descriptors are not modelled; using legacy');
          this.#link?.ready(this);
        }
        return;
      case TCTL:
        this.#w(TCTL, v);
        return this.#transmit();
      case RDBAL:
      case TDBAL:
        this.#w(off, v & ~0xf);
        return;
      case RDLEN:
      case TDLEN:
        if (v & 0x7f || v > 0xfff80) this.#error(`${off === RDLEN ? 'RDLEN' : 'TDLEN'} = ${v}: not a multiple of 128 bytes below 1 MiB; the low bits are ignored`);
        this.#w(off, v & 0xfff80);
        return;
      case RDH:
      case TDH:
      case RDTR:
      case RADV:
      case TIDV:
      case TADV:
        this.#w(off, v & 0xffff);
        return;
      case RDT:
        this.#w(RDT, v & 0xffff);
        this.#link?.ready(this);
        return;
      case TDT:
        this.#w(TDT, v & 0xffff);
        return this.#transmit();
      case CTRL_EXT:
        this.#w(CTRL_EXT, v & ~((1 << 13) | (1 << 12))); // ASDCHK and EE_RST self-clear
        return;
    }
    if (off >= 0x4000 && off < 0x4100) return; // statistics are read-only
    this.#w(off, v);
  }

  // ---- PHY -------------------------------------------------------------------------

  #mdic(v: number): void {
    const data = v & 0xffff;
    const reg = (v >>> 16) & 0x1f;
    const phy = (v >>> 21) & 0x1f;
    let out = v;
    if (phy !== 1) {
      out = this.#r(MDIC) | MDIC_ERROR;
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
    this.#w(MDIC, (out | MDIC_READY) >>> 0);
    if (v & MDIC_INT_EN) this.#setCause(ICR_MDAC);
  }

  #linkDown(): void {
    this.#w(STATUS, this.#r(STATUS) & ~STATUS_LU);
    this.#phy[PHY_STATUS] = this.#phy[PHY_STATUS]! & ~(PHY_STATUS_LINK | PHY_STATUS_AN_COMPLETE);
  }

  #linkUp(): void {
    this.#w(STATUS, this.#r(STATUS) | STATUS_LU);
    this.#phy[PHY_STATUS] = this.#phy[PHY_STATUS]! | PHY_STATUS_LINK;
    this.#link?.ready(this);
  }

  /** QEMU: the link drops at once (no interrupt), and comes back with LSC when negotiation "completes". */
  #restartAutoneg(): void {
    this.#linkDown();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (!this.#cable) return;
      this.#linkUp();
      this.#phy[PHY_STATUS] = this.#phy[PHY_STATUS]! | PHY_STATUS_AN_COMPLETE;
      this.#setCause(ICR_LSC);
    }, this.#autonegMs);
    t.unref?.();
    this.#timers.add(t);
  }

  // ---- interrupts ------------------------------------------------------------------

  /** MSI-X when the kernel enabled it (or, without that information, when IVAR maps any cause). */
  #msix(): boolean {
    const kind = (this.#bus as (DeviceBus & { irqType?: string }) | null)?.irqType;
    if (kind !== undefined) return kind === 'msix';
    return (this.#r(IVAR) & 0x88888) !== 0; // the valid bit of any of the five entries
  }

  #readIcr(): number {
    const ret = this.#r(ICR);
    if (this.#r(IMS) === 0) this.#w(ICR, 0);
    if (this.#r(ICR) & ICR_ASSERTED && this.#r(CTRL_EXT) & CTRL_EXT_IAME) {
      this.#w(ICR, 0);
      this.#w(IMS, this.#r(IMS) & ~this.#r(IAM));
    }
    this.#updateInterrupts();
    return ret;
  }

  #setCause(cause: number): void {
    this.#w(ICR, this.#r(ICR) | cause);
    this.#updateInterrupts();
  }

  #updateInterrupts(): void {
    const msix = this.#msix();
    if (msix && this.#r(ICR) & ICR_OTHER_CAUSES) this.#w(ICR, this.#r(ICR) | ICR_OTHER);
    let icr = this.#r(ICR) & ~ICR_ASSERTED;
    if (icr) icr |= ICR_ASSERTED;
    this.#w(ICR, icr);
    const pending = (this.#r(IMS) & this.#r(ICR)) !== 0;
    if (!pending) {
      this.#msiPending = 0;
      this.#bus?.lowerIrq();
      return;
    }
    // QEMU's edge logic: only causes not signalled since ICR last cleared signal again.
    let causes = this.#r(ICR) & this.#r(IMS) & ~ICR_ASSERTED;
    this.#msiPending &= causes;
    causes ^= this.#msiPending;
    if (causes === 0) return;
    this.#msiPending |= causes;
    if (!msix) {
      this.#bus?.raiseIrq(0);
      return;
    }
    const ivar = this.#r(IVAR);
    if (causes & ICR_RXQ0) this.#msixNotify(ICR_RXQ0, ivar >>> 0);
    if (causes & ICR_RXQ1) this.#msixNotify(ICR_RXQ1, ivar >>> 4);
    if (causes & ICR_TXQ0) this.#msixNotify(ICR_TXQ0, ivar >>> 8);
    if (causes & ICR_TXQ1) this.#msixNotify(ICR_TXQ1, ivar >>> 12);
    if (causes & ICR_OTHER) this.#msixNotify(ICR_OTHER, ivar >>> 16);
  }

  #msixNotify(cause: number, entry: number): void {
    if (entry & IVAR_VALID) {
      const vec = entry & 0x7;
      if (vec < MSIX_VECTORS) this.#bus?.raiseIrq(vec);
      else this.#error(`IVAR maps cause 0x${cause.toString(16)} to vector ${vec}; the device has ${MSIX_VECTORS}`);
    }
    if (this.#r(CTRL_EXT) & CTRL_EXT_EIAME) this.#w(IAM, this.#r(IAM) & ~cause);
    const autoClear = this.#r(EIAC) & cause;
    this.#w(ICR, this.#r(ICR) & ~autoClear);
    this.#msiPending &= ~autoClear;
    if (!(this.#r(CTRL_EXT) & CTRL_EXT_IAME)) this.#w(IMS, this.#r(IMS) & ~autoClear);
  }

  // ---- transmit ----------------------------------------------------------------------

  #transmit(): void {
    if (!(this.#r(TCTL) & TCTL_EN) || !(this.#r(TARC0) & TARC_ENABLE)) return;
    const bus = this.#bus;
    if (!bus) return;
    const count = this.#r(TDLEN) / 16;
    const base = this.#r(TDBAH) * 2 ** 32 + this.#r(TDBAL);
    let cause = ICR_TXQE;
    while (this.#r(TDH) !== this.#r(TDT) && this.#r(TDT) < count) {
      const head = this.#r(TDH);
      if (head >= count) {
        this.#error(`TDH ${head} is beyond the ${count}-descriptor ring; starting over at 0`);
        this.#w(TDH, 0);
        continue;
      }
      const at = base + head * 16;
      const desc = bus.dmaRead(at, 16);
      if (!desc) this.#error(`transmit descriptor ${head} at IOVA 0x${at.toString(16)}: DMA read faulted`);
      const d = view(desc ?? new Uint8Array(16));
      const lower = d.getUint32(8, true);
      const upper = d.getUint32(12, true);
      this.#txDescriptor(bus, d.getUint32(0, true) + d.getUint32(4, true) * 2 ** 32, lower, head);
      if (lower & TXD_CMD_RS || this.#r(IVAR) & IVAR_TX_INT_EVERY_WB) {
        const wb = new Uint8Array(4);
        new DataView(wb.buffer).setUint32(0, (upper | TXD_STAT_DD) >>> 0, true);
        if (!bus.dmaWrite(at + 12, wb)) this.#error(`transmit descriptor ${head}: status write-back faulted`);
        cause |= this.#msix() ? ICR_TXQ0 : ICR_TXDW;
      }
      this.#w(TDH, head + 1 >= count ? 0 : head + 1);
    }
    this.#setCause(cause);
  }

  #txDescriptor(bus: DeviceBus, addr: number, lower: number, index: number): void {
    const dtype = lower & (TXD_CMD_DEXT | TXD_DTYP_D);
    if (dtype === TXD_CMD_DEXT) {
      this.#error(`transmit descriptor ${index}: context descriptors are not modelled (ignored)`);
      return;
    }
    const tx = this.#tx;
    const length = lower & 0xffff;
    if (!tx.skip && length > 0) {
      if (tx.frags.length >= MAX_TX_FRAGMENTS || tx.size + length > MAX_TX_FRAME) {
        this.#error(`transmit descriptor ${index}: frame exceeds ${MAX_TX_FRAGMENTS} fragments or ${MAX_TX_FRAME} bytes; dropped`);
        tx.skip = true;
      } else {
        const data = bus.dmaRead(addr, length);
        if (!data) {
          this.#error(`transmit descriptor ${index}: buffer at IOVA 0x${addr.toString(16)} (+${length}) faulted; frame dropped`);
          tx.skip = true;
        } else {
          tx.frags.push(data);
          tx.size += length;
        }
      }
    }
    if (!(lower & TXD_CMD_EOP)) return;
    if (!tx.skip) {
      if (tx.size < 14) this.#error(`transmit descriptor ${index}: a ${tx.size}-byte frame has no Ethernet header; dropped`);
      else this.#send(tx.frags.length === 1 ? tx.frags[0]! : concat(tx.frags, tx.size));
    }
    this.#tx = { frags: [], size: 0, skip: false };
  }

  #send(frame: Uint8Array): void {
    this.#inc(TPT);
    this.#grow(TOTL, frame.length);
    this.#sizeStat(PTC64, frame.length);
    if (isBroadcast(frame)) this.#inc(BPTC);
    else if (frame[0]! & 1) this.#inc(MPTC);
    // QEMU 7.2 copies the totals into the "good" counters after every frame.
    this.#w(GPTC, this.#r(TPT));
    this.#w(GOTCL, this.#r(TOTL));
    this.#w(GOTCH, this.#r(TOTH));
    // A frame sent with the cable out is lost (and counted as sent), as in QEMU.
    if (this.#cable) this.#link?.send(this, frame);
  }

  // ---- receive -----------------------------------------------------------------------

  #rxBufferSize(): number {
    const rctl = this.#r(RCTL);
    const code = (rctl >>> 16) & 3;
    if (rctl & RCTL_BSEX) return code === 1 ? 16384 : code === 2 ? 8192 : code === 3 ? 4096 : 2048;
    return code === 1 ? 1024 : code === 2 ? 512 : code === 3 ? 256 : 2048;
  }

  #rxFree(): number {
    const count = this.#r(RDLEN) / 16;
    const h = this.#r(RDH);
    const t = this.#r(RDT);
    if (t >= count) return 0;
    return h <= t ? t - h : count + t - h;
  }

  /** QEMU's e1000e_can_receive: link up, receiver on, bus master, a free descriptor. */
  canReceive(): boolean {
    return (this.#r(STATUS) & STATUS_LU) !== 0 && (this.#r(RCTL) & RCTL_EN) !== 0 && this.#bus?.busMaster === true && this.#r(RDLEN) > 0 && this.#rxFree() > 0;
  }

  missed(): void {
    this.#inc(MPC);
  }

  receiveFrame(frame: Uint8Array): boolean {
    try {
      return this.#receive(frame);
    } catch (e) {
      this.#error(`receive: ${(e as Error).message}`);
      return true;
    }
  }

  #receive(input: Uint8Array): boolean {
    if (!this.canReceive()) return false;
    let frame = input;
    if (frame.length < MIN_FRAME) {
      frame = new Uint8Array(MIN_FRAME);
      frame.set(input);
      this.#inc(RUC);
    }
    const rctl = this.#r(RCTL);
    const size = frame.length;
    if ((size > 16384 - 4 || (size > 1518 && !(rctl & RCTL_LPE))) && !(rctl & RCTL_SBP)) {
      this.#inc(ROC);
      return true;
    }
    if (!this.#accepts(frame)) return true;
    const bufSize = this.#rxBufferSize();
    const fcs = rctl & RCTL_SECRC ? 0 : 4;
    const total = size + fcs;
    if (total > this.#rxFree() * bufSize) {
      this.#setCause(ICR_RXO);
      return false;
    }
    this.#writeToRing(frame, total, bufSize, fcs);
    this.#inc(TPR);
    this.#inc(GPRC);
    this.#grow(TORL, size + 4);
    this.#grow(GORCL, size + 4);
    this.#sizeStat(PRC64, total);
    if (isBroadcast(frame)) this.#inc(BPRC);
    else if (frame[0]! & 1) this.#inc(MPRC);
    const shift = ((rctl >>> 8) & 3) + 1 + 4;
    const threshold = this.#rxFree() === this.#r(RDLEN) >>> shift;
    this.#setCause(this.#msix() ? ICR_RXQ0 : ICR_RXT0 | (threshold ? ICR_RXDMT0 : 0));
    return true;
  }

  #accepts(frame: Uint8Array): boolean {
    const rctl = this.#r(RCTL);
    if (isBroadcast(frame)) {
      if (rctl & RCTL_BAM) return true;
    } else if (frame[0]! & 1) {
      if (rctl & RCTL_MPE) return true;
    } else if (rctl & RCTL_UPE) {
      return true;
    }
    for (let i = 0; i < 16; i++) {
      const high = this.#r(RA + i * 8 + 4);
      if (!(high & RAH_AV)) continue;
      const low = this.#r(RA + i * 8);
      if (
        frame[0] === (low & 0xff) && frame[1] === ((low >>> 8) & 0xff) && frame[2] === ((low >>> 16) & 0xff) && frame[3] === low >>> 24 &&
        frame[4] === (high & 0xff) && frame[5] === ((high >>> 8) & 0xff)
      )
        return true;
    }
    const shift = [4, 3, 2, 0][(rctl >>> 12) & 3]!;
    const f = (((frame[5]! << 8) | frame[4]!) >>> shift) & 0xfff;
    return (this.#r(MTA + (f >>> 5) * 4) & (1 << (f & 0x1f))) !== 0;
  }

  #writeToRing(frame: Uint8Array, total: number, bufSize: number, fcs: number): void {
    const bus = this.#bus!;
    const count = this.#r(RDLEN) / 16;
    const base = this.#r(RDBAH) * 2 ** 32 + this.#r(RDBAL);
    const size = frame.length;
    let offset = 0;
    do {
      const head = this.#r(RDH);
      const tail = this.#r(RDT);
      if (head === tail || tail >= count) return; // QEMU stops mid-frame too
      if (head >= count) {
        this.#error(`RDH ${head} is beyond the ${count}-descriptor ring; starting over at 0`);
        this.#w(RDH, 0);
        continue;
      }
      const at = base + head * 16;
      const desc = bus.dmaRead(at, 16);
      if (!desc) this.#error(`receive descriptor ${head} at IOVA 0x${at.toString(16)}: DMA read faulted`);
      const d = view(desc ?? new Uint8Array(16));
      const addr = d.getUint32(0, true) + d.getUint32(4, true) * 2 ** 32;
      let written = 0;
      let last = false;
      if (addr !== 0) {
        const chunk = Math.min(total - offset, bufSize);
        if (offset < size) {
          const copy = Math.min(size - offset, bufSize);
          if (!bus.dmaWrite(addr, frame.subarray(offset, offset + copy)))
            this.#error(`receive buffer of descriptor ${head} at IOVA 0x${addr.toString(16)} (+${copy}) faulted`);
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
      if (!bus.dmaWrite(at + 8, wb)) this.#error(`receive descriptor ${head}: write-back faulted`);
      this.#w(RDH, head + 1 >= count ? 0 : head + 1);
    } while (offset < total);
  }

  // ---- statistics --------------------------------------------------------------------

  #inc(off: number): void {
    const v = this.#r(off);
    if (v < U32_MAX) this.#w(off, v + 1);
  }

  #grow(lowOff: number, n: number): void {
    let total = this.#r(lowOff) + this.#r(lowOff + 4) * 2 ** 32 + n;
    if (total > Number.MAX_SAFE_INTEGER) total = Number.MAX_SAFE_INTEGER;
    this.#w(lowOff, total % 2 ** 32);
    this.#w(lowOff + 4, Math.floor(total / 2 ** 32));
  }

  /** The RMON size bins (64, 65-127, 128-255, 256-511, 512-1023, 1024-max) starting at `first`. */
  #sizeStat(first: number, size: number): void {
    const bin = size > 1023 ? 5 : size > 511 ? 4 : size > 255 ? 3 : size > 127 ? 2 : size > 64 ? 1 : size === 64 ? 0 : -1;
    if (bin >= 0) this.#inc(first + bin * 4);
  }

  #error(message: string): void {
    if (this.errors.length < 1000) this.errors.push(message);
  }
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function isBroadcast(f: Uint8Array): boolean {
  return f[0] === 0xff && f[1] === 0xff && f[2] === 0xff && f[3] === 0xff && f[4] === 0xff && f[5] === 0xff;
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
