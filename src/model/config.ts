import type { Region } from './region.js';
import { PCI_COMMAND, PCI_COMMAND_MASTER, PCI_DEVICE_ID, PCI_VENDOR_ID } from '../uapi/pci-regs.js';
import { walkCapabilities, walkExtendedCapabilities, type PciCapRef, type PciExtCapRef } from '../uapi/pci-walk.js';

/**
 * PCI configuration space through the VFIO config region (pread/pwrite; the
 * kernel virtualises parts of it, e.g. BARs and the MSI/MSI-X capabilities).
 */
export class ConfigSpace {
  /** The config region the accessors go through (Region's offset, alignment and error rules apply). */
  readonly region: Region;

  /** Wraps a device's config region; Device does this at open (`device.config`). */
  constructor(region: Region) {
    this.region = region;
  }

  /** Bytes: 256 for conventional PCI, 4096 with PCIe extended config space. */
  get size(): number {
    return this.region.size;
  }

  /** One config byte at `offset`. */
  read8(offset: number): number {
    return this.region.read8(offset);
  }
  /** The 16-bit config word at `offset` (2-byte aligned). */
  read16(offset: number): number {
    return this.region.read16(offset);
  }
  /** The 32-bit config dword at `offset` (4-byte aligned). */
  read32(offset: number): number {
    return this.region.read32(offset);
  }
  /** Writes one config byte; the kernel may filter or virtualize the write. */
  write8(offset: number, value: number): void {
    this.region.write8(offset, value);
  }
  /** Writes a 16-bit config word (2-byte aligned); the kernel may filter or virtualize it. */
  write16(offset: number, value: number): void {
    this.region.write16(offset, value);
  }
  /** Writes a 32-bit config dword (4-byte aligned); the kernel may filter or virtualize it. */
  write32(offset: number, value: number): void {
    this.region.write32(offset, value);
  }

  /** PCI vendor ID (offset 0x00). */
  get vendorId(): number {
    return this.read16(PCI_VENDOR_ID);
  }
  /** PCI device ID (offset 0x02). */
  get deviceId(): number {
    return this.read16(PCI_DEVICE_ID);
  }
  /** The command register (offset 0x04), read now. */
  get command(): number {
    return this.read16(PCI_COMMAND);
  }

  /** Sets or clears Bus Master Enable: no DMA and no MSI without it. Returns the new command register. */
  setBusMaster(on = true): number {
    const cmd = this.command;
    const next = on ? cmd | PCI_COMMAND_MASTER : cmd & ~PCI_COMMAND_MASTER;
    if (next !== cmd) this.write16(PCI_COMMAND, next);
    return this.command;
  }

  /** The standard capability list, in list order (ID and config offset of each). */
  capabilities(): PciCapRef[] {
    return walkCapabilities((off, width) => this.#read(off, width));
  }

  /** The PCIe extended capability list (from 0x100); empty when config space is 256 bytes. */
  extendedCapabilities(): PciExtCapRef[] {
    if (this.size <= 256) return [];
    return walkExtendedCapabilities((off, width) => this.#read(off, width));
  }

  #read(off: number, width: 1 | 2 | 4): number {
    return width === 1 ? this.read8(off) : width === 2 ? this.read16(off) : this.read32(off);
  }
}
