/**
 * vfio-pci's REQ notifier: unbinding a device a process holds makes the kernel ask
 * for it back and wait. Needs root (sysfs unbind), so it runs in the guest's root
 * pass and on the fake.
 */
import { describe, expect, it } from 'vitest';
import { openDevice, readPciDevice } from '../../src/index.js';
import type { Target } from './target.js';

export function releaseSuite(t: Target): void {
  describe('release requests', () => {
    it("emits 'release-request' when the device is being unbound; closing lets the unbind finish", async () => {
      const dev = openDevice(t.eduAddress, t.options);
      const asked = new Promise<void>((resolve, reject) =>
        dev.once('release-request', () => {
          try {
            dev.close();
            resolve();
          } catch (e) {
            reject(e);
          }
        }),
      );
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
  });
}
