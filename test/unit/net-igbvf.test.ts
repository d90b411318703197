/**
 * The igbvf driver (IgbvfPort) on the fake kernel, against the 82576 VF model wired to an
 * 82574 model by a fake hub: opening through openPort and the MAC address it ends up with,
 * traffic both ways, 10,000 frames of mixed sizes intact and in order, zero-copy forwarding
 * with one shared pool, link events, the PF resetting under the port, a PF that NACKs, a PF
 * that does not answer (a timeout, no hang), the wrapping counters, polling and interrupt
 * wake-ups, and close/reopen without leaks.
 */
import { describe, expect, it } from 'vitest';
import { openContext, openDevice } from '../../src/index.js';
import { E1000eModel, EduModel, FakeKernel, IgbvfModel, wire, type IgbvfModelOptions } from '../../src/backend/fake/index.js';
import { IgbvfPort, PacketPool, openPort, type PortBase } from '../../src/net/index.js';
import { readTestFrame } from '../../src/net/apps/frames.js';
import { VFGORC, VFGPRC, XDCTL_QUEUE_ENABLE } from '../../src/hw/e82576vf.js';
import { VF_RESET, VF_SET_LPE, VF_SET_MAC_ADDR, VF_SET_PROMISC, VF_SET_PROMISC_MULTICAST } from '../../src/hw/e82576vf-mailbox.js';
import { E_ADDR, V_ADDR, cleanUpNicPairs, nicPairBench, trackKernel } from '../helpers/nic-pair-bench.js';
import { mixedSizes, nextEvent, numbered, send, take } from '../helpers/port-traffic.js';

/** The address an administrator assigned to the VF on the PF. */
const MAC_V = '52:54:00:12:34:58';
/** `{ model: { mac: undefined } }` is a VF the administrator assigned no address. */
const igbvfBench = (opts: { model?: IgbvfModelOptions } = {}) => nicPairBench(new IgbvfModel({ mac: MAC_V, ...opts.model }));

cleanUpNicPairs();
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const hex = (m: Uint8Array): string => Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');

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

/** A kernel with one VF model at V_ADDR (and nothing wired), opened as a Device. */
function lone(model: IgbvfModel) {
  const kernel = trackKernel(new FakeKernel());
  kernel.addDevice(V_ADDR, model);
  return openDevice(V_ADDR, kernel.options);
}

describe('IgbvfPort on the fake kernel', () => {
  it('opens through openPort: the MAC the PF assigned, ring sizes, MSI-X, link, and what it told the PF', () => {
    const { v, vModel } = igbvfBench();
    expect(v).toBeInstanceOf(IgbvfPort);
    expect(v.driver).toBe('igbvf');
    expect(hex(v.mac)).toBe(MAC_V);
    expect(hex((v as IgbvfPort).pfMac!)).toBe(MAC_V);
    expect([v.rxSize, v.txSize]).toEqual([512, 512]);
    expect(v.interruptKind).toBe('msix');
    expect(v.rxMode).toBe('interrupt');
    expect(v.linkUp).toBe(true);
    expect(v.speed).toBe(1000);
    expect(v.maxFrame).toBe(1518);
    expect(v.promiscuous).toBe(false);
    // The handshake Linux's igbvf does: VF_RESET, then the largest frame; the assigned MAC is not asked for again.
    expect(vModel.pf.received.map((w) => w & 0xffff)).toEqual([VF_RESET, VF_SET_LPE]);
    expect(vModel.pf.cts).toBe(true);
    expect([vModel.pf.rxEnabled, vModel.pf.txEnabled, vModel.pf.longPackets, vModel.pf.maxFrame]).toEqual([true, true, true, 1522]);
    expect((v as IgbvfPort).mailboxStats).toMatchObject({ sent: 2, received: 2 });
  });

  it('without an assigned MAC it picks a random locally administered one and the PF filters on it (as Linux does); mac "pf" is ERR_VFIO_NET_NO_MAC', () => {
    const { v, vModel } = igbvfBench({ model: { mac: undefined } });
    expect((v as IgbvfPort).pfMac).toBeNull();
    expect(v.mac[0]! & 0x03).toBe(0x02); // locally administered, unicast
    expect(hex(vModel.pf.mac!)).toBe(hex(v.mac));
    expect(vModel.pf.received.map((w) => w & 0xffff)).toEqual([VF_RESET, VF_SET_MAC_ADDR, VF_SET_LPE]);
    const model = new IgbvfModel();
    const dev = lone(model);
    try {
      expect(() => IgbvfPort.open(dev, { mac: 'pf' })).toThrow(
        expect.objectContaining({ code: 'ERR_VFIO_NET_NO_MAC', device: V_ADDR, hint: expect.stringContaining('ip link set <pf> vf <n> mac') }),
      );
      expect(dev.container.dmaBuffers).toHaveLength(0);
      const p = IgbvfPort.open(dev, { mac: '02:00:00:00:00:07', rxDescriptors: 64, txDescriptors: 64 });
      expect(hex(p.mac)).toBe('02:00:00:00:00:07');
      expect(hex(model.pf.mac!)).toBe('02:00:00:00:00:07');
      p.close();
    } finally {
      dev.close();
    }
  });

  it('an address the PF refuses (an administrator assigned another): ERR_VFIO_NET_PF_REFUSED naming both, nothing held', () => {
    const model = new IgbvfModel({ mac: MAC_V });
    const dev = lone(model);
    try {
      expect(() => IgbvfPort.open(dev, { mac: '02:00:00:00:00:09' })).toThrow(
        expect.objectContaining({
          code: 'ERR_VFIO_NET_PF_REFUSED',
          message: expect.stringMatching(/refused VF_SET_MAC_ADDR \(NACK\).*02:00:00:00:00:09 \(an administrator assigned 52:54:00:12:34:58\)/),
          hint: expect.stringContaining("leave mac unset (or 'pf')"),
        }),
      );
      expect(dev.container.dmaBuffers).toHaveLength(0);
      expect(dev.interrupts).toBeNull();
      expect(dev.config.command & 0x4).toBe(0);
    } finally {
      dev.close();
    }
  });

  it('carries frames both ways between the VF and an e1000e port on one hub, byte for byte, and counts them in the VF registers', async () => {
    const { v, e } = igbvfBench();
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
    expect(s.hw).toMatchObject({ goodPacketsReceived: 20, goodOctetsReceived: 20 * 204, goodPacketsTransmitted: 20, goodOctetsTransmitted: 20 * 1518 });
  });

  it('receives only what the PF filters for it: its address and broadcast; other multicast only in multicast promiscuous mode', async () => {
    const { v, e, vModel } = igbvfBench();
    const other = Uint8Array.of(0x52, 0x54, 0, 0, 0, 0x77);
    const bcast = new Uint8Array(6).fill(0xff);
    const mcast = Uint8Array.of(0x01, 0x00, 0x5e, 0, 0, 1);
    send(e, [numbered(1, 64, other, e.mac)[0]!, numbered(1, 64, bcast, e.mac)[0]!, numbered(1, 64, mcast, e.mac)[0]!]);
    await tick();
    expect(take(v).map((f) => hex(f.subarray(0, 6)))).toEqual(['ff:ff:ff:ff:ff:ff']);
    v.promiscuous = true;
    expect(v.promiscuous).toBe(true);
    expect(vModel.pf.allMulticast).toBe(true);
    expect(vModel.pf.received.at(-1)).toBe(VF_SET_PROMISC | VF_SET_PROMISC_MULTICAST);
    send(e, [numbered(1, 64, other, e.mac)[0]!, numbered(1, 64, mcast, e.mac)[0]!]);
    await tick();
    expect(take(v).map((f) => hex(f.subarray(0, 6)))).toEqual(['01:00:5e:00:00:01']); // still not another station's unicast
    v.promiscuous = false;
    expect(vModel.pf.allMulticast).toBe(false);
    expect(v.stats().hw.multicastReceived).toBe(1);
  });

  it('10,000 frames of mixed sizes 60-1514 each way arrive intact and in order', async () => {
    const { v, e } = igbvfBench();
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
    expect(s.hw.goodPacketsReceived).toBe(10_000);
    expect(s.hw.goodPacketsTransmitted).toBe(10_000);
    expect(s.hw.goodOctetsTransmitted).toBe(sizes.reduce((a, b) => a + b + 4, 0));
  }, 120_000);

  it('forwards zero-copy with one shared pool: e1000e -> VF and VF -> e1000e, the same ids', async () => {
    // gen (e1000e) =hub1= V (igbvf) ... B (e1000e) =hub2= cap (e1000e): V and B forward, in one context and pool.
    const kernel = trackKernel(new FakeKernel({ memlockLimit: 512 << 20 }));
    const mGen = new E1000eModel({ mac: '52:54:00:00:00:01' });
    const mV = new IgbvfModel({ mac: '52:54:00:00:00:02' });
    const mB = new E1000eModel({ mac: '52:54:00:00:00:03' });
    const mCap = new E1000eModel({ mac: '52:54:00:00:00:04' });
    wire(mGen, mV);
    wire(mB, mCap);
    [mGen, mV, mB, mCap].forEach((m, i) => kernel.addDevice(`0000:00:0${i + 3}.0`, m));
    const gen = openPort('0000:00:03.0', { ...kernel.options, rxDescriptors: 256, txDescriptors: 256, promiscuous: true });
    const cap = openPort('0000:00:06.0', { ...kernel.options, rxDescriptors: 1024, txDescriptors: 256, promiscuous: true });
    const ctx = openContext(kernel.options);
    const [devV, devB] = [ctx.openDevice('0000:00:04.0'), ctx.openDevice('0000:00:05.0')];
    const pool = PacketPool.create(ctx, { count: 4096 });
    const v = openPort(devV, { pool, portId: 1 });
    const b = openPort(devB, { pool, portId: 2, promiscuous: true, rxDescriptors: 512 });
    try {
      const N = 3000;
      const sizes = mixedSizes(N, 777);
      // Towards the VF frames must carry its address: the PF filters on it (no unicast promiscuous for VFs).
      for (const [src, inPort, outPort, dst, inId, dstMac] of [
        [gen, v, b, cap, 1, v.mac],
        [cap, b, v, gen, 2, gen.mac],
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
            sent += send(src, Array.from({ length: want }, (_, k) => numbered(1, sizes[sent + k]!, dstMac, src.mac, sent + k)[0]!));
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

  it("reports the PF's link going down and up as 'link' events (the PF pings the mailbox); txBurst refuses while it is down", async () => {
    const { v, e, vModel } = igbvfBench();
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
    expect((v as IgbvfPort).mailboxStats.pings).toBe(2);
  });

  it("the PF resetting under the port: 'needs-reset' with ERR_VFIO_NET_PF_RESET, rx and tx throw it, close gives every buffer back, reopening works once the PF is up", async () => {
    const { v, e, vModel, pool, ctx } = igbvfBench();
    expect(send(v, numbered(10, 100, e.mac, v.mac))).toBe(10);
    expect(send(e, numbered(10, 100, v.mac, e.mac))).toBe(10);
    await tick();
    const waiting = v.waitRx(5000);
    const event = nextEvent<[Error & { code: string }]>(v, 'needs-reset');
    vModel.pfDown();
    const [err] = await event;
    expect(err).toMatchObject({ name: 'VfioError', code: 'ERR_VFIO_NET_PF_RESET', device: V_ADDR, hint: expect.stringContaining('open it again') });
    expect(await waiting).toBe(true);
    expect(() => v.rxBurst(new Uint32Array(8), 8)).toThrow(err);
    expect(() => send(v, numbered(1, 64, e.mac, v.mac))).toThrow(err);
    expect(v.linkUp).toBe(false);
    expect((v as IgbvfPort).failure).toBe(err);
    v.close();
    expect(e.txInFlight).toBe(0); // reclaims what e sent
    expect(pool.available).toBe(pool.capacity - e.rxSize);
    // While the PF is down the VF cannot open: the mailbox goes unanswered, the hint says why.
    const dev = ctx.openDevice(V_ADDR);
    try {
      expect(() => IgbvfPort.open(dev, { pool, mailboxTimeoutMs: 20 })).toThrow(
        expect.objectContaining({ code: 'ERR_VFIO_NET_MBX_TIMEOUT', hint: expect.stringContaining('the PF is resetting or not started (V2PMAILBOX.RSTI)') }),
      );
      vModel.pfUp();
      const again = IgbvfPort.open(dev, { pool, rxDescriptors: 64, txDescriptors: 64 });
      expect(send(e, numbered(3, 64, again.mac, e.mac))).toBe(3);
      await tick();
      expect(take(again)).toHaveLength(3);
      again.close();
    } finally {
      dev.close();
    }
  });

  it('a PF that NACKs a request at open: ERR_VFIO_NET_PF_REFUSED naming the message, nothing held; a refused promiscuous switch likewise', () => {
    const model = new IgbvfModel({ mac: MAC_V, refuse: [VF_SET_LPE] });
    const dev = lone(model);
    try {
      expect(() => IgbvfPort.open(dev)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_PF_REFUSED', op: 'IgbvfPort.open', message: expect.stringContaining('refused VF_SET_LPE (NACK)') }));
      expect(dev.container.dmaBuffers).toHaveLength(0);
      expect(dev.interrupts).toBeNull();
      model.pf.refuse = new Set([VF_SET_PROMISC]);
      expect(() => IgbvfPort.open(dev, { promiscuous: true })).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_PF_REFUSED', message: expect.stringContaining('VF_SET_PROMISC') }));
      const p = IgbvfPort.open(dev, { rxDescriptors: 64, txDescriptors: 64 });
      expect(() => (p.promiscuous = true)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_PF_REFUSED', op: 'IgbvfPort.promiscuous' }));
      expect(p.promiscuous).toBe(false);
      p.close();
    } finally {
      dev.close();
    }
  });

  it('a PF whose driver does not answer: ERR_VFIO_NET_MBX_TIMEOUT after mailboxTimeoutMs, no hang, nothing held', () => {
    const model = new IgbvfModel({ mac: MAC_V, pfUp: false });
    const dev = lone(model);
    try {
      const t0 = performance.now();
      expect(() => IgbvfPort.open(dev, { mailboxTimeoutMs: 50 })).toThrow(
        expect.objectContaining({
          code: 'ERR_VFIO_NET_MBX_TIMEOUT',
          message: 'IgbvfPort.open (0000:00:04.0): the PF did not acknowledge VF_RESET within 50 ms',
          hint: expect.stringContaining('RSTI'),
        }),
      );
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(dev.container.dmaBuffers).toHaveLength(0);
      expect(dev.interrupts).toBeNull();
      expect(() => IgbvfPort.open(dev, { mailboxTimeoutMs: 0 })).toThrow(RangeError);
    } finally {
      dev.close();
    }
  });

  it('accumulates the 32-bit VF counters across their wrap, as Linux does', async () => {
    const { v, e, vModel } = igbvfBench();
    vModel.setCounter(VFGPRC, 0xfffffffe);
    vModel.setCounter(VFGORC, 0xffffff00);
    v.stats(); // the driver reads the registers as they are now
    expect(send(e, numbered(5, 100, v.mac, e.mac))).toBe(5);
    await tick();
    expect(take(v)).toHaveLength(5);
    const hw = v.stats().hw;
    expect(hw.goodPacketsReceived).toBe(0xfffffffe - 0 + 5); // from 0 at open to 0xfffffffe, then 5 more across the wrap
    expect(hw.goodOctetsReceived).toBe(0xffffff00 + 5 * 104);
  });

  it('polls without interrupts, and in interrupt mode sleeps until a frame comes', async () => {
    const kernel = trackKernel(new FakeKernel());
    const eModel = new E1000eModel();
    const vModel = new IgbvfModel({ mac: MAC_V });
    wire(eModel, vModel);
    kernel.addDevice(E_ADDR, eModel);
    kernel.addDevice(V_ADDR, vModel);
    const e = openPort(E_ADDR, { ...kernel.options, rxDescriptors: 64, txDescriptors: 64 });
    const poll = openPort(V_ADDR, { ...kernel.options, interrupts: 'none', rxDescriptors: 64, txDescriptors: 64 });
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
    const port = openPort(V_ADDR, { ...kernel.options, rxDescriptors: 64, txDescriptors: 64 });
    try {
      const waiting = port.waitRx(5000);
      setTimeout(() => send(e, numbered(1, 64, port.mac, e.mac)), 20);
      expect(await waiting).toBe(true);
      expect(take(port)).toHaveLength(1);
      expect(port.stats().driver.rxInterrupts).toBe(1);
      // The handler masked the receive cause again: a busy port takes no interrupts.
      send(e, numbered(3, 64, port.mac, e.mac));
      await tick();
      expect(port.stats().driver.rxInterrupts).toBe(1);
      expect(take(port)).toHaveLength(3);
      expect(() => IgbvfPort.open(port.device, { interrupts: 'msi' })).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_NO_INTERRUPTS', message: expect.stringContaining('MSI-X only') }));
    } finally {
      port.close();
      e.close();
    }
    expect(vModel.errors).toEqual([]);
  });

  it('close and reopen, three times: no fd, DMA buffer, vector or locked byte left behind, queues off', () => {
    const kernel = trackKernel(new FakeKernel());
    const model = new IgbvfModel({ mac: MAC_V });
    kernel.addDevice(V_ADDR, model);
    const dev = openDevice(V_ADDR, kernel.options);
    const fds = kernel.openFds;
    const locked = kernel.lockedBytes;
    try {
      for (let i = 0; i < 3; i++) {
        const p = IgbvfPort.open(dev, { rxDescriptors: 64, txDescriptors: 64 });
        expect(dev.container.dmaBuffers.length).toBeGreaterThan(0);
        expect(dev.interrupts?.vectors).toHaveLength(3);
        expect(hex(p.mac)).toBe(MAC_V);
        p.close();
        p.close(); // idempotent
        expect(p.closed).toBe(true);
        expect(dev.container.dmaBuffers).toHaveLength(0);
        expect(dev.interrupts).toBeNull();
        expect(kernel.openFds).toBe(fds);
        expect(kernel.lockedBytes).toBe(locked);
        expect(dev.bar(0).read32(0x2828) & XDCTL_QUEUE_ENABLE).toBe(0);
        expect(dev.bar(0).read32(0x3828) & XDCTL_QUEUE_ENABLE).toBe(0);
        expect(dev.config.command & 0x4).toBe(0); // bus mastering off
        expect(() => p.rxBurst(new Uint32Array(1), 1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_CLOSED' }));
        expect(() => p.txBurst(new Uint32Array(1), 1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_CLOSED' }));
      }
      // Every open reset the VF and did the handshake again: the PF answered each VF_RESET with the MAC.
      expect(model.pf.received.filter((w) => w === VF_RESET)).toHaveLength(3);
    } finally {
      dev.close();
    }
    expect(model.errors).toEqual([]);
  });

  it('refuses what is not an 82576 VF, bad ring sizes and buffer sizes, before touching the device', () => {
    const kernel = trackKernel(new FakeKernel());
    kernel.addDevice('0000:00:02.0', new EduModel());
    const edu = openDevice('0000:00:02.0', kernel.options);
    const dev = lone(new IgbvfModel({ mac: MAC_V }));
    try {
      expect(() => IgbvfPort.open(edu)).toThrow(
        expect.objectContaining({ code: 'ERR_VFIO_NET_UNSUPPORTED', message: 'IgbvfPort.open (0000:00:02.0): the device is 1234:11e8 (class 0x00ff00), not an Intel 82576 virtual function (8086:10ca)' }),
      );
      expect(() => IgbvfPort.open(dev, { rxDescriptors: 100 })).toThrow(/multiple of 8 descriptors/);
      expect(() => IgbvfPort.open(dev, { txDescriptors: 8192 })).toThrow(RangeError);
      expect(() => IgbvfPort.open(dev, { bufferSize: 1536 })).toThrow(/multiple of 1024 bytes/);
      expect(() => IgbvfPort.open(dev, { mac: 'ff:ff:ff:ff:ff:ff' })).toThrow(/unicast/);
      expect(dev.container.dmaBuffers).toHaveLength(0);
    } finally {
      edu.close();
      dev.close();
    }
  });
});
