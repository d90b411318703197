/**
 * Zero-copy forwarding through vfio/net on the fake kernel: ports opened with openPort in one
 * DMA context share a pool, and the ids one receives are the ids the other sends. 10,000
 * frames of mixed sizes (60-1514 bytes) arrive intact and in order, and every buffer returns
 * to the pool. Also openPort's driver choice by PCI id.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openContext, openDevice } from '../../src/index.js';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { E1000eModel } from '../../src/backend/fake/models/e1000e.js';
import { wire } from '../../src/backend/fake/models/ethernet.js';
import { E1000ePort, NIC_DRIVERS, PacketPool, openPort, type Port } from '../../src/net/index.js';
import { readTestFrame, stamp, testFrame } from '../../src/net/apps/frames.js';

let kernel: FakeKernel | null = null;
afterEach(() => {
  if (kernel) {
    expect(kernel.faults).toEqual([]);
    expect(kernel.openFds).toBe(0);
    kernel.dispose();
  }
  kernel = null;
});

/** Sizes 60-1514, every one different from its neighbours (a fixed pseudo-random walk). */
function mixedSizes(n: number): number[] {
  let x = 12345;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return 60 + (x % (1514 - 60 + 1));
  });
}

describe('zero-copy forwarding', () => {
  it('10,000 frames of mixed sizes 60-1514, gen -> A => B -> cap, intact and in order; the ids A received are the ids B sent', async () => {
    kernel = new FakeKernel({ memlockLimit: 512 << 20 });
    const models = ['52:54:00:00:00:01', '52:54:00:00:00:02', '52:54:00:00:00:03', '52:54:00:00:00:04'].map((mac) => new E1000eModel({ mac }));
    const [mGen, mA, mB, mCap] = models as [E1000eModel, E1000eModel, E1000eModel, E1000eModel];
    wire(mGen, mA); // two cables, the forwarder in the middle
    wire(mB, mCap);
    models.forEach((m, i) => kernel!.addDevice(`0000:00:0${i + 3}.0`, m));
    // Generator and capture: ports of their own. The forwarder's two: one context, one pool.
    const gen = openPort('0000:00:03.0', { ...kernel.options, rxDescriptors: 64, txDescriptors: 256 });
    const cap = openPort('0000:00:06.0', { ...kernel.options, rxDescriptors: 1024, promiscuous: true });
    const ctx = openContext(kernel.options);
    const [devA, devB] = [ctx.openDevice('0000:00:04.0'), ctx.openDevice('0000:00:05.0')]; // devices first: the context has no IOMMU before them
    const pool = PacketPool.create(ctx, { count: 4096 });
    const a = openPort(devA, { pool, portId: 1, promiscuous: true, rxDescriptors: 1024 });
    const b = openPort(devB, { pool, portId: 2 });
    try {
      const N = 10_000;
      const sizes = mixedSizes(N);
      expect(Math.min(...sizes)).toBeLessThan(100);
      expect(Math.max(...sizes)).toBeGreaterThan(1450);
      const received: { seq: number; intact: boolean; length: number }[] = [];
      let sameIds = true;
      let forwarded = 0;
      const fwdIds = new Uint32Array(32);
      const sentIds = new Uint32Array(32);
      const capIds = new Uint32Array(64);
      const genIds = new Uint32Array(32);
      let sent = 0;
      const deadline = Date.now() + 50_000;
      while (received.length < N) {
        if (Date.now() > deadline) throw new Error(`timed out: sent ${sent}, forwarded ${forwarded}, received ${received.length}`);
        // Generator: up to 32 frames a turn, copied into its own pool's buffers.
        if (sent < N) {
          const want = Math.min(32, N - sent);
          const got = gen.pool.alloc(genIds, want);
          for (let k = 0; k < got; k++) {
            const f = testFrame(sizes[sent + k]!, mCap.mac, gen.mac, 9);
            stamp(f, sent + k);
            gen.pool.write(genIds[k]!, f);
          }
          const n = gen.txBurst(genIds, got);
          gen.pool.free(genIds, got - n, n);
          sent += n;
        }
        // Forwarder: A's ids go out of B as they are.
        const n = a.rxBurst(fwdIds, 32);
        if (n > 0) {
          sentIds.set(fwdIds.subarray(0, n));
          let out = 0;
          while (out < n) {
            out += b.txBurst(fwdIds, n - out, out);
            if (out < n) await new Promise((r) => setImmediate(r));
          }
          for (let k = 0; k < n; k++) if (pool.port[sentIds[k]!] !== 1) sameIds = false;
          forwarded += n;
        }
        // Capture.
        const c = cap.rxBurst(capIds, 64);
        for (let k = 0; k < c; k++) {
          const id = capIds[k]!;
          const t = readTestFrame(cap.pool.data[id]!, cap.pool.length[id]);
          received.push({ seq: t?.seq ?? -1, intact: t?.intact ?? false, length: cap.pool.length[id]! });
        }
        cap.pool.free(capIds, c);
        if (n === 0 && c === 0) await new Promise((r) => setImmediate(r));
      }
      expect(received.map((r) => r.seq)).toEqual(Array.from({ length: N }, (_, i) => i));
      expect(received.every((r) => r.intact)).toBe(true);
      expect(received.map((r) => r.length)).toEqual(sizes);
      expect(sameIds).toBe(true); // every id B sent was one A received (port 1 stamped it)
      expect(forwarded).toBe(N);
      expect(await b.flushTx(2000)).toBe(true);
      // Every buffer is back: the pool holds only what the two receive rings took.
      expect(pool.available).toBe(pool.capacity - a.rxSize - b.rxSize);
      const sa = a.stats();
      const sb = b.stats();
      expect(sa.rx.frames).toBe(N);
      expect(sb.tx.frames).toBe(N);
      expect(sb.tx.bytes).toBe(sizes.reduce((x, y) => x + y, 0));
      expect(sb.hw.goodPacketsTransmitted).toBe(N);
    } finally {
      a.close();
      b.close();
      expect(pool.available).toBe(pool.capacity);
      pool.close();
      ctx.close();
      gen.close();
      cap.close();
    }
    for (const m of models) expect(m.errors).toEqual([]);
  }, 120_000);
});

describe('openPort', () => {
  it('chooses the driver by PCI id, closes a device it opened, and names what it supports otherwise', () => {
    kernel = new FakeKernel();
    kernel.addDevice('0000:00:03.0', new E1000eModel());
    kernel.addDevice('0000:00:02.0', new EduModel());
    const port: Port = openPort('0000:00:03.0', { ...kernel.options, rxDescriptors: 8, txDescriptors: 8 });
    expect(port).toBeInstanceOf(E1000ePort);
    expect(port.driver).toBe('e1000e');
    expect(port.device.closed).toBe(false);
    port.close();
    expect(port.device.closed).toBe(true); // openPort opened it: the port closes it
    expect(NIC_DRIVERS.map((d) => `${d.vendor.toString(16)}:${d.device.toString(16)} ${d.driver}`)).toEqual(['8086:10d3 e1000e', '8086:10f6 e1000e', '1af4:1041 virtio-net', '1af4:1000 virtio-net']);
    try {
      openPort('0000:00:02.0', kernel.options);
      expect.fail('opened an edu as a NIC');
    } catch (e) {
      expect(e).toMatchObject({
        name: 'VfioError',
        code: 'ERR_VFIO_NET_UNSUPPORTED',
        message: 'openPort (0000:00:02.0): the device is 1234:11e8 (class 0x00ff00), not a NIC this package drives',
        hint: 'supported: 8086:10d3 (Intel 82574L, e1000e), 8086:10f6 (Intel 82574LA, e1000e), 1af4:1041 (virtio-net, modern, virtio-net), 1af4:1000 (virtio-net, transitional, virtio-net)',
      });
    }
    // A Device passed in stays the caller's, on success and on failure alike.
    const dev = openDevice('0000:00:02.0', kernel.options);
    expect(() => openPort(dev)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_UNSUPPORTED' }));
    expect(dev.closed).toBe(false);
    dev.close();
  });
});
