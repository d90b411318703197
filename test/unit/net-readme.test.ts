/**
 * The README's "Writing a NIC driver" example on the fake kernel, as a new user would run it:
 * two 82574 models on a fake hub, one context, one pool, a frame from one port to the other.
 */
import { describe, expect, it } from 'vitest';
import { openContext } from '../../src/index.js';
import { FakeKernel, E1000eModel, wire } from '../../src/backend/fake/index.js';
import { PacketPool, openPort } from '../../src/net/index.js';

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
