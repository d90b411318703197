// Config space for the fake kernel: ConfigBuilder lets a model describe its
// hardware config space; VirtualConfig is the kernel's view of it as vfio-pci
// presents it to the user (BARs virtualised and sizable, read-only fields
// ignoring writes, only the command bits a user may flip).
import {
  PCI_CAPABILITY_LIST,
  PCI_CAP_ID_EXP,
  PCI_CAP_ID_MSI,
  PCI_CAP_ID_MSIX,
  PCI_CAP_ID_PM,
  PCI_CAP_ID_VNDR,
  PCI_INTERRUPT_PIN,
  PCI_MSIX_FLAGS,
  PCI_MSI_FLAGS,
  PCI_MSIX_FLAGS_QSIZE,
  PCI_MSI_FLAGS_64BIT,
  PCI_MSI_FLAGS_QMASK,
  PCI_STATUS_CAP_LIST,
} from '../../uapi/pci-regs.js';
import { walkCapabilities } from '../../uapi/pci-walk.js';
import type { IrqCounts } from './irq.js';
import type { BarSpec } from './model.js';

/** The type-0 header fields ConfigBuilder writes. */
export interface HeaderSpec {
  /** PCI vendor ID. */
  vendor: number;
  /** PCI device ID. */
  device: number;
  /** 24-bit class code (class, subclass, prog-if). */
  classCode: number;
  /** Revision ID (default 0). */
  revision?: number;
  /** Subsystem vendor ID (default 0). */
  subsystemVendor?: number;
  /** Subsystem ID (default 0). */
  subsystem?: number;
  /** 1 = INTA#; 0 = no INTx. */
  interruptPin?: number;
  /** PCIe devices have 4096 bytes of config space. */
  express?: boolean;
  /**
   * Link each new capability in front of the list, as QEMU's pci_add_capability does (the
   * pointer at 0x34 then names the last one added); default: in the order added.
   */
  newestFirst?: boolean;
}

/** Builds a type-0 config space image with a capability list starting at 0x40. */
export class ConfigBuilder {
  /** The image being built: 256 bytes, or 4096 with `express`. */
  readonly bytes: Uint8Array;
  #view: DataView;
  #next = 0x40;
  #last = PCI_CAPABILITY_LIST;
  #newestFirst: boolean;

  constructor(h: HeaderSpec) {
    this.bytes = new Uint8Array(h.express ? 4096 : 256);
    this.#view = new DataView(this.bytes.buffer);
    this.#newestFirst = h.newestFirst ?? false;
    const v = this.#view;
    v.setUint16(0x00, h.vendor, true);
    v.setUint16(0x02, h.device, true);
    v.setUint8(0x08, h.revision ?? 0);
    v.setUint8(0x09, h.classCode & 0xff);
    v.setUint16(0x0a, h.classCode >>> 8, true);
    v.setUint16(0x2c, h.subsystemVendor ?? 0, true);
    v.setUint16(0x2e, h.subsystem ?? 0, true);
    v.setUint8(PCI_INTERRUPT_PIN, h.interruptPin ?? 1);
  }

  #cap(id: number, length: number): number {
    const at = this.#next;
    if (at + length > 256) throw new RangeError('ConfigBuilder: capabilities do not fit in 256 bytes');
    if (this.#newestFirst) {
      this.bytes[at + 1] = this.bytes[PCI_CAPABILITY_LIST]!;
      this.bytes[PCI_CAPABILITY_LIST] = at;
    } else {
      this.bytes[this.#last] = at;
      this.#last = at + 1;
    }
    this.bytes[at] = id;
    this.#next = (at + length + 3) & ~3;
    this.#view.setUint16(0x06, this.#view.getUint16(0x06, true) | PCI_STATUS_CAP_LIST, true);
    return at;
  }

  /** MSI with 2^log2Vectors vectors. */
  msi(opts: { log2Vectors?: number; is64?: boolean } = {}): this {
    const is64 = opts.is64 ?? true;
    const at = this.#cap(PCI_CAP_ID_MSI, is64 ? 14 : 10);
    this.#view.setUint16(at + PCI_MSI_FLAGS, ((opts.log2Vectors ?? 0) << 1) | (is64 ? PCI_MSI_FLAGS_64BIT : 0), true);
    return this;
  }

  /** MSI-X with `tableSize` vectors, its table and PBA at the given BARs and byte offsets (8-byte aligned). */
  msix(opts: { tableSize: number; tableBar: number; tableOffset: number; pbaBar: number; pbaOffset: number }): this {
    const at = this.#cap(PCI_CAP_ID_MSIX, 12);
    this.#view.setUint16(at + PCI_MSIX_FLAGS, opts.tableSize - 1, true);
    this.#view.setUint32(at + 4, opts.tableOffset | opts.tableBar, true);
    this.#view.setUint32(at + 8, opts.pbaOffset | opts.pbaBar, true);
    return this;
  }

  /**
   * A vendor-specific capability (PCI_CAP_ID_VNDR): `body` is what follows the id, next and
   * length bytes (so it starts at the capability's byte 3); the length byte is filled in.
   * Virtio's structure capabilities are these (cfg_type first).
   */
  vendor(body: Uint8Array): this {
    const length = 3 + body.length;
    if (length > 0xff) throw new RangeError('ConfigBuilder.vendor: a capability is at most 255 bytes');
    const at = this.#cap(PCI_CAP_ID_VNDR, length);
    this.bytes[at + 2] = length;
    this.bytes.set(body, at + 3);
    return this;
  }

  /** A power management capability (version 3). */
  pm(): this {
    const at = this.#cap(PCI_CAP_ID_PM, 8);
    this.#view.setUint16(at + 2, 0x0003, true);
    return this;
  }

  /** A PCIe endpoint capability (version 2); `flr` advertises Function Level Reset. */
  pcie(opts: { flr?: boolean } = {}): this {
    const at = this.#cap(PCI_CAP_ID_EXP, 0x3c);
    this.#view.setUint16(at + 2, 0x0002, true);
    this.#view.setUint32(at + 4, opts.flr ? 1 << 28 : 0, true);
    return this;
  }

  /** The image, for DeviceModel.config (the same array as `bytes`). */
  build(): Uint8Array {
    return this.bytes;
  }
}

// Bits of the command register a user may change through vfio-pci.
const COMMAND_WRITABLE = 0x0001 | 0x0002 | 0x0004 | 0x0040 | 0x0100 | 0x0400;

export class VirtualConfig {
  readonly bytes: Uint8Array;
  #view: DataView;
  #bars: readonly (BarSpec | undefined)[];
  #barValue = new Uint32Array(6);
  #msi: number | undefined;
  #msix: number | undefined;

  constructor(image: Uint8Array, bars: readonly (BarSpec | undefined)[]) {
    this.bytes = image.slice();
    this.#view = new DataView(this.bytes.buffer);
    this.#bars = bars;
    const read = (off: number, w: 1 | 2 | 4) => (w === 1 ? this.bytes[off]! : w === 2 ? this.#view.getUint16(off, true) : this.#view.getUint32(off, true));
    for (const c of walkCapabilities(read)) {
      if (c.id === PCI_CAP_ID_MSI) this.#msi = c.offset;
      if (c.id === PCI_CAP_ID_MSIX) this.#msix = c.offset;
    }
    this.#view.setUint16(0x04, 0, true);
  }

  get size(): number {
    return this.bytes.length;
  }

  get command(): number {
    return this.#view.getUint16(0x04, true);
  }

  /** MSI capability offset, if any. */
  get msiCap(): number | undefined {
    return this.#msi;
  }
  get msixCap(): number | undefined {
    return this.#msix;
  }

  /** The interrupts the hardware offers, as vfio-pci counts them for GET_IRQ_INFO. */
  get irqCounts(): IrqCounts {
    const msi = this.#msi === undefined ? 0 : 1 << ((this.#view.getUint16(this.#msi + PCI_MSI_FLAGS, true) & PCI_MSI_FLAGS_QMASK) >> 1);
    const msix = this.#msix === undefined ? 0 : (this.#view.getUint16(this.#msix + PCI_MSIX_FLAGS, true) & PCI_MSIX_FLAGS_QSIZE) + 1;
    // Only PCIe devices (4 KiB of config space) have the ERR notifier.
    return { intx: this.bytes[PCI_INTERRUPT_PIN] ? 1 : 0, msi, msix, err: this.size > 256 };
  }

  /** The value BAR register n reads as: the virtual address bits plus the type flags. */
  #barRead(n: number): number {
    const spec = this.#bars[n];
    const upper = n > 0 && this.#bars[n - 1]?.is64;
    if (upper) return this.#barValue[n]!;
    if (!spec) return 0;
    const flags = spec.kind === 'io' ? 0x1 : (spec.is64 ? 0x4 : 0) | (spec.prefetchable ? 0x8 : 0);
    const mask = spec.kind === 'io' ? ~(spec.size - 1) & ~0x3 : ~(spec.size - 1) & ~0xf;
    return ((this.#barValue[n]! & mask) | flags) >>> 0;
  }

  read(offset: number, width: 1 | 2 | 4): number {
    let v = 0;
    for (let i = 0; i < width; i++) v |= this.#readByte(offset + i) << (8 * i);
    return v >>> 0;
  }

  #readByte(off: number): number {
    if (off >= 0x10 && off < 0x28) return (this.#barRead((off - 0x10) >> 2) >>> (8 * (off & 3))) & 0xff;
    if (off >= 0x30 && off < 0x34) return 0; // no expansion ROM
    return this.bytes[off]!;
  }

  write(offset: number, width: 1 | 2 | 4, value: number): void {
    for (let i = 0; i < width; i++) this.#writeByte(offset + i, (value >>> (8 * i)) & 0xff);
  }

  #writeByte(off: number, b: number): void {
    if (off === 0x04 || off === 0x05) {
      const shift = 8 * (off - 0x04);
      const mask = (COMMAND_WRITABLE >> shift) & 0xff;
      this.bytes[off] = (this.bytes[off]! & ~mask) | (b & mask);
    } else if (off >= 0x10 && off < 0x28) {
      const n = (off - 0x10) >> 2;
      const shift = 8 * (off & 3);
      this.#barValue[n] = ((this.#barValue[n]! & ~(0xff << shift)) | (b << shift)) >>> 0;
    } else if (off === 0x0c || off === 0x0d || off === 0x3c) {
      this.bytes[off] = b; // cache line size, latency timer, interrupt line: plain storage
    } else if (this.#msi !== undefined && off >= this.#msi + 4 && off < this.#msi + 14) {
      this.bytes[off] = b; // MSI address/data are the user's to program (virtualised)
    }
    // Everything else is read-only to the user: the write is dropped, as vfio-pci does.
  }
}
