/**
 * The e1000e port and the packet pool together, on the fake kernel: received buffers go to the
 * app and fresh ones refill the ring, a dry pool leaves frames in the ring, txBurst's ownership
 * and length checks, buffers the NIC holds, timestamps and port ids.
 */
import { describe, expect, it } from 'vitest';
import { BufferOwner } from '../../src/net/index.js';
import { readTestFrame, testFrame } from '../../src/net/apps/frames.js';

import { bench, cleanUpPairs, numbered, send, take } from '../helpers/e1000e-pair.js';

cleanUpPairs();

describe('e1000e port buffers from the pool', () => {
  it('rxBurst hands the buffers the NIC wrote to the app (zero-copy) and refills the ring from the pool', () => {
    const { a, b } = bench({ b: { rxDescriptors: 16, poolSize: 40 } });
    const pool = b.pool;
    expect(pool.available).toBe(40 - 16); // the receive ring holds 16
    send(a, numbered(4, 64, b.mac, a.mac));
    const ids = new Uint32Array(8);
    expect(b.rxBurst(ids, 8)).toBe(4);
    const got = Array.from(ids.subarray(0, 4));
    expect(got).toEqual([0, 1, 2, 3]); // the ring's first buffers: the NIC wrote into them
    expect(got.map((id) => readTestFrame(pool.data[id]!, pool.length[id])?.seq)).toEqual([0, 1, 2, 3]);
    expect(got.every((id) => pool.owner[id] === BufferOwner.APP && pool.length[id] === 64 && pool.port[id] === 0)).toBe(true);
    expect(pool.available).toBe(40 - 16 - 4); // four fresh buffers took their places
    expect(() => b.txBurst(Uint32Array.of(16), 1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_HELD_BY_NIC' })); // id 16 is in the ring
    pool.free(ids, 4);
    // Many turns of the ring: the same buffers circulate, nothing is allocated per frame.
    const seen = new Set<number>();
    for (let i = 0; i < 10; i++) {
      send(a, numbered(4, 64, b.mac, a.mac));
      expect(b.rxBurst(ids, 8)).toBe(4);
      for (const id of ids.subarray(0, 4)) seen.add(id);
      pool.free(ids, 4);
    }
    expect(Math.max(...seen)).toBeLessThan(40);
    expect(pool.available).toBe(40 - 16);
  });

  it('a pool that runs dry leaves frames in the ring (counted), and they arrive once buffers are freed', () => {
    const { a, b } = bench({ b: { rxDescriptors: 16, poolSize: 20 } });
    send(a, numbered(10, 64, b.mac, a.mac));
    const ids = new Uint32Array(16);
    expect(b.rxBurst(ids, 16)).toBe(4); // four spare buffers to refill with, then nothing
    expect(b.stats().driver.rxPoolEmpty).toBe(1);
    expect(b.rxReady()).toBe(true);
    b.pool.free(ids, 4);
    const seqs: number[] = [];
    while (seqs.length < 6) if (take(b, (d, len) => seqs.push(readTestFrame(d, len)!.seq), 4) === 0) break;
    expect(seqs).toEqual([4, 5, 6, 7, 8, 9]);
  });

  it('timestamps and port ids: one clock read per burst when asked for', () => {
    const { a, b } = bench({ b: { timestamps: true, portId: 7 } });
    const t0 = performance.timeOrigin + performance.now();
    send(a, numbered(3, 64, b.mac, a.mac));
    const ids = new Uint32Array(4);
    expect(b.rxBurst(ids, 4)).toBe(3);
    const ts = b.pool.timestamp[ids[0]!]!;
    expect(ts).toBeGreaterThanOrEqual(t0);
    expect(b.pool.timestamp[ids[2]!]).toBe(ts);
    expect(b.pool.port[ids[1]!]).toBe(7);
    b.pool.free(ids, 3);
  });

  it('txBurst checks ownership and length, and refuses the whole burst before queueing any', () => {
    const { a, b } = bench();
    const pool = a.pool;
    const ids = new Uint32Array(3);
    pool.alloc(ids, 3);
    pool.write(ids[0]!, testFrame(64, b.mac, a.mac, 1));
    pool.write(ids[1]!, testFrame(64, b.mac, a.mac, 1));
    pool.length[ids[2]!] = 2049; // longer than the 2048-byte buffers
    expect(() => a.txBurst(ids, 3)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_FRAME_TOO_LARGE', message: expect.stringMatching(/2049-byte frame/) }));
    expect(Array.from(ids).every((id) => pool.owner[id] === BufferOwner.APP)).toBe(true); // all still the app's
    pool.length[ids[2]!] = 10;
    expect(() => a.txBurst(ids, 3)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_FRAME_TOO_SHORT' }));
    expect(a.stats().tx).toMatchObject({ frames: 0, errors: 2 });
    expect(a.stats().hw.totalPacketsTransmitted).toBe(0);
    // Sent ids are the port's: sending or freeing them again is refused by name.
    expect(a.txBurst(ids, 2)).toBe(2);
    expect(() => a.txBurst(ids, 1)).toThrow(expect.objectContaining({ code: expect.stringMatching(/ERR_VFIO_NET_(HELD_BY_NIC|NOT_ALLOCATED)/) }));
    expect(() => pool.free(ids, 1)).toThrow(expect.objectContaining({ code: expect.stringMatching(/ERR_VFIO_NET_(HELD_BY_NIC|DOUBLE_FREE)/) }));
    expect(a.txInFlight).toBe(0); // the model sends at once: reclaimed, back in the pool
    expect(() => a.txBurst(ids, 1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_NOT_ALLOCATED' }));
    expect(() => pool.free(ids, 1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_DOUBLE_FREE' }));
    pool.free(ids, 1, 2);
  });

  it('freeing an id the NIC holds (in the transmit ring) is refused', () => {
    const { a, b } = bench();
    a.device.bar(0).write32(0x400, 0); // TCTL.EN off: the NIC keeps what it was given
    const ids = new Uint32Array(1);
    a.pool.alloc(ids, 1);
    a.pool.write(ids[0]!, testFrame(64, b.mac, a.mac, 1));
    expect(a.txBurst(ids, 1)).toBe(1);
    expect(a.pool.owner[ids[0]!]).toBe(BufferOwner.NIC);
    expect(() => a.pool.free(ids, 1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_HELD_BY_NIC' }));
    a.close(); // stopped first, then the rings' buffers go back to the pool (here the port's own, freed with it)
    expect(a.pool.owner[ids[0]!]).toBe(BufferOwner.FREE);
    expect(a.pool.owner.every((o) => o === BufferOwner.FREE)).toBe(true);
  });
});
