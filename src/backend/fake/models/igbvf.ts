import { ConfigBuilder } from '../config.js';
import type { BarSpec, DeviceBus, DeviceModel } from '../model.js';
import { parseMac } from './e1000e.js';
import type { EthernetLink, EthernetPort } from './ethernet.js';
import { VfInterrupts } from './igbvf/interrupts.js';
import { Mailbox } from './igbvf/mailbox.js';
import { PfDriver } from './igbvf/pf-driver.js';
import { VfReceiver } from './igbvf/receive.js';
import { VfRegisters } from './igbvf/registers.js';
import { VfTransmitter } from './igbvf/transmit.js';
import {
  CTRL, CTRL_RST, E82576_VF_DEVICE_ID, EIAC, EIAM, EICR, EICS, EIMC, EIMS, FRTIMER, INTEL_VENDOR_ID, IVAR0, IVAR_MISC, MAILBOX_WORDS, MMIO_SIZE, MSIX_PBA, MSIX_SIZE, MSIX_VECTORS,
  RDBAL, RDH, RDLEN, RDT, RXDCTL, STATUS, STATUS_FD, STATUS_IOV_MODE, STATUS_LU, STATUS_NUM_VFS_SHIFT, STATUS_SPEED_1000, TDBAL, TDH, TDLEN, TDT,
  TXDCTL, V2PMAILBOX, VFGORC, VFGORLBC, VFGOTC, VFGOTLBC, VFGPRC, VFGPRLBC, VFGPTC, VFGPTLBC, VFMPRC, VMBMEM, XDCTL_QUEUE_ENABLE,
} from '../../../hw/e82576vf.js';

/** Options of IgbvfModel. */
export interface IgbvfModelOptions {
  /**
   * The VF's MAC address as an administrator set it on the PF (`ip link set <pf> vf N mac …`):
   * the PF's reset reply carries it and the VF may not change it. Default: none (Linux igb's
   * default): the PF NACKs the reset, and the VF chooses an address and asks for it.
   */
  mac?: string | Uint8Array;
  /** The PF's link is up (default true). */
  link?: boolean;
  /** The PF's driver is up and answers the mailbox (default true); false: every message times out, RSTI stays set. */
  pfUp?: boolean;
  /** Message ids (src/hw/e82576vf-mailbox.ts) the PF NACKs whatever they ask. */
  refuse?: readonly number[];
  /** Which VF of the PF this is (0-7): STATUS shows `numVfs`, nothing else depends on it. Default 0. */
  vfIndex?: number;
  /** VFs the PF has enabled, for STATUS (default 1). */
  numVfs?: number;
}

/** IgbvfModel.interruptState: the VF's interrupt causes, bit n for vector n. */
export interface IgbvfInterruptState {
  /** Raised and not yet cleared. */
  pending: number;
  /** Unmasked (EIMS). */
  enabled: number;
}

/** The statistics registers, for setCounter. */
const COUNTERS = new Set([VFGPRC, VFGPTC, VFGORC, VFGOTC, VFMPRC, VFGPRLBC, VFGPTLBC, VFGORLBC, VFGOTLBC]);

/**
 * A model of an Intel 82576 virtual function (8086:10ca) as QEMU 10 emulates it (hw/net/
 * igbvf.c on igb_core.c) with Linux's igb driver on the PF, for the subset a user-level VF
 * driver needs. A VF alone is half a NIC: the PF's driver owns the MAC filters and answers the
 * VF's mailbox, so the model carries that side too (igbvf/pf-driver.ts).
 *
 *  - PCI, as vfio-pci presents a VF: 8086:10ca, class 0x020000, revision 1; BAR0 16 KiB of
 *    registers and BAR3 16 KiB with the MSI-X table (at 0) and PBA (at 0x2000), both 64-bit
 *    prefetchable; MSI-X with 3 vectors, PCIe with FLR; no MSI and no INTx. (In hardware a
 *    VF's vendor and device ids read 0xffff and its BARs are the PF's VF BARs: vfio-pci
 *    shows the real ids and virtual BARs, which is what this image is.)
 *  - Registers (src/hw/e82576vf.ts): CTRL.RST and a function reset stop the VF's queues and
 *    tell the PF (which forgets the VF's MAC unless an administrator set it); STATUS is the
 *    PF's (link, 1000 Mb/s full duplex, IOV mode); the interrupt registers (igbvf/
 *    interrupts.ts, with QEMU's EICR/EIMS read quirks); queue 0 of each direction; the
 *    mailbox (igbvf/mailbox.ts); the statistics, 32 bits that wrap.
 *  - Rings: advanced one-buffer receive descriptors (SRRCTL's buffer size) and advanced
 *    transmit data descriptors, through the IOMMU. A TDT write transmits at once; frames from
 *    the hub pass the PF's filter for the VF (its MAC, broadcast, multicast hashes or all
 *    multicast) and wait in the hub when the ring is full.
 *  - Test hooks: setLink (the PF's link: STATUS.LU and a mailbox ping), pfDown/pfUp (the
 *    PF's driver resets: RSTI, the VF's interrupt registers cleared, no interrupt, no answers), setCounter, and `pf` (the
 *    emulated PF driver's state: MAC, multicast, what it received).
 *
 * Not modelled: queue 1, offloads (context descriptors are skipped), VLAN filtering and
 * stripping, interrupt throttling, loopback between VFs, the head write-back (TDWBAL).
 * Anything a driver writes is accepted; what real hardware would not like ends up in
 * `errors`, never as an exception in the fake kernel.
 */
export class IgbvfModel implements DeviceModel, EthernetPort {
  readonly config: Uint8Array;
  readonly bars: readonly (BarSpec | undefined)[] = [
    { size: MMIO_SIZE, is64: true, prefetchable: true },
    undefined,
    undefined,
    { size: MSIX_SIZE, is64: true, prefetchable: true },
    undefined,
    undefined,
  ];
  readonly resettable = true;
  /** What the driver did that the hardware would not like, oldest first. */
  readonly errors: string[] = [];
  /** The emulated PF driver's view of this VF. */
  readonly pf: PfDriver;
  readonly #regs = new VfRegisters();
  readonly #irq: VfInterrupts;
  readonly #mailbox: Mailbox;
  readonly #rx: VfReceiver;
  readonly #tx: VfTransmitter;
  readonly #status: number;
  readonly #msixTable = new Uint8Array(MSIX_SIZE);
  #link: boolean;
  #bus: DeviceBus | null = null;
  #hub: EthernetLink | null = null;

  constructor(options: IgbvfModelOptions = {}) {
    const mac = options.mac === undefined ? null : typeof options.mac === 'string' ? parseMac(options.mac) : Uint8Array.from(options.mac);
    if (mac && mac.length !== 6) throw new RangeError('IgbvfModel: mac must have 6 bytes');
    const vfIndex = options.vfIndex ?? 0;
    const numVfs = options.numVfs ?? Math.max(1, vfIndex + 1);
    if (!Number.isInteger(vfIndex) || vfIndex < 0 || vfIndex > 7 || !Number.isInteger(numVfs) || numVfs <= vfIndex || numVfs > 8)
      throw new RangeError(`IgbvfModel: vfIndex must be 0-7 and numVfs above it and at most 8, got ${vfIndex} and ${numVfs}`);
    this.config = new ConfigBuilder({ vendor: INTEL_VENDOR_ID, device: E82576_VF_DEVICE_ID, classCode: 0x020000, revision: 1, interruptPin: 0, express: true, newestFirst: true })
      .msix({ tableSize: MSIX_VECTORS, tableBar: 3, tableOffset: 0, pbaBar: 3, pbaOffset: MSIX_PBA })
      .pcie({ flr: true })
      .build();
    const report = (message: string): void => this.#error(message);
    this.#irq = new VfInterrupts(this.#regs, report);
    this.#mailbox = new Mailbox(() => this.#irq.mailbox());
    this.pf = new PfDriver(this.#mailbox, { mac, up: options.pfUp ?? true, refuse: new Set(options.refuse ?? []) });
    this.#rx = new VfReceiver(this.#regs, this.#irq, report);
    this.#tx = new VfTransmitter(this.#regs, this.#irq, report, (frame) => {
      if (this.#link) this.#hub?.send(this, frame); // sent with the link down: lost (and counted), as in QEMU
    });
    this.#link = options.link ?? true;
    this.#status = STATUS_FD | STATUS_SPEED_1000 | STATUS_IOV_MODE | (numVfs << STATUS_NUM_VFS_SHIFT);
    // Power-on: the PF is resetting (RSTI) until its driver signals PFRSTD.
    this.#mailbox.resetIndication();
    if (this.pf.up) this.#mailbox.resetDone();
    this.#regs.w(RXDCTL, 1 << 16);
  }

  attach(bus: DeviceBus): void {
    this.#bus = bus;
    this.#irq.attach(bus);
  }

  connect(link: EthernetLink): void {
    this.#hub = link;
  }

  /** The PF's link: STATUS.LU changes and the PF's driver pings the VF (PF_CONTROL_MSG), as Linux's igb does from its watchdog. */
  setLink(up: boolean): void {
    if (up === this.#link) return;
    this.#link = up;
    this.pf.ping();
    if (up) this.#hub?.ready(this);
  }

  /** The link is up now (STATUS.LU). */
  get linkUp(): boolean {
    return this.#link;
  }

  /**
   * The PF's driver resets or its interface goes down, as QEMU 10 shows it to the VF: Linux's
   * igb_reset pings the VF without CTS, then the PF's CTRL.RST resets the register file under
   * the VF, so the ping's PFSTS is gone (V2PMAILBOX reads RSTI alone), EIMS, IVAR0 and
   * IVAR_MISC read 0, no interrupt reaches the VF (its driver finds out from its watchdog),
   * the queues stop, and the PF answers nothing until pfUp.
   */
  pfDown(): void {
    this.pf.down();
    this.#irq.reset();
    this.#regs.w(IVAR0, 0);
    this.#regs.w(IVAR_MISC, 0);
  }

  /** The PF's driver is back (PFRSTD: RSTD for the VF); the VF must reset to be clear to send again. */
  pfUp(): void {
    this.pf.upAgain();
  }

  /** Sets a statistics register (to test a driver's handling of the 32-bit wrap). */
  setCounter(offset: number, value: number): void {
    if (!COUNTERS.has(offset)) throw new RangeError(`IgbvfModel.setCounter: 0x${offset.toString(16)} is not a VF statistics register`);
    this.#regs.w(offset, value);
  }

  /** The mailbox's control bits without a read's side effects (for tests). */
  get mailboxBits(): number {
    return this.#mailbox.bits;
  }

  /** Pending and unmasked interrupt causes (for tests). */
  get interruptState(): IgbvfInterruptState {
    return { pending: this.#irq.pending, enabled: this.#irq.enabled };
  }

  // ---- reset -----------------------------------------------------------------------

  /** A function reset (VFIO_DEVICE_RESET, FLR): QEMU's igb_vf_reset, and the PF driver's reset event. */
  reset(): void {
    this.#vfReset();
  }

  /** igb_vf_reset: the VF's queues off, VFRE/VFTE cleared, the PF told (VFLRE). Other registers keep their values, as in QEMU. */
  #vfReset(): void {
    this.#regs.w(RXDCTL, this.#regs.r(RXDCTL) & ~XDCTL_QUEUE_ENABLE);
    this.#regs.w(TXDCTL, this.#regs.r(TXDCTL) & ~XDCTL_QUEUE_ENABLE);
    this.#tx.reset();
    this.#rx.reset();
    this.pf.vfReset();
  }

  // ---- BAR access ------------------------------------------------------------------

  read(bar: number, offset: number, width: 1 | 2 | 4 | 8): number | bigint {
    if (width === 8) return BigInt(this.#read32(bar, offset)) | (BigInt(this.#read32(bar, offset + 4)) << 32n);
    const v = this.#read32(bar, offset & ~3);
    if (width === 4) return v;
    return (v >>> ((offset & 3) * 8)) & (width === 1 ? 0xff : 0xffff);
  }

  write(bar: number, offset: number, width: 1 | 2 | 4 | 8, value: number | bigint): void {
    if (width === 8) {
      const v = BigInt.asUintN(64, BigInt(value));
      this.#write32(bar, offset, Number(v & 0xffffffffn));
      this.#write32(bar, offset + 4, Number(v >> 32n));
      return;
    }
    if (width !== 4) {
      // QEMU's igbvf MMIO takes 4-byte accesses only.
      this.#error(`write BAR${bar}+0x${offset.toString(16)}: a ${width}-byte access; the VF's registers take 32-bit accesses (ignored)`);
      return;
    }
    this.#write32(bar, offset, Number(value) >>> 0);
  }

  #read32(bar: number, off: number): number {
    if (bar === 3) return off + 4 <= MSIX_SIZE ? new DataView(this.#msixTable.buffer).getUint32(off, true) : 0;
    if (bar !== 0 || off < 0 || off + 4 > MMIO_SIZE) return 0;
    switch (off) {
      case CTRL:
        return 0; // QEMU: VTCTRL reads 0
      case STATUS:
        return (this.#status | (this.#link ? STATUS_LU : 0)) >>> 0;
      case V2PMAILBOX:
        return this.#mailbox.readV2p();
      case EICR:
        return this.#irq.readEicr();
      case EIMS:
        return this.#irq.readEims();
      case FRTIMER:
        return Math.floor(performance.now() * 1000) >>> 0;
    }
    if (off >= VMBMEM && off < VMBMEM + MAILBOX_WORDS * 4) return this.#mailbox.memory[(off - VMBMEM) >> 2]!;
    return this.#regs.r(off);
  }

  #write32(bar: number, off: number, v: number): void {
    if (bar === 3) {
      if (off + 4 <= MSIX_PBA) new DataView(this.#msixTable.buffer).setUint32(off, v, true);
      return;
    }
    if (bar !== 0 || off < 0 || off + 4 > MMIO_SIZE) return;
    const regs = this.#regs;
    if (off >= VMBMEM && off < VMBMEM + MAILBOX_WORDS * 4) {
      this.#mailbox.memory[(off - VMBMEM) >> 2] = v;
      return;
    }
    switch (off) {
      case CTRL:
        if (v & CTRL_RST) this.#vfReset();
        return;
      case STATUS:
      case FRTIMER:
        return; // read-only to a VF
      case V2PMAILBOX:
        return this.#mailbox.writeV2p(v);
      case EICS:
        return this.#irq.writeEics(v);
      case EIMS:
        return this.#irq.writeEims(v);
      case EIMC:
        return this.#irq.writeEimc(v);
      case EIAC:
        if (v === 0) this.#irq.clearEiac();
        else this.#irq.writeEiac(v);
        return;
      case EICR:
        return this.#irq.writeEicr(v);
      case EIAM:
        regs.w(EIAM, v); // no effect in QEMU
        return;
      case RDBAL:
      case TDBAL:
        regs.w(off, v & ~0x1f); // QEMU: E1000_XDBAL_MASK, 32-byte aligned
        return;
      case RDLEN:
      case TDLEN:
        if (v & 0x7f) this.#error(`${off === RDLEN ? 'RDLEN' : 'TDLEN'} = ${v}: not a multiple of 128 bytes`);
        regs.w(off, v & 0xffff0);
        return;
      case RDH:
      case TDH:
        regs.w(off, v & 0xffff);
        return;
      case RDT:
        regs.w(RDT, v & 0xffff);
        this.#hub?.ready(this);
        return;
      case RXDCTL:
        regs.w(RXDCTL, v);
        if (v & XDCTL_QUEUE_ENABLE) this.#hub?.ready(this);
        return;
      case TDT:
        regs.w(TDT, v & 0xffff);
        return this.#tx.run(this.#bus, this.pf.txEnabled);
    }
    if (COUNTERS.has(off)) return; // read-only
    regs.w(off, v);
  }

  // ---- the wire --------------------------------------------------------------------

  /** QEMU's igb_can_receive for this VF: link up, bus master, the PF enabled receive for it, the queue on with a free descriptor. */
  canReceive(): boolean {
    return this.#link && this.#bus?.busMaster === true && this.pf.rxEnabled && this.#rx.ready();
  }

  receiveFrame(frame: Uint8Array): boolean {
    if (!this.canReceive() || !this.#bus) return false;
    if (!this.pf.accepts(frame) || this.pf.oversized(frame)) return true; // filtered: not for this VF
    try {
      this.#rx.write(this.#bus, frame); // a frame that does not fit is dropped (QEMU: RXO)
    } catch (e) {
      this.#error(`receive: ${(e as Error).message}`);
    }
    return true;
  }

  #error(message: string): void {
    if (this.errors.length < 1000) this.errors.push(message);
  }
}
