/**
 * One address space for several devices (the seeds' drivers that span devices need it):
 * an iommufd context, or a container, holding the edu and an e1000e. A buffer allocated
 * through one device is DMA-able by the other, and closing one device leaves the other
 * and the buffers alone.
 */
import { describe, expect, it } from 'vitest';
import { findPciDevices, openContext, type Device } from '../../src/index.js';
import { E1000E, soloEdu, vmMode, vmOpenOptions } from './guest.js';

const DMA_SRC = 0x80, DMA_DST = 0x88, DMA_COUNT = 0x90, DMA_CMD = 0x98, DEV_BUF = 0x40000;

async function eduDma(edu: Device, src: number, dst: number, count: number, toRam: boolean): Promise<void> {
  const bar = edu.bar(0);
  bar.write64(DMA_SRC, BigInt(src));
  bar.write64(DMA_DST, BigInt(dst));
  bar.write64(DMA_COUNT, BigInt(count));
  bar.write64(DMA_CMD, BigInt(1 | (toRam ? 2 : 0)));
  const deadline = Date.now() + 10_000;
  while (bar.read32(DMA_CMD) & 1) {
    if (Date.now() > deadline) throw new Error('edu DMA did not complete');
    await new Promise((r) => setTimeout(r, 2));
  }
}

describe('several devices in one DMA context', () => {
  it(`shares buffers between the edu and an e1000e (${vmMode()})`, async () => {
    const mode = vmMode();
    const dmaBits = mode === 'noiommu' ? 64 : 28;
    const ctx = openContext(vmOpenOptions());
    try {
      expect(ctx.constructor.name).toBe(mode === 'iommufd' ? 'IommufdContext' : 'Container');
      const edu = ctx.openDevice(soloEdu().address);
      const nic = ctx.openDevice(findPciDevices(E1000E)[0]!.address);
      expect(edu.context).toBe(ctx);
      expect(nic.context).toBe(ctx);
      expect(ctx.devices.map((d) => d.address).sort()).toEqual([edu.address, nic.address].sort());
      expect(nic.iommuApi).toBe(mode);
      edu.config.setBusMaster(true);

      const a = nic.allocDma(4096, { dmaBits }); // through the NIC ...
      const b = ctx.allocDma(4096, { dmaBits });
      a.bytes.set(Buffer.from('one address space'));
      await eduDma(edu, a.iova, DEV_BUF, 64, false); // ... read by the edu
      await eduDma(edu, DEV_BUF, b.iova, 64, true);
      expect(Buffer.from(b.bytes.subarray(0, 17)).toString()).toBe('one address space');

      nic.close();
      expect(ctx.devices).toEqual([edu]);
      expect(a.freed).toBe(false);
      a.bytes.fill(0x77);
      await eduDma(edu, a.iova, DEV_BUF, 64, false);
      await eduDma(edu, DEV_BUF, b.iova, 64, true);
      expect(b.bytes.subarray(0, 64).every((x) => x === 0x77)).toBe(true);
    } finally {
      ctx.close();
    }
    expect(ctx.closed).toBe(true);
  });
});
