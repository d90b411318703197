/**
 * The e1000e driver (src/net/e1000e) through the packet layer, against the 82574 model on the
 * fake kernel: two NICs wired together, as the guest has them on a QEMU hub. The same
 * scenarios run on the real kernel in test/vm/e1000e-driver.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { openDevice } from '../../src/index.js';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { E1000eModel } from '../../src/backend/fake/models/e1000e.js';
import { FrameTap } from '../../src/backend/fake/models/ethernet.js';
import { E1000ePort } from '../../src/net/index.js';
import { readTestFrame, stamp, testFrame } from '../../src/net/apps/frames.js';
import { A_ADDR, bench, cleanUpPairs, numbered, send, take, track } from '../helpers/e1000e-pair.js';

cleanUpPairs();

/** Receives until `n` frames arrived (or throws after `ms`), sleeping in waitRx between bursts. */
async function receive(port: E1000ePort, n: number, ms = 5000): Promise<{ seq: number; intact: boolean; length: number }[]> {
  const got: { seq: number; intact: boolean; length: number }[] = [];
  const deadline = Date.now() + ms;
  while (got.length < n) {
    const k = take(port, (data, length) => {
      const t = readTestFrame(data, length);
      got.push({ seq: t ? t.seq : -1, intact: t?.intact ?? false, length });
    }, 32);
    if (k === 0) {
      if (Date.now() > deadline) throw new Error(`timed out with ${got.length} of ${n} frames`);
      await port.waitRx(100);
    }
  }
  return got;
}

async function sendAll(port: E1000ePort, frames: Uint8Array[]): Promise<void> {
  let sent = 0;
  while (sent < frames.length) {
    const n = send(port, frames, Math.min(32, frames.length - sent), sent);
    sent += n;
    if (n === 0) await new Promise((r) => setImmediate(r));
  }
}

describe('e1000e driver on the fake kernel', () => {
  it('initialises the NIC: reset, link up at 1000 Mb/s, MAC from RAL0/RAH0, MSI-X', async () => {
    const { a, b, modelA, modelB } = bench();
    expect(Array.from(a.mac)).toEqual(Array.from(modelA.mac));
    expect(Array.from(b.mac)).toEqual(Array.from(modelB.mac));
    expect(a.linkUp).toBe(true);
    expect(await a.waitForLink(100)).toBe(true);
    expect(a.speed).toBe(1000);
    expect(a.interruptKind).toBe('msix');
    expect(a.rxMode).toBe('interrupt');
    expect(a.device.interrupts?.kind).toBe('msix');
    expect(a.device.interrupts?.vectors).toHaveLength(3);
    expect(a.device.config.command & 0x4).toBe(4); // bus master
    // Receiver and transmitter are on, legacy descriptors, CRC stripped, promiscuous only where asked.
    const rctlA = a.device.bar(0).read32(0x100);
    const rctlB = b.device.bar(0).read32(0x100);
    expect(rctlA & 0x2).toBe(0x2);
    expect(rctlA & (1 << 26)).not.toBe(0);
    expect(rctlA & 0x18).toBe(0);
    expect(rctlB & 0x18).toBe(0x18);
    expect(a.device.bar(0).read32(0x400) & 0x2).toBe(0x2);
    expect(a.device.bar(0).read32(0x2808)).toBe(64 * 16); // RDLEN
  });

  it('reads the MAC from the NVM (EERD) when RAH0 holds no valid address, and programs RAL0/RAH0', () => {
    const kernel = new FakeKernel();
    track(kernel);
    const model = new E1000eModel({ mac: '02:11:22:33:44:55' });
    kernel.addDevice(A_ADDR, model);
    const dev = openDevice(A_ADDR, kernel.options);
    try {
      dev.config.setBusMaster(true);
      dev.bar(0).write32(0x5404, 0); // RAH0: not valid
      dev.bar(0).write32(0x5400, 0);
      const port = E1000ePort.open(dev, { reset: false, rxDescriptors: 8, txDescriptors: 8 });
      expect(Array.from(port.mac)).toEqual([0x02, 0x11, 0x22, 0x33, 0x44, 0x55]);
      expect(dev.bar(0).read32(0x5404) >>> 0).toBe((0x80000000 | 0x5544) >>> 0);
      expect(dev.bar(0).read32(0x5400)).toBe(0x33221102);
      port.close();
    } finally {
      dev.close();
    }
    expect(model.errors).toEqual([]);
  });

  it('sends 1000 frames from A; B receives all of them, intact and in order (interrupt mode)', async () => {
    const { a, b } = bench();
    const frames = numbered(1000, 100, b.mac, a.mac);
    const receiving = receive(b, 1000);
    await sendAll(a, frames);
    const got = await receiving;
    expect(got.map((g) => g.seq)).toEqual(frames.map((_, i) => i));
    expect(got.every((g) => g.intact && g.length === 100)).toBe(true);
    const sa = a.stats();
    const sb = b.stats();
    expect(sa.tx).toEqual({ frames: 1000, bytes: 100_000, drops: 0, errors: 0 });
    expect(sb.rx).toEqual({ frames: 1000, bytes: 100_000, drops: 0, errors: 0 });
    expect(sb.driver.rxWakeups).toBeGreaterThan(0);
    expect(sb.driver.rxInterrupts).toBeGreaterThan(0);
    // Every buffer went back: the sent ones once the NIC was done, the received ones freed by the test.
    expect(a.txInFlight).toBe(0);
    expect(a.pool.available).toBe(a.pool.capacity - a.rxSize);
    expect(b.pool.available).toBe(b.pool.capacity - b.rxSize);
    // The NIC's counters: QEMU counts transmitted octets without the FCS, received ones with it.
    expect(sa.hw.goodPacketsTransmitted).toBe(1000);
    expect(sa.hw.totalPacketsTransmitted).toBe(1000);
    expect(sa.hw.goodOctetsTransmitted).toBe(100_000);
    expect(sb.hw.goodPacketsReceived).toBe(1000);
    expect(sb.hw.goodOctetsReceived).toBe(104_000);
    // Reading again adds nothing: the registers were cleared on read and accumulate here.
    expect(a.stats().hw.goodPacketsTransmitted).toBe(1000);
  });

  it('does the same by polling, and switches between polling and interrupts at run time', async () => {
    const { a, b } = bench({ b: { rxMode: 'poll' } });
    expect(b.rxMode).toBe('poll');
    await sendAll(a, numbered(100, 64, b.mac, a.mac));
    expect((await receive(b, 100)).map((g) => g.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(b.stats().driver.rxInterrupts).toBe(0); // receive causes stay masked while polling
    b.setRxMode('interrupt');
    const waiting = b.waitRx(2000);
    setTimeout(() => send(a, [testFrame(64, b.mac, a.mac, 1)]), 20);
    expect(await waiting).toBe(true);
    expect(b.stats().driver.rxInterrupts).toBe(1);
    expect(take(b)).toBe(1);
    b.setRxMode('poll');
    expect(await b.waitRx(50)).toBe(false); // one yield, nothing there
  });

  it('interrupt mode: waitRx sleeps until the interrupt, times out without one, and shares one wait', async () => {
    const { a, b } = bench();
    const t0 = Date.now();
    expect(await b.waitRx(30)).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(25);
    const w1 = b.waitRx(5000);
    const w2 = b.waitRx(5000);
    expect(w2).toBe(w1);
    setTimeout(() => send(a, [testFrame(60, b.mac, a.mac, 1)]), 30);
    expect(await w1).toBe(true);
    const s = b.stats().driver;
    expect(s.rxTimeouts).toBe(1);
    expect(s.rxWakeups).toBe(1);
    expect(s.rxEmptyPolls).toBe(0);
    // A frame already waiting: no sleep at all.
    expect(await b.waitRx(5000)).toBe(true);
  });

  it('MSI instead of MSI-X: one vector, causes acknowledged through ICR', async () => {
    const { a, b } = bench({ b: { interrupts: 'msi' } });
    expect(b.interruptKind).toBe('msi');
    expect(b.device.interrupts?.kind).toBe('msi');
    const receiving = receive(b, 300);
    await sendAll(a, numbered(300, 80, b.mac, a.mac));
    expect((await receiving).map((g) => g.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(b.stats().driver.rxInterrupts).toBeGreaterThan(0);
    expect(b.stats().driver.rxTimeouts).toBe(0);
  });

  it('keeps going across many turns of small rings (descriptor reuse, tail handling)', async () => {
    const { a, b } = bench({ a: { txDescriptors: 8 }, b: { rxDescriptors: 8 } });
    const frames = numbered(500, 60, b.mac, a.mac);
    const receiving = receive(b, 500);
    await sendAll(a, frames);
    expect((await receiving).map((g) => g.seq)).toEqual(frames.map((_, i) => i));
  });

  it('counts a received frame larger than one buffer as oversize and drops it, then goes on', async () => {
    const { a, b } = bench({ a: { bufferSize: 4096 }, b: { bufferSize: 1024 } });
    const big = testFrame(3000, b.mac, a.mac, 9);
    const small = numbered(2, 100, b.mac, a.mac);
    expect(send(a, [small[0]!, big, small[1]!])).toBe(3);
    const got = await receive(b, 2);
    expect(got.map((g) => g.seq)).toEqual([0, 1]);
    const s = b.stats();
    expect(s.rx.drops).toBe(1);
    expect(s.rx.frames).toBe(2);
    expect(s.hw.goodPacketsReceived).toBe(3); // the NIC took it (over three descriptors); the driver dropped it
  });

  it('reports a full transmit ring by taking fewer frames, never by dropping them', () => {
    const { a, b } = bench({ a: { txDescriptors: 16 } });
    a.device.bar(0).write32(0x400, 0); // TCTL.EN off: the NIC stops taking frames
    const frames = numbered(20, 64, b.mac, a.mac);
    expect(send(a, frames)).toBe(15); // one descriptor always stays free
    expect(send(a, frames, 5, 15)).toBe(0);
    expect(a.txInFlight).toBe(15);
    const s = a.stats();
    expect(s.driver.txRingFull).toBe(2);
    expect(s.tx).toMatchObject({ frames: 15, drops: 10 });
  });

  it('sending with the link down fails clearly; the link coming back is an event', async () => {
    const { a, b, modelA } = bench();
    const events: boolean[] = [];
    a.on('link', (up) => events.push(up));
    modelA.setLink(false);
    await new Promise((r) => setTimeout(r, 10));
    expect(a.linkUp).toBe(false);
    expect(events).toEqual([false]); // LSC on the MSI-X "other" vector
    const f = testFrame(64, b.mac, a.mac, 1);
    expect(() => send(a, [f])).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_LINK_DOWN' }));
    expect(a.stats().tx.frames).toBe(0);
    expect(a.pool.available).toBe(a.pool.capacity - a.rxSize); // send() freed what was refused
    modelA.setLink(true);
    expect(await a.waitForLink(2000)).toBe(true);
    await new Promise((r) => setTimeout(r, 10));
    expect(events).toEqual([false, true]);
    expect(send(a, [f])).toBe(1);
    expect(a.stats().driver.linkChanges).toBe(2);
  });

  it('restarts auto-negotiation through the PHY: link down at once, back with LSC', async () => {
    const { a, b } = bench({ model: { autonegMs: 30 } });
    const events: boolean[] = [];
    a.on('link', (up) => events.push(up));
    a.restartAutoNegotiation();
    expect(a.linkUp).toBe(false);
    expect(() => send(a, [testFrame(64, b.mac, a.mac, 1)])).toThrow(expect.objectContaining({ name: 'VfioError', code: 'ERR_VFIO_NET_LINK_DOWN' }));
    expect(await a.waitForLink(2000)).toBe(true);
    await new Promise((r) => setTimeout(r, 10));
    expect(events).toEqual([false, true]);
  });

  it('checks ring and buffer sizes before touching the device', () => {
    const kernel = new FakeKernel();
    track(kernel);
    const model = new E1000eModel();
    kernel.addDevice(A_ADDR, model);
    const dev = openDevice(A_ADDR, kernel.options);
    try {
      for (const n of [100, 4, 0, 5000, 12.5]) {
        expect(() => E1000ePort.open(dev, { rxDescriptors: n })).toThrow(
          expect.objectContaining({ name: 'RangeError', message: expect.stringMatching(/multiple of 8 descriptors \(the ring length is a multiple of 128 bytes/) }),
        );
      }
      expect(() => E1000ePort.open(dev, { txDescriptors: 1001 })).toThrow(RangeError);
      expect(() => E1000ePort.open(dev, { bufferSize: 3000 })).toThrow(/bufferSize must be 256/);
      expect(() => E1000ePort.open(dev, { interrupts: 'none', rxMode: 'interrupt' })).toThrow(/needs interrupts/);
      expect(dev.container.dmaBuffers).toHaveLength(0);
      expect(dev.interrupts).toBeNull();
      // Polling only: no vectors at all.
      const p = E1000ePort.open(dev, { interrupts: 'none', rxDescriptors: 8, txDescriptors: 8 });
      expect(p.interruptKind).toBe('none');
      expect(p.rxMode).toBe('poll');
      expect(() => p.setRxMode('interrupt')).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_NO_INTERRUPTS' }));
      p.close();
    } finally {
      dev.close();
    }
  });

  it('refuses a device that is not an 82574, naming what it is', () => {
    const kernel = new FakeKernel();
    track(kernel);
    kernel.addDevice('0000:00:02.0', new EduModel());
    const dev = openDevice('0000:00:02.0', kernel.options);
    try {
      expect(() => E1000ePort.open(dev)).toThrow(
        expect.objectContaining({
          code: 'ERR_VFIO_NET_UNSUPPORTED',
          message: 'E1000ePort.open (0000:00:02.0): the device is 1234:11e8 (class 0x00ff00), not an Intel 82574 (8086:10d3 or 8086:10f6)',
        }),
      );
      expect(dev.container.dmaBuffers).toHaveLength(0);
    } finally {
      dev.close();
    }
    expect(kernel.openFds).toBe(0);
  });

  it('close() stops the NIC before freeing its memory: no DMA afterwards, frames wait in the hub', () => {
    const { a, b, hub, modelB, kernel } = bench();
    b.close();
    expect(b.closed).toBe(true);
    expect(b.device.config.command & 0x4).toBe(0);
    expect(b.device.interrupts).toBeNull();
    expect(b.device.container.dmaBuffers).toHaveLength(0);
    expect(b.pool.closed).toBe(true); // its own pool, closed with it
    send(a, [testFrame(64, b.mac, a.mac, 1)]);
    expect(hub.queued(modelB)).toBe(1); // the receiver is off: QEMU's hub queues too
    expect(kernel.faults).toEqual([]);
    expect(() => b.rxBurst(new Uint32Array(1), 1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_CLOSED' }));
    expect(() => b.txBurst(new Uint32Array(1), 1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_CLOSED' }));
    b.close(); // idempotent
  });

  it('a frame the NIC could not take waits in the hub until the ring has room, then arrives in order', async () => {
    const { a, b, hub, modelB } = bench({ b: { rxDescriptors: 8 } });
    const frames = numbered(20, 64, b.mac, a.mac);
    await sendAll(a, frames); // 7 fit the ring, 13 wait
    expect(hub.queued(modelB)).toBe(13);
    expect((await receive(b, 20)).map((g) => g.seq)).toEqual(frames.map((_, i) => i));
    expect(hub.queued(modelB)).toBe(0);
  });

  it("like QEMU's hub: when the ring overflowed and the sender goes on, newer frames can overtake queued ones", () => {
    const { a, b } = bench({ b: { rxDescriptors: 8 } });
    const seqs: number[] = [];
    const takeB = () => take(b, (d, len) => seqs.push(readTestFrame(d, len)!.seq), 64);
    send(a, numbered(20, 64, b.mac, a.mac)); // 7 fit the ring, 13 wait in A's queue
    expect(takeB()).toBe(7); // giving the 7 back pulls 7 more; the other 6 now wait in B's queue
    const late = testFrame(64, b.mac, a.mac, 42);
    stamp(late, 20);
    send(a, [late]); // B refused a frame: this one waits in A's queue
    expect(takeB()).toBe(7);
    expect(takeB()).toBe(7);
    // QEMU flushes the senders' queues before the receiver's own: frame 20 comes first.
    expect(seqs).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 20, 14, 15, 16, 17, 18, 19]);
  });

  it('promiscuous mode: without it only frames for its MAC (and broadcast) arrive', async () => {
    const { a, b, hub } = bench({ a: { promiscuous: false } });
    const tap = new FrameTap();
    hub.attach(tap);
    tap.send(testFrame(64, Uint8Array.of(2, 9, 9, 9, 9, 9), Uint8Array.of(2, 1, 1, 1, 1, 1), 5)); // someone else's
    tap.send(testFrame(64, a.mac, Uint8Array.of(2, 1, 1, 1, 1, 1), 6));
    tap.send(testFrame(64, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff), Uint8Array.of(2, 1, 1, 1, 1, 1), 7));
    const runs: number[] = [];
    const takeRuns = (p: E1000ePort) => take(p, (d, len) => runs.push(readTestFrame(d, len)!.runId), 8);
    expect(takeRuns(a)).toBe(2);
    expect(runs).toEqual([6, 7]);
    runs.length = 0;
    expect(takeRuns(b)).toBe(3); // promiscuous
    expect(runs).toEqual([5, 6, 7]);
    // Switched at run time (RCTL.UPE/MPE).
    a.promiscuous = true;
    expect(a.promiscuous).toBe(true);
    tap.send(testFrame(64, Uint8Array.of(2, 9, 9, 9, 9, 9), Uint8Array.of(2, 1, 1, 1, 1, 1), 8));
    runs.length = 0;
    expect(takeRuns(a)).toBe(1);
    expect(runs).toEqual([8]);
  });
});
