/**
 * A PCI hot reset on the real kernel: the edu and the virtio-net behind the
 * PCIe-to-PCI bridge share a bus (and an IOMMU group), so a secondary bus reset
 * resets both. The kernel wants proof of ownership of every device it touches:
 * both bound to vfio-pci, their group in our container -- or, through iommufd, every opened
 * sibling bound to our iommufd (the kernel lets no other iommufd have one). (The fake kernel does not
 * model hot reset; the conformance suite covers its ENODEV answer on the root bus.)
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Container, IommufdContext, bindVfioPci, groupMembers, readPciDevice, unbindVfioPci, type Device } from '../../src/index.js';
import { bridgedEdu, vmMode } from './guest.js';

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

    // Through iommufd the kernel's proof of ownership is the iommufd itself: every affected
    // device must be open in it (the reset names no groups). Through a container, their group.
    const iommufd = vmMode() === 'iommufd';
    const context = iommufd ? IommufdContext.open() : Container.open();
    try {
      let dev: Device;
      if (iommufd) {
        dev = context.openDevice(edu.address);
        // A group has one owner: its other device cannot be bound to a second iommufd.
        const other = IommufdContext.open();
        try {
          expect(() => other.openDevice(net.address)).toThrow(expect.objectContaining({ code: 'EPERM', hint: expect.stringMatching(/one IommufdContext/) }));
        } finally {
          other.close();
        }
        // Unopened, the sibling needs no proof of ownership (vfio-pci holds it).
        expect(() => dev.hotReset()).not.toThrow();
        expect(dev.bar(0).read32(0x00)).toBe(0x010000ed);
        // Opened in this context, it has it.
        context.openDevice(net.address);
      } else {
        dev = (context as Container).attachGroup(edu.iommuGroup!).openDevice(edu.address);
      }
      dev.config.setBusMaster(true);
      dev.bar(0).write32(0x04, 0x12345678);
      const info = dev.hotResetInfo();
      expect(info.map((d) => d.address).sort()).toEqual([edu.address, net.address].sort());
      if (iommufd) expect(info.every((d) => d.devid !== undefined && d.devid > 0)).toBe(true);
      else expect(new Set(info.map((d) => d.group))).toEqual(new Set([edu.iommuGroup]));
      dev.hotReset();
      // vfio-pci saves config space around the reset and restores it: Bus Master stays on,
      // and the device answers.
      expect(dev.bar(0).read32(0x00)).toBe(0x010000ed);
      expect(dev.config.command & 0x4).toBe(0x4);
    } finally {
      context.close();
    }
  });
});
