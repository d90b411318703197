/**
 * `vfio info`'s virtio part (src/admin/describe-virtio.ts) on the fake kernel's virtio-net
 * model: the device type, features, queues and status, and where each vendor capability
 * points, as the guest's QEMU 7.2 virtio-net-pci showed them (docs/qemu-virtio-net.md, measured
 * with `vfio info` in the guest); read without a reset or a status write. Not virtio: no
 * virtio part. A transitional id is driven through the same modern interface.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { describeDevice, openDevice } from '../../src/index.js';
import { VirtioPciTransport } from '../../src/virtio/index.js';
import { VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER } from '../../src/uapi/virtio.js';
import { EduModel, FakeKernel, VirtioNetModel, type VirtioNetModelOptions } from '../../src/backend/fake/index.js';
import { formatDeviceDescription } from '../../src/cli/info.js';
import { makeStyle } from '../../src/cli/output.js';

const ADDR = '0000:00:04.0';
let kernel: FakeKernel | null = null;

afterEach(() => {
  if (kernel) {
    expect(kernel.faults).toEqual([]);
    expect(kernel.openFds).toBe(0);
    kernel.dispose();
  }
  kernel = null;
});

function withVirtio(options: VirtioNetModelOptions = {}): VirtioNetModel {
  kernel = new FakeKernel();
  const model = new VirtioNetModel(options);
  kernel.addDevice(ADDR, model);
  return model;
}

describe('vfio info on a virtio-net', () => {
  it("names the type, the offered features, queues and status as QEMU's device showed them, touching no status", () => {
    const model = withVirtio();
    const d = describeDevice(ADDR, kernel!.options);
    expect(d.virtio).toEqual({
      type: 1,
      name: 'net',
      id: 'modern',
      features: '0x0000010330bf8024',
      featureNames: ['CTRL_GUEST_OFFLOADS', 'MAC', 'MRG_RXBUF', 'STATUS', 'CTRL_VQ', 'CTRL_RX', 'CTRL_VLAN', 'CTRL_RX_EXTRA', 'GUEST_ANNOUNCE', 'CTRL_MAC_ADDR', 'RING_INDIRECT_DESC', 'RING_EVENT_IDX', 'VERSION_1', 'ACCESS_PLATFORM', 'RING_RESET'],
      numQueues: 3,
      status: '0',
    });
    expect(model.status).toBe(0);
    expect(model.driverFeatures).toBe(0n);
    expect(model.errors).toEqual([]);
    // The vendor capabilities say which structure each locates (QEMU: BAR4, a page each).
    const vendor = d.capabilities.filter((c) => c.id === 0x09).map((c) => c.detail);
    expect(vendor).toEqual(
      expect.arrayContaining([
        'virtio common cfg, BAR4+0x0, 4096 bytes',
        'virtio ISR, BAR4+0x1000, 4096 bytes',
        'virtio device cfg, BAR4+0x2000, 4096 bytes',
        'virtio notify, BAR4+0x3000, 4096 bytes, multiplier 4',
        'virtio PCI cfg access',
      ]),
    );
    const text = formatDeviceDescription(d, makeStyle(false)).join('\n');
    expect(text).toMatch(/\nVirtio\n {2}device type 1 \(net\), modern PCI id\n {2}queues 3; device status 0\n {2}features offered 0x0000010330bf8024:/);
    expect(text).toMatch(/Vendor Specific +virtio notify, BAR4\+0x3000, 4096 bytes, multiplier 4/);
  });

  it('shows the status a driver left (read, not reset) and the features a smaller offer has', () => {
    const features = (1n << 32n) | (1n << 33n) | (1n << 5n);
    const model = withVirtio({ features, deviceId: 0x1000 });
    // As the guest's 6.12 kernel leaves it: virtio_pci probed it (ACKNOWLEDGE) and let go.
    const dev = openDevice(ADDR, kernel!.options);
    const t = VirtioPciTransport.open(dev);
    t.addStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    t.close();
    dev.close();
    const d = describeDevice(ADDR, kernel!.options);
    expect(d.virtio).toMatchObject({ type: 1, name: 'net', id: 'transitional', features: '0x0000000300000020', featureNames: ['MAC', 'VERSION_1', 'ACCESS_PLATFORM'], status: 'ACKNOWLEDGE|DRIVER' });
    expect(model.status).toBe(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
  });

  it('has no virtio part for a device that is not virtio', () => {
    kernel = new FakeKernel();
    kernel.addDevice('0000:00:02.0', new EduModel());
    const d = describeDevice('0000:00:02.0', kernel.options);
    expect(d.virtio).toBeUndefined();
    expect(d.capabilities.filter((c) => c.id === 0x09 && c.detail)).toEqual([]);
  });
});
