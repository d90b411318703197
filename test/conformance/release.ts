/**
 * vfio-pci's REQ notifier: unbinding a device a process holds makes the kernel ask
 * for it back and wait. Needs root (sysfs unbind), so it runs in the guest's root
 * pass and on the fake.
 */
import { describe, expect, it } from 'vitest';
import { openDevice, readPciDevice, type Device } from '../../src/index.js';
import type { Target } from './target.js';

/** The documented pattern: close the device from its 'release-request' handler; settles with close()'s outcome. */
function closeOnReleaseRequest(dev: Device): Promise<void> {
  return new Promise<void>((resolve, reject) =>
    dev.once('release-request', () => {
      try {
        dev.close();
        resolve();
      } catch (e) {
        reject(e);
      }
    }),
  );
}

export function releaseSuite(t: Target): void {
  describe('release requests', () => {
    it("emits 'release-request' when the device is being unbound; closing lets the unbind finish", async () => {
      const dev = openDevice(t.eduAddress, t.options);
      const asked = closeOnReleaseRequest(dev);
      const unbound = t.unbind(t.eduAddress);
      await asked;
      await unbound;
      expect(dev.closed).toBe(true);
      expect(readPciDevice(t.eduAddress, t.options).driver).toBeNull();
      t.rebind(t.eduAddress);
      expect(readPciDevice(t.eduAddress, t.options).driver).toBe('vfio-pci');
      const again = openDevice(t.eduAddress, t.options);
      expect(again.bar(0).read32(0)).toBe(0x010000ed);
      again.close();
    });

    // The kernel detaches the group as soon as the device fd is released (the unbind was
    // waiting for it); with the last group gone the container has no IOMMU and its unmap
    // is EINVAL, but the mappings went with the IOMMU driver. Through iommufd the IOAS
    // keeps them until closed; in no-IOMMU mode there is nothing to unmap.
    it('release request while a DMA buffer is mapped: close() succeeds', async () => {
      const dev = openDevice(t.eduAddress, t.options);
      const buf = dev.allocDma(4096, { dmaBits: t.eduDmaBits ?? 28 });
      buf.bytes[0] = 0x5a;
      const asked = closeOnReleaseRequest(dev);
      const unbound = t.unbind(t.eduAddress);
      await asked;
      await unbound;
      expect(dev.closed).toBe(true);
      expect(buf.freed).toBe(true);
      t.rebind(t.eduAddress);
      const again = openDevice(t.eduAddress, t.options);
      const buf2 = again.allocDma(4096, { dmaBits: t.eduDmaBits ?? 28 });
      expect(buf2.freed).toBe(false);
      again.close();
      expect(buf2.freed).toBe(true);
    });
  });
}
