/**
 * The virtio-net driver (VirtioNetPort) on the fake kernel, against the virtio-net model wired
 * to an 82574 model by a fake hub: opening through openPort, traffic both ways, 10,000 frames
 * of mixed sizes intact and in order, zero-copy forwarding with one shared pool, link events,
 * DEVICE_NEEDS_RESET, the named errors (not virtio-net, a refused feature, ACCESS_PLATFORM
 * missing behind an IOMMU, a queue size not offered), a bogus used entry, and close/reopen
 * without leaks.
 */
import { describe, expect, it } from 'vitest';
import { openContext, openDevice } from '../../src/index.js';
import { E1000eModel, EduModel, FakeKernel, VirtioNetModel, wire, type VirtioNetModelOptions } from '../../src/backend/fake/index.js';
import { PacketPool, VirtioNetPort, openPort, type PortBase } from '../../src/net/index.js';
import { readTestFrame } from '../../src/net/apps/frames.js';
import {
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FAILED,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_VERSION_1,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_STATUS,
  VIRTIO_RING_F_EVENT_IDX,
} from '../../src/uapi/virtio.js';
import { E_ADDR, V_ADDR, cleanUpNicPairs, nicPairBench, trackKernel } from '../helpers/nic-pair-bench.js';
import { mixedSizes, nextEvent, numbered, send, take } from '../helpers/port-traffic.js';

const MAC_V = '52:54:00:12:34:57';
/** Headroom 12 holds the virtio-net header, so a buffer goes from one port to the other without a copy. */
const virtioBench = (opts: { model?: VirtioNetModelOptions } = {}) => nicPairBench(new VirtioNetModel({ mac: MAC_V, ...opts.model }), { headroom: 12 });

cleanUpNicPairs();
const bit = (n: number): bigint => 1n << BigInt(n);
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Sends `sizes.length` numbered frames from `from` to `to` in bursts of 32, receiving as it goes; returns what arrived. */
async function stream(from: PortBase, to: PortBase, sizes: readonly number[]): Promise<{ seq: number; intact: boolean; length: number }[]> {
  const got: { seq: number; intact: boolean; length: number }[] = [];
  const ids = new Uint32Array(64);
  let sent = 0;
  const deadline = Date.now() + 60_000;
  while (got.length < sizes.length) {
    if (Date.now() > deadline) throw new Error(`timed out: sent ${sent}, received ${got.length}`);
    if (sent < sizes.length) {
      const want = Math.min(32, sizes.length - sent);
      const frames = Array.from({ length: want }, (_, k) => numbered(1, sizes[sent + k]!, to.mac, from.mac, sent + k)[0]!);
      sent += send(from, frames);
    }
    const n = to.rxBurst(ids, 64);
    for (let k = 0; k < n; k++) {
      const id = ids[k]!;
      const t = readTestFrame(to.pool.data[id]!, to.pool.length[id]);
      got.push({ seq: t?.seq ?? -1, intact: t?.intact ?? false, length: to.pool.length[id]! });
    }
    to.pool.free(ids, n);
    if (n === 0) await tick();
  }
  return got;
}

describe('VirtioNetPort on the fake kernel', () => {
  it('opens through openPort: station address, queue sizes, MSI-X, the features it takes and the ones it leaves', () => {
    const { v, vModel } = virtioBench();
    expect(v).toBeInstanceOf(VirtioNetPort);
    expect(v.driver).toBe('virtio-net');
    expect([...v.mac].map((b) => b.toString(16).padStart(2, '0')).join(':')).toBe(MAC_V);
    expect([v.rxSize, v.txSize]).toEqual([256, 256]); // what QEMU offers by default
    expect(v.interruptKind).toBe('msix');
    expect(v.rxMode).toBe('interrupt');
    expect(v.promiscuous).toBe(true); // no CTRL_RX: the device filters nothing
    expect(v.linkUp).toBe(true);
    expect(v.maxFrame).toBe(2048);
    const f = vModel.driverFeatures;
    for (const b of [VIRTIO_F_VERSION_1, VIRTIO_F_ACCESS_PLATFORM, VIRTIO_RING_F_EVENT_IDX, VIRTIO_NET_F_MAC, VIRTIO_NET_F_STATUS]) expect(f & bit(b)).toBe(bit(b));
    for (const b of [VIRTIO_NET_F_MRG_RXBUF, VIRTIO_NET_F_CTRL_VQ]) expect(f & bit(b)).toBe(0n);
    expect(vModel.status & (VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK)).toBe(VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FEATURES_OK);
    expect((v as VirtioNetPort).transport.driverFeatures).toBe(f);
  });

  it('carries frames both ways between the virtio port and an e1000e port on one hub, byte for byte', async () => {
    const { v, e } = virtioBench();
    const toV = numbered(20, 200, v.mac, e.mac);
    const toE = numbered(20, 1514, e.mac, v.mac);
    expect(send(e, toV)).toBe(20);
    expect(send(v, toE)).toBe(20);
    let atV: Uint8Array[] = [];
    let atE: Uint8Array[] = [];
    for (let i = 0; i < 100 && (atV.length < 20 || atE.length < 20); i++) {
      atV = atV.concat(take(v));
      atE = atE.concat(take(e));
      await tick();
    }
    expect(atV).toEqual(toV);
    expect(atE).toEqual(toE);
    expect(await v.flushTx(1000)).toBe(true);
    const s = v.stats();
    expect([s.rx.frames, s.rx.bytes, s.tx.frames, s.tx.bytes]).toEqual([20, 4000, 20, 20 * 1514]);
    expect(s.hw.badUsed).toBe(0);
  });

  it('10,000 frames of mixed sizes 60-1514 each way arrive intact and in order', async () => {
    const { v, e } = virtioBench();
    const sizes = mixedSizes(10_000);
    for (const [from, to] of [[e, v], [v, e]] as const) {
      const got = await stream(from, to, sizes);
      expect(got.map((g) => g.seq)).toEqual(sizes.map((_, i) => i));
      expect(got.every((g) => g.intact)).toBe(true);
      expect(got.map((g) => g.length)).toEqual(sizes);
    }
    expect(await v.flushTx(1000)).toBe(true);
    const s = v.stats();
    expect(s.rx.frames).toBe(10_000);
    expect(s.tx.frames).toBe(10_000);
    // EVENT_IDX: the device was told of new buffers far less often than once per burst.
    expect(s.hw.txNotifications).toBeLessThanOrEqual(Math.ceil(10_000 / 32));
    expect(s.hw.rxNotifications).toBeLessThan(10_000 / 32);
  }, 120_000);

  it('forwards zero-copy with one shared pool (headroom 12): e1000e -> virtio and virtio -> e1000e, the same ids', async () => {
    // gen (e1000e) =hub1= V (virtio) ... B (e1000e) =hub2= cap (e1000e): V and B forward, in one context and pool.
    const kernel = trackKernel(new FakeKernel({ memlockLimit: 512 << 20 }));
    const mGen = new E1000eModel({ mac: '52:54:00:00:00:01' });
    const mV = new VirtioNetModel({ mac: '52:54:00:00:00:02' });
    const mB = new E1000eModel({ mac: '52:54:00:00:00:03' });
    const mCap = new E1000eModel({ mac: '52:54:00:00:00:04' });
    wire(mGen, mV);
    wire(mB, mCap);
    [mGen, mV, mB, mCap].forEach((m, i) => kernel.addDevice(`0000:00:0${i + 3}.0`, m));
    const gen = openPort('0000:00:03.0', { ...kernel.options, rxDescriptors: 256, txDescriptors: 256, promiscuous: true });
    const cap = openPort('0000:00:06.0', { ...kernel.options, rxDescriptors: 1024, txDescriptors: 256, promiscuous: true });
    const ctx = openContext(kernel.options);
    const [devV, devB] = [ctx.openDevice('0000:00:04.0'), ctx.openDevice('0000:00:05.0')];
    const pool = PacketPool.create(ctx, { count: 4096, headroom: 12 });
    const v = openPort(devV, { pool, portId: 1 });
    const b = openPort(devB, { pool, portId: 2, promiscuous: true, rxDescriptors: 512 });
    try {
      const N = 3000;
      const sizes = mixedSizes(N, 777);
      for (const [src, inPort, outPort, dst, inId] of [
        [gen, v, b, cap, 1],
        [cap, b, v, gen, 2],
      ] as const) {
        const got: number[] = [];
        let intact = true;
        let sameIds = true;
        let sent = 0;
        const ids = new Uint32Array(32);
        const dstIds = new Uint32Array(64);
        const deadline = Date.now() + 60_000;
        while (got.length < N) {
          if (Date.now() > deadline) throw new Error(`timed out: sent ${sent}, received ${got.length}`);
          if (sent < N) {
            const want = Math.min(32, N - sent);
            sent += send(src, Array.from({ length: want }, (_, k) => numbered(1, sizes[sent + k]!, dst.mac, src.mac, sent + k)[0]!));
          }
          const n = inPort.rxBurst(ids, 32);
          for (let k = 0; k < n; k++) if (pool.port[ids[k]!] !== inId) sameIds = false;
          let out = 0;
          while (out < n) {
            out += outPort.txBurst(ids, n - out, out);
            if (out < n) await tick();
          }
          const c = dst.rxBurst(dstIds, 64);
          for (let k = 0; k < c; k++) {
            const t = readTestFrame(dst.pool.data[dstIds[k]!]!, dst.pool.length[dstIds[k]!]);
            got.push(t?.seq ?? -1);
            if (!t?.intact || dst.pool.length[dstIds[k]!] !== sizes[t.seq]) intact = false;
          }
          dst.pool.free(dstIds, c);
          if (n === 0 && c === 0) await tick();
        }
        expect(got).toEqual(sizes.map((_, i) => i));
        expect(intact).toBe(true);
        expect(sameIds).toBe(true); // every id sent on was one received (stamped with the receiving port's id)
        expect(await outPort.flushTx(2000)).toBe(true);
      }
      expect(pool.available).toBe(pool.capacity - v.rxSize - b.rxSize);
    } finally {
      v.close();
      b.close();
      expect(pool.available).toBe(pool.capacity);
      pool.close();
      ctx.close();
      gen.close();
      cap.close();
    }
    for (const m of [mGen, mB, mCap]) expect(m.errors).toEqual([]);
    expect(mV.errors).toEqual([]);
    expect(kernel.faults).toEqual([]);
  }, 120_000);

  it("reports the link going down and up as 'link' events; txBurst refuses while it is down", async () => {
    const { v, e, vModel } = virtioBench();
    const down = nextEvent<[boolean]>(v, 'link');
    vModel.setLink(false);
    expect(await down).toEqual([false]);
    expect(v.linkUp).toBe(false);
    expect(() => send(v, numbered(1, 64, e.mac, v.mac))).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_LINK_DOWN' }));
    const up = nextEvent<[boolean]>(v, 'link');
    vModel.setLink(true);
    expect(await up).toEqual([true]);
    expect(send(v, numbered(1, 64, e.mac, v.mac))).toBe(1);
    expect(v.stats().driver.linkChanges).toBe(2);
    expect(v.stats().hw.configInterrupts).toBe(2);
  });

  it("DEVICE_NEEDS_RESET mid-run: a 'needs-reset' event, rx and tx throw it, close gives every buffer back", async () => {
    const { v, e, vModel, pool } = virtioBench();
    expect(send(v, numbered(10, 100, e.mac, v.mac))).toBe(10);
    expect(send(e, numbered(10, 100, v.mac, e.mac))).toBe(10);
    await tick();
    const waiting = v.waitRx(5000);
    const event = nextEvent<[Error & { code: string }]>(v, 'needs-reset');
    vModel.raiseNeedsReset();
    const [err] = await event;
    expect(err).toMatchObject({ name: 'VfioError', code: 'ERR_VFIO_VIRTIO_NEEDS_RESET', device: V_ADDR });
    expect(err.message).toMatch(/DEVICE_NEEDS_RESET/);
    expect(await waiting).toBe(true); // a waiter is woken to hear it
    expect(() => v.rxBurst(new Uint32Array(8), 8)).toThrow(err);
    expect(() => send(v, numbered(1, 64, e.mac, v.mac))).toThrow(err);
    expect((v as VirtioNetPort).failure).toBe(err);
    v.close();
    expect(vModel.status).toBe(0); // reset by close
    e.close();
    expect(pool.available).toBe(pool.capacity);
  });

  it('drives a transitional virtio-net (1af4:1000) through its modern interface', async () => {
    const { v, e } = virtioBench({ model: { deviceId: 0x1000 } });
    expect(v.device.config.deviceId).toBe(0x1000);
    expect(v.driver).toBe('virtio-net');
    expect(send(e, numbered(3, 64, v.mac, e.mac))).toBe(3);
    let got: Uint8Array[] = [];
    for (let i = 0; i < 50 && got.length < 3; i++) {
      got = got.concat(take(v));
      await tick();
    }
    expect(got).toHaveLength(3);
  });

  it('refuses a device that is not virtio-net, naming what it is', () => {
    const kernel = trackKernel(new FakeKernel());
    kernel.addDevice('0000:00:02.0', new EduModel());
    kernel.addDevice('0000:00:05.0', new VirtioNetModel({ deviceId: 0x1042 }));
    const edu = openDevice('0000:00:02.0', kernel.options);
    const blk = openDevice('0000:00:05.0', kernel.options);
    try {
      expect(() => VirtioNetPort.open(edu)).toThrow(
        expect.objectContaining({ code: 'ERR_VFIO_NET_UNSUPPORTED', message: 'VirtioNetPort.open (0000:00:02.0): the device is 1234:11e8 (class 0x00ff00), not a virtio-net device (1af4:1041 or 1af4:1000)' }),
      );
      expect(() => VirtioNetPort.open(blk)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_UNSUPPORTED', message: expect.stringContaining('1af4:1042 (virtio block)') }));
      expect(() => openPort(blk)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_UNSUPPORTED' }));
      expect(edu.container.dmaBuffers).toHaveLength(0);
    } finally {
      edu.close();
      blk.close();
    }
  });

  it('a feature the device refuses (FEATURES_OK not kept): ERR_VFIO_VIRTIO_FEATURES, status FAILED, nothing held', () => {
    const kernel = trackKernel(new FakeKernel());
    const model = new VirtioNetModel({ refuseFeatures: bit(VIRTIO_RING_F_EVENT_IDX) });
    kernel.addDevice(V_ADDR, model);
    const dev = openDevice(V_ADDR, kernel.options);
    try {
      expect(() => VirtioNetPort.open(dev)).toThrow(
        expect.objectContaining({ code: 'ERR_VFIO_VIRTIO_FEATURES', message: expect.stringMatching(/did not keep FEATURES_OK .*RING_EVENT_IDX/) }),
      );
      expect(model.status & VIRTIO_CONFIG_S_FAILED).toBe(VIRTIO_CONFIG_S_FAILED);
      expect(model.status & VIRTIO_CONFIG_S_FEATURES_OK).toBe(0);
      expect(dev.container.dmaBuffers).toHaveLength(0);
      expect(dev.interrupts).toBeNull();
      expect(model.errors).toEqual([expect.stringMatching(/^FEATURES_OK refused/)]); // the model notes the refusal
    } finally {
      dev.close();
    }
  });

  it('behind an IOMMU the device must offer ACCESS_PLATFORM (QEMU: iommu_platform=on): a named error otherwise', () => {
    const kernel = trackKernel(new FakeKernel());
    const model = new VirtioNetModel({ features: new VirtioNetModel().deviceFeatures & ~bit(VIRTIO_F_ACCESS_PLATFORM) });
    kernel.addDevice(V_ADDR, model);
    const dev = openDevice(V_ADDR, kernel.options);
    try {
      expect(() => VirtioNetPort.open(dev)).toThrow(
        expect.objectContaining({ code: 'ERR_VFIO_VIRTIO_FEATURES', message: expect.stringContaining('ACCESS_PLATFORM'), hint: expect.stringContaining('iommu_platform=on') }),
      );
      expect(model.status & VIRTIO_CONFIG_S_FAILED).toBe(VIRTIO_CONFIG_S_FAILED);
    } finally {
      dev.close();
    }
  });

  it('a queue size the device does not offer: ERR_VFIO_VIRTIO_QUEUE_SIZE (and a RangeError for no power of two), nothing held', () => {
    const kernel = trackKernel(new FakeKernel());
    const model = new VirtioNetModel({ queueSize: 128 });
    kernel.addDevice(V_ADDR, model);
    const dev = openDevice(V_ADDR, kernel.options);
    try {
      expect(() => VirtioNetPort.open(dev, { rxDescriptors: 256 })).toThrow(
        expect.objectContaining({ code: 'ERR_VFIO_VIRTIO_QUEUE_SIZE', message: expect.stringContaining('256 entries asked, the device offers at most 128') }),
      );
      expect(() => VirtioNetPort.open(dev, { txDescriptors: 1024 })).toThrow(expect.objectContaining({ code: 'ERR_VFIO_VIRTIO_QUEUE_SIZE' }));
      expect(() => VirtioNetPort.open(dev, { rxDescriptors: 100 })).toThrow(RangeError);
      expect(dev.container.dmaBuffers).toHaveLength(0);
      expect(dev.interrupts).toBeNull();
      const p = VirtioNetPort.open(dev, { rxDescriptors: 64 });
      expect([p.rxSize, p.txSize]).toEqual([64, 128]);
      p.close();
      expect(model.errors).toEqual([]);
    } finally {
      dev.close();
    }
  });

  it('refuses a pool without room for the header, and buffers too small for a frame', () => {
    const kernel = trackKernel(new FakeKernel());
    kernel.addDevice(V_ADDR, new VirtioNetModel());
    const dev = openDevice(V_ADDR, kernel.options);
    const pool = PacketPool.create(dev, { count: 1024 });
    try {
      expect(() => VirtioNetPort.open(dev, { pool })).toThrow(/headroom is 0 bytes.*\{ headroom: 12 \}/);
      expect(() => VirtioNetPort.open(dev, { bufferSize: 1024 })).toThrow(/at least 1518 bytes/);
    } finally {
      pool.close();
      dev.close();
    }
  });

  it('a used entry naming a descriptor the driver does not own is counted and refused, never a crash', async () => {
    const { v, e, vModel } = virtioBench();
    vModel.injectUsed(1, 5, 64); // transmit queue: descriptor 5 was never given
    vModel.injectUsed(0, 9999, 64); // receive queue: no such descriptor
    expect(v.txInFlight).toBe(0);
    expect(take(v)).toEqual([]);
    expect(v.stats().hw.badUsed).toBe(2);
    // And the port goes on working.
    expect(send(e, numbered(3, 64, v.mac, e.mac))).toBe(3);
    let got: Uint8Array[] = [];
    for (let i = 0; i < 50 && got.length < 3; i++) {
      got = got.concat(take(v));
      await tick();
    }
    expect(got).toHaveLength(3);
    expect(v.stats().hw.badUsed).toBe(2);
  });

  it('polls without interrupts, and in interrupt mode sleeps until a frame comes', async () => {
    const kernel = trackKernel(new FakeKernel());
    const eModel = new E1000eModel();
    const vModel = new VirtioNetModel();
    wire(eModel, vModel);
    kernel.addDevice(E_ADDR, eModel);
    kernel.addDevice(V_ADDR, vModel);
    const e = openPort(E_ADDR, { ...kernel.options, rxDescriptors: 64, txDescriptors: 64 });
    const poll = openPort(V_ADDR, { ...kernel.options, interrupts: 'none' });
    try {
      expect(poll.interruptKind).toBe('none');
      expect(poll.device.interrupts).toBeNull();
      expect(() => poll.setRxMode('interrupt')).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_NO_INTERRUPTS' }));
      send(e, numbered(2, 64, poll.mac, e.mac));
      expect(await poll.waitRx(1000)).toBe(true);
      expect(take(poll)).toHaveLength(2);
    } finally {
      poll.close();
    }
    const port = openPort(V_ADDR, { ...kernel.options });
    try {
      const waiting = port.waitRx(5000);
      setTimeout(() => send(e, numbered(1, 64, port.mac, e.mac)), 20);
      expect(await waiting).toBe(true);
      expect(take(port)).toHaveLength(1);
      expect(port.stats().driver.rxInterrupts).toBeGreaterThanOrEqual(1);
      expect(() => VirtioNetPort.open(port.device, { interrupts: 'msi' })).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_NO_INTERRUPTS' }));
    } finally {
      port.close();
      e.close();
    }
    expect(vModel.errors).toEqual([]);
  });

  it('close and reopen, three times: no fd, DMA buffer, vector or locked byte left behind', () => {
    const kernel = trackKernel(new FakeKernel());
    const model = new VirtioNetModel();
    kernel.addDevice(V_ADDR, model);
    const dev = openDevice(V_ADDR, kernel.options);
    const fds = kernel.openFds;
    const locked = kernel.lockedBytes;
    try {
      for (let i = 0; i < 3; i++) {
        const p = VirtioNetPort.open(dev, { rxDescriptors: 64, txDescriptors: 64 });
        expect(dev.container.dmaBuffers.length).toBeGreaterThan(0);
        expect(dev.interrupts?.vectors).toHaveLength(2);
        p.close();
        p.close(); // idempotent
        expect(p.closed).toBe(true);
        expect(dev.container.dmaBuffers).toHaveLength(0);
        expect(dev.interrupts).toBeNull();
        expect(kernel.openFds).toBe(fds);
        expect(kernel.lockedBytes).toBe(locked);
        expect(model.status).toBe(0);
        expect(dev.config.command & 0x4).toBe(0); // bus mastering off
        expect(() => p.rxBurst(new Uint32Array(1), 1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_CLOSED' }));
        expect(() => p.txBurst(new Uint32Array(1), 1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_CLOSED' }));
      }
      // openPort by address opens the device and closes it with the port.
      dev.close();
      const q = openPort(V_ADDR, { ...kernel.options });
      q.close();
      expect(q.device.closed).toBe(true);
      expect(kernel.openFds).toBe(0);
    } finally {
      if (!dev.closed) dev.close();
    }
    expect(model.errors).toEqual([]);
  });

  it('in no-IOMMU mode takes physical addresses and does not need ACCESS_PLATFORM', async () => {
    const kernel = trackKernel(new FakeKernel({ noIommu: true, hugepages: 16 }));
    const eModel = new E1000eModel();
    const vModel = new VirtioNetModel({ features: new VirtioNetModel().deviceFeatures & ~bit(VIRTIO_F_ACCESS_PLATFORM) });
    wire(eModel, vModel);
    kernel.addDevice(E_ADDR, eModel);
    kernel.addDevice(V_ADDR, vModel);
    const opts = { ...kernel.options, unsafeNoIommu: true };
    const e = openPort(E_ADDR, { ...opts, rxDescriptors: 64, txDescriptors: 64 });
    const v = openPort(V_ADDR, { ...opts, rxDescriptors: 64, txDescriptors: 64 });
    try {
      expect(v.device.dmaTranslated).toBe(false);
      expect(vModel.driverFeatures & bit(VIRTIO_F_ACCESS_PLATFORM)).toBe(0n);
      expect(send(e, numbered(4, 300, v.mac, e.mac))).toBe(4);
      expect(send(v, numbered(4, 300, e.mac, v.mac))).toBe(4);
      let atV: Uint8Array[] = [];
      let atE: Uint8Array[] = [];
      for (let i = 0; i < 50 && (atV.length < 4 || atE.length < 4); i++) {
        atV = atV.concat(take(v));
        atE = atE.concat(take(e));
        await tick();
      }
      expect([atV.length, atE.length]).toEqual([4, 4]);
    } finally {
      v.close();
      e.close();
    }
    expect(vModel.errors).toEqual([]);
  });
});
