import type { Region } from './region.js';
import { PCI_COMMAND, PCI_COMMAND_MASTER, PCI_DEVICE_ID, PCI_VENDOR_ID } from '../uapi/pci-regs.js';
import { walkCapabilities, walkExtendedCapabilities, type PciCapRef, type PciExtCapRef } from '../uapi/pci-walk.js';

/**
 * PCI configuration space through the VFIO config region (pread/pwrite; the
 * kernel virtualises parts of it, e.g. BARs and the MSI/MSI-X capabilities).
 */
export class ConfigSpace {
  readonly region: Region;

  constructor(region: Region) {
    this.region = region;
  }

  get size(): number {
    return this.region.size;
  }

  read8(offset: number): number {
    return this.region.read8(offset);
  }
  read16(offset: number): number {
    return this.region.read16(offset);
  }
  read32(offset: number): number {
    return this.region.read32(offset);
  }
  write8(offset: number, value: number): void {
    this.region.write8(offset, value);
  }
  write16(offset: number, value: number): void {
    this.region.write16(offset, value);
  }
  write32(offset: number, value: number): void {
    this.region.write32(offset, value);
  }

  get vendorId(): number {
    return this.read16(PCI_VENDOR_ID);
  }
  get deviceId(): number {
    return this.read16(PCI_DEVICE_ID);
  }
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

  capabilities(): PciCapRef[] {
    return walkCapabilities((off, width) => this.#read(off, width));
  }

  extendedCapabilities(): PciExtCapRef[] {
    if (this.size <= 256) return [];
    return walkExtendedCapabilities((off, width) => this.#read(off, width));
  }

  #read(off: number, width: 1 | 2 | 4): number {
    return width === 1 ? this.read8(off) : width === 2 ? this.read16(off) : this.read32(off);
  }
}
