/** The 82574L (e1000e) through VFIO: BAR access, PCI capabilities, and a device reset. */
import { describe, expect, it } from 'vitest';
import { openDevice } from '../../src/index.js';
import { PCI_CAP_ID_EXP, PCI_CAP_ID_MSIX } from '../../src/uapi/pci-regs.js';
import { findPciDevices } from '../../src/host/pci.js';
import { E1000E, vmOpenOptions } from './guest.js';

const STATUS = 0x08;
const STATUS_LU = 1 << 1; // link up (82574 datasheet 10.2.2.2)

describe('e1000e', () => {
  it('reads link status, lists MSI-X and PCIe capabilities, and resets', () => {
    const nic = findPciDevices(E1000E)[0]!;
    const dev = openDevice(nic.address, vmOpenOptions());
    try {
      const bar0 = dev.bar(0);
      expect(bar0.read32(STATUS) & STATUS_LU).toBe(STATUS_LU);
      const caps = dev.config.capabilities().map((c) => c.id);
      expect(caps).toContain(PCI_CAP_ID_MSIX);
      expect(caps).toContain(PCI_CAP_ID_EXP);
      expect(dev.irqInfo('msix').count).toBeGreaterThanOrEqual(5);
      expect(dev.canReset).toBe(true);
      // Five MSI-X vectors armed with eventfds in one SET_IRQS, then torn down.
      const irq = dev.enableInterrupts('msix', 5);
      expect(irq.vectors.map((v) => v.vector)).toEqual([0, 1, 2, 3, 4]);
      expect(() => dev.enableInterrupts('msi')).toThrow(/enabled/);
      irq.disable();
      expect(irq.vectors.every((v) => v.closed)).toBe(true);
      expect(() => dev.enableInterrupts('msix', 99)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
      dev.reset();
      expect(dev.config.vendorId).toBe(0x8086);
    } finally {
      dev.close();
    }
  });
});
