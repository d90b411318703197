/**
 * The README's "Writing a NIC driver" example on the fake kernel, as a new user would run it:
 * two 82574 models on a fake hub, one context, one pool, a frame from one port to the other;
 * its vfio/virtio transport example on the virtio-net model; and its igbvf example.
 */
import { describe, expect, it } from 'vitest';
import { openContext, openDevice } from '../../src/index.js';
import { FakeKernel, E1000eModel, IgbvfModel, VirtioNetModel, wire } from '../../src/backend/fake/index.js';
import { PacketPool, openPort } from '../../src/net/index.js';
import { SplitQueue, VirtioPciTransport, featureNames } from '../../src/virtio/index.js';
import {
  VIRTIO_CONFIG_S_ACKNOWLEDGE, VIRTIO_CONFIG_S_DRIVER, VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_F_ACCESS_PLATFORM, VIRTIO_F_VERSION_1, VIRTIO_RING_F_EVENT_IDX,
} from '../../src/uapi/index.js';

describe('the README example for vfio/net on the fake kernel', () => {
  it('sends a frame from one port to the other through one shared pool', async () => {
    const kernel = new FakeKernel({ memlockLimit: 256 << 20 });
    const [a, b] = [new E1000eModel({ mac: '52:54:00:00:00:01' }), new E1000eModel({ mac: '52:54:00:00:00:02' })];
    wire(a, b);
    kernel.addDevice('0000:00:03.0', a);
    kernel.addDevice('0000:00:04.0', b);
    const ctx = openContext(kernel.options);
    const [devA, devB] = [ctx.openDevice('0000:00:03.0'), ctx.openDevice('0000:00:04.0')];
    const pool = PacketPool.create(ctx, { count: 4096 });  // each receive ring holds 512 of them
    const [pa, pb] = [openPort(devA, { pool }), openPort(devB, { pool, promiscuous: true })];
    try {
      await pa.waitForLink(3000);
      const ids = new Uint32Array(32);
      expect(pool.alloc(ids, 1)).toBe(1);
      const frame = pool.data[ids[0]!]!;
      frame.fill(0xab, 0, 64);
      frame.set([0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1, 0x88, 0xb5]);
      pool.length[ids[0]!] = 64;
      expect(pa.txBurst(ids, 1)).toBe(1);
      let n = 0;
      for (let tries = 0; n === 0 && tries < 100; tries++) {
        n = pb.rxBurst(ids, 32);
        if (n === 0) await pb.waitRx(50);
      }
      expect(n).toBe(1);
      expect(pool.length[ids[0]!]).toBeGreaterThanOrEqual(60);
      expect(pool.data[ids[0]!]![20]).toBe(0xab);
      pool.free(ids, n);
    } finally {
      pa.close();
      pb.close();
      pool.close();
      ctx.close();
      kernel.dispose();
    }
    expect(kernel.openFds).toBe(0);
  });
});

describe("the README's vfio/virtio example on the fake kernel", () => {
  it('negotiates, sets up queue 0 and reaches DRIVER_OK on the virtio-net model, as written', () => {
    const kernel = new FakeKernel({ memlockLimit: 256 << 20 });
    const model = new VirtioNetModel();
    kernel.addDevice('0000:00:04.0', model);
    const device = openDevice('0000:00:04.0', kernel.options);
    try {
      const t = VirtioPciTransport.open(device);
      expect(t.deviceName).toBe('net');
      expect(featureNames(t.deviceFeatures(), t.deviceType)).toEqual(expect.arrayContaining(['VERSION_1', 'ACCESS_PLATFORM', 'MAC', 'STATUS']));
      t.reset();
      t.addStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
      const bit = (n: number) => 1n << BigInt(n);
      const wanted = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_ACCESS_PLATFORM) | bit(VIRTIO_RING_F_EVENT_IDX);
      expect(t.negotiate(wanted, bit(VIRTIO_F_VERSION_1))).toBe(wanted);
      const q = SplitQueue.allocate(device, 256, t.hasFeature(VIRTIO_RING_F_EVENT_IDX));
      const n = t.setupQueue(0, { size: 256, desc: q.descIova, avail: q.availIova, used: q.usedIova });
      q.setNotifier(() => t.notify(n));
      t.addStatus(VIRTIO_CONFIG_S_DRIVER_OK);
      expect(model.status).toBe(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
      expect(model.driverFeatures).toBe(wanted);
      expect(model.errors).toEqual([]);
      t.reset();
      q.free();
      t.close();
    } finally {
      device.close();
      kernel.dispose();
    }
    expect(kernel.openFds).toBe(0);
  });
});

describe("the README's igbvf example on the fake kernel", () => {
  it('opens the VF through openPort: the PF saw VF_RESET and VF_SET_LPE, the port has the assigned MAC', () => {
    const kernel = new FakeKernel();
    const [e, vf] = [new E1000eModel(), new IgbvfModel({ mac: '52:54:00:12:34:58' })];
    wire(e, vf);
    kernel.addDevice('0000:00:03.0', e);
    kernel.addDevice('0000:00:04.0', vf);
    const port = openPort('0000:00:04.0', kernel.options);
    try {
      expect(port.driver).toBe('igbvf');
      expect(vf.pf.received).toEqual([1, 5]);
      expect(Array.from(port.mac)).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0x58]);
    } finally {
      port.close();
      kernel.dispose();
    }
    expect(kernel.openFds).toBe(0);
  });
});
