/**
 * The virtio-net driver as an unprivileged user: uid 1000 owns the virtio-net's and the first
 * e1000e's VFIO nodes (test/vm/commands/test.sh) and may lock 1 MiB. Both ports in one context
 * with one small pool (192 buffers, one per 4 KiB page as in ../virtio-net.test.ts: QEMU's
 * e1000e drops frames from buffers that cross pages; 768 KiB plus the rings) move 1,000 frames
 * of mixed sizes each way, in order, paced (../paced.ts: the root suite's sink port needs the
 * second e1000e, which this user does not get). In no-IOMMU mode
 * the kernel refuses the user whatever the node's owner (CAP_SYS_RAWIO).
 */
import { describe, expect, it } from 'vitest';
import { openContext, findPciDevices } from '../../../src/index.js';
import { PacketPool, openPort, type PortBase } from '../../../src/net/index.js';
import { E1000E, VIRTIO_NET, vmMode, vmOpenOptions } from '../guest.js';
import { pacedOneWay } from '../paced.js';

const N = 1000;

describe('virtio-net driver, unprivileged', () => {
  const virtio = findPciDevices(VIRTIO_NET)[0]!;
  const e1000e = findPciDevices(E1000E)[0]!;

  it('runs as uid 1000 with RLIMIT_MEMLOCK 1 MiB', () => {
    expect(process.getuid?.()).toBe(1000);
  });

  if (vmMode() === 'noiommu') {
    it('no-IOMMU: the virtio-net stays closed to an unprivileged user who owns its node', () => {
      expect(() => openContext(vmOpenOptions()).openDevice(virtio.address)).toThrow(expect.objectContaining({ name: 'VfioError', code: 'EPERM' }));
    });
    return;
  }

  it(`e1000e → virtio and virtio → e1000e: ${N} frames of mixed sizes each way, in order, within 1 MiB of locked memory`, async () => {
    const ctx = openContext(vmOpenOptions());
    let pool: PacketPool | null = null;
    let v: PortBase | null = null;
    let e: PortBase | null = null;
    try {
      const vdev = ctx.openDevice(virtio.address);
      const edev = ctx.openDevice(e1000e.address);
      pool = PacketPool.create(ctx, { count: 192, headroom: 12, hugepages: 'never' });
      v = openPort(vdev, { pool, rxDescriptors: 64, txDescriptors: 32, portId: 0 });
      e = openPort(edev, { pool, rxDescriptors: 64, txDescriptors: 32, promiscuous: true, portId: 1 });
      expect(await v.waitForLink(5000)).toBe(true);
      expect(await e.waitForLink(5000)).toBe(true);
      await pacedOneWay(e, v, N, 0x00ee0001, 'virtio guest');
      await pacedOneWay(v, e, N, 0x00ee0002, 'virtio guest');
    } finally {
      v?.close();
      e?.close();
      pool?.close();
      ctx.close();
    }
  }, 300_000);
});
