/**
 * A PCI hot reset on the real kernel: the edu and the virtio-net behind the
 * PCIe-to-PCI bridge share a bus (and an IOMMU group), so a secondary bus reset
 * resets both. The kernel wants proof of ownership of every device it touches:
 * both bound to vfio-pci, their group in our container. (The fake kernel does not
 * model hot reset; the conformance suite covers its ENODEV answer on the root bus.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Container, bindVfioPci, groupMembers, readPciDevice, unbindVfioPci } from '../../src/index.js';
import { bridgedEdu } from './guest.js';

const edu = bridgedEdu();
const siblings = () => groupMembers(edu.iommuGroup!).filter((m) => m.address !== edu.address && m.vendor === 0x1af4);

afterAll(() => {
  // Give the virtio-net back to virtio-pci, as guest-init.sh left it: other tests need that group non-viable.
  unbindVfioPci(siblings().map((s) => s.address));
});

describe('PCI hot reset', () => {
  it('lists the devices a bus reset touches, resets them, and the edu answers afterwards', () => {
    const report = bindVfioPci([edu.address], { group: true });
    expect(report.ok, report.notes.join('\n')).toBe(true);
    const net = siblings()[0]!;
    expect(readPciDevice(net.address).driver).toBe('vfio-pci');

    const container = Container.open();
    try {
      const group = container.attachGroup(edu.iommuGroup!);
      const dev = group.openDevice(edu.address);
      dev.config.setBusMaster(true);
      dev.bar(0).write32(0x04, 0x12345678);
      const info = dev.hotResetInfo();
      expect(info.map((d) => d.address).sort()).toEqual([edu.address, net.address].sort());
      expect(new Set(info.map((d) => d.group))).toEqual(new Set([edu.iommuGroup]));
      dev.hotReset();
      // vfio-pci saves config space around the reset and restores it: Bus Master stays on,
      // and the device answers.
      expect(dev.bar(0).read32(0x00)).toBe(0x010000ed);
      expect(dev.config.command & 0x4).toBe(0x4);
    } finally {
      container.close();
    }
  });
});
