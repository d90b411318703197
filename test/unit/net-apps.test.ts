/**
 * The apps' engines of vfio/net (src/net/apps: pktgen, capture, forward, openPorts) on the
 * fake kernel, with 82574 models wired by the fake Ethernet: frames of mixed sizes arrive
 * intact and in order, the summaries and interval reports add up, the options are checked.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeKernel, E1000eModel, EduModel, wire } from '../../src/backend/fake/index.js';
import {
  ETHERTYPE_TEST,
  Meter,
  PcapWriter,
  capture,
  forward,
  openPorts,
  pktgen,
  readPcap,
  readTestFrame,
  sameMac,
  testPrefix,
  type AppProgress,
  type OpenedPorts,
  type OpenPortsOptions,
  type PortBase,
} from '../../src/net/index.js';

let kernel: FakeKernel | null = null;
let opened: OpenedPorts[] = [];
let dir = '';

afterEach(() => {
  for (const o of opened.reverse()) o.close();
  opened = [];
  if (kernel) {
    expect(kernel.faults).toEqual([]);
    expect(kernel.openFds).toBe(0);
    kernel.dispose();
  }
  kernel = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

/** n 82574 models at 0000:00:03.0, 00:04.0, …; wire them, then open() ports on them. */
function setup(n: number): { models: E1000eModel[]; open(addresses: string[], options?: OpenPortsOptions): OpenedPorts } {
  kernel = new FakeKernel({ memlockLimit: 512 << 20 });
  dir = mkdtempSync(join(tmpdir(), 'net-apps-'));
  const models = Array.from({ length: n }, (_, i) => new E1000eModel({ mac: `52:54:00:00:00:0${i + 1}` }));
  models.forEach((m, i) => kernel!.addDevice(`0000:00:0${i + 3}.0`, m));
  return {
    models,
    open(addresses, options = {}) {
      const o = openPorts(addresses, { ...kernel!.options, promiscuous: true, ...options });
      opened.push(o);
      return o;
    },
  };
}

describe('pktgen and capture', () => {
  it('10,000 frames of mixed sizes 60-1514 (a cycled range) arrive intact and in order, each of the size due', async () => {
    const s = setup(2);
    wire(s.models[0]!, s.models[1]!);
    const gen = s.open(['0000:00:03.0'], { txDescriptors: 512 }).ports[0]!;
    // The receive ring holds the whole run: when a ring overflows while the sender goes on,
    // QEMU's hub (and the model's) can deliver newer frames first.
    const cap = s.open(['0000:00:04.0'], { rxDescriptors: 4096, poolSize: 12288 }).ports[0]!;
    const N = 10_000;
    const file = join(dir, 'mixed.pcap');
    const writer = new PcapWriter(file);
    const runId = 0xc0ffee;
    const receiving = capture(cap, { writer, count: N, ethertype: ETHERTYPE_TEST, prefix: testPrefix(runId), durationMs: 60_000 });
    const sent = await pktgen(gen, { count: N, sizes: { min: 60, max: 1514 }, dst: cap.mac, runId });
    const got = await receiving;
    writer.close();
    const sizeOf = (seq: number) => 60 + (seq % 1455);
    let bytes = 0;
    for (let i = 0; i < N; i++) bytes += sizeOf(i);
    expect(sent).toMatchObject({ frames: N, bytes, drops: 0, reason: 'count', runId, sizes: { min: 60, max: 1514 } });
    expect(sent.bitsPerSecond).toBeCloseTo(((bytes + 4 * N) * 8) / sent.seconds, 0);
    expect(sent.stats.hw.goodPacketsTransmitted).toBe(N);
    expect(got).toMatchObject({ frames: N, bytes, received: N, filtered: 0, drops: 0, reason: 'count' });
    const records = readPcap(readFileSync(file)).records;
    expect(records).toHaveLength(N);
    const bad = records.filter((r, i) => {
      const t = readTestFrame(r.data);
      return !t || t.seq !== i || t.runId !== runId || !t.intact || r.length !== sizeOf(i) || !sameMac(r.data, 0, cap.mac) || !sameMac(r.data, 6, gen.mac);
    });
    expect(bad).toEqual([]);
  });

  it('a list of sizes is cycled in order; progress comes once per interval with that interval\'s rates', async () => {
    const s = setup(2);
    wire(s.models[0]!, s.models[1]!);
    const [gen, cap] = s.open(['0000:00:03.0', '0000:00:04.0'], { rxDescriptors: 1024 }).ports as [PortBase, PortBase];
    const writer = new PcapWriter(join(dir, 'list.pcap'));
    const caught: AppProgress[] = [];
    const receiving = capture(cap, { writer, count: 600, onProgress: (p) => caught.push(p), intervalMs: 5 });
    const reports: AppProgress[] = [];
    const r = await pktgen(gen, { count: 600, sizes: [64, 128, 1514], rate: 20_000, onProgress: (p) => reports.push(p), intervalMs: 5 });
    await receiving;
    writer.close();
    expect(r.frames).toBe(600);
    expect(r.bytes).toBe(200 * (64 + 128 + 1514));
    expect(reports.length).toBeGreaterThan(2);
    for (const p of reports) {
      expect(p.interval).toBeGreaterThan(0);
      expect(p.framesPerSecond).toBeCloseTo(p.frames / p.interval);
      expect(p.bitsPerSecond).toBeCloseTo(((p.bytes + 4 * p.frames) * 8) / p.interval);
    }
    expect(reports.reduce((n, p) => n + p.frames, 0)).toBe(reports.at(-1)!.total.frames);
    expect(caught.length).toBeGreaterThan(0);
    const lengths = readPcap(readFileSync(join(dir, 'list.pcap'))).records.map((x) => x.length);
    expect(lengths.slice(0, 6)).toEqual([64, 128, 1514, 64, 128, 1514]);
  });

  it('pktgen stops on the signal or the duration, keeps to a rate, and checks its options first', async () => {
    const s = setup(2);
    wire(s.models[0]!, s.models[1]!);
    const gen = s.open(['0000:00:03.0']).ports[0]!;
    const t0 = performance.now();
    const r = await pktgen(gen, { count: 100, rate: 1000 });
    expect(r.frames).toBe(100);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(80); // 100 frames at 1000/s: ~0.1 s
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    expect(await pktgen(gen, { rate: 2000, signal: controller.signal })).toMatchObject({ reason: 'signal' });
    expect(await pktgen(gen, { rate: 2000, durationMs: 60 })).toMatchObject({ reason: 'duration' });
    await expect(pktgen(gen, { count: 1, sizes: 59 })).rejects.toThrow(/frame size must be 60-2048 bytes/);
    await expect(pktgen(gen, { count: 1, sizes: { min: 100, max: 4096 } })).rejects.toThrow(/60-2048/);
    await expect(pktgen(gen, { count: 1, sizes: { min: 200, max: 100 } })).rejects.toThrow(/minimum is larger/);
    await expect(pktgen(gen, { count: 1, sizes: [] })).rejects.toThrow(/empty/);
    await expect(pktgen(gen, { count: -1 })).rejects.toThrow(/count/);
    await expect(pktgen(gen, { count: 1, batch: 600 })).rejects.toThrow(/batch/);
    await expect(pktgen(gen, { count: 1, rate: 0 })).rejects.toThrow(/rate/);
  });

  it('capture filters, counts without a writer, and stops on idle time, duration or the signal', async () => {
    const s = setup(2);
    wire(s.models[0]!, s.models[1]!);
    const [gen, cap] = s.open(['0000:00:03.0', '0000:00:04.0']).ports as [PortBase, PortBase];
    await pktgen(gen, { count: 20, runId: 1 });
    await pktgen(gen, { count: 10, runId: 2, sizes: 100 });
    const r1 = await capture(cap, { prefix: testPrefix(2), idleMs: 30 });
    expect(r1).toMatchObject({ frames: 10, bytes: 1000, received: 30, filtered: 20, reason: 'idle' });
    const r2 = await capture(cap, { durationMs: 40, ethertype: 0x0800 });
    expect(r2).toMatchObject({ frames: 0, reason: 'duration' });
    const controller = new AbortController();
    controller.abort();
    expect(await capture(cap, { signal: controller.signal })).toMatchObject({ reason: 'signal' });
    await expect(capture(cap, { count: -2 })).rejects.toThrow(/count/);
    await expect(capture(cap, { idleMs: 0 })).rejects.toThrow(/idleMs/);
  });
});

describe('forward', () => {
  it('zero-copy through openPorts (one context, one pool): mixed sizes both ways, intact and in order, summary adds up', async () => {
    // gen <-> A (fwd) and B (fwd) <-> cap: two cables, the forwarder in the middle.
    const s = setup(4);
    const [mGen, mA, mB, mCap] = s.models as [E1000eModel, E1000eModel, E1000eModel, E1000eModel];
    wire(mGen, mA);
    wire(mB, mCap);
    const fwd = s.open(['0000:00:04.0', '0000:00:05.0'], { rxDescriptors: 1024, txDescriptors: 256 });
    const [a, b] = fwd.ports as [PortBase, PortBase];
    expect(fwd.ports[0]!.pool).toBe(fwd.ports[1]!.pool);
    const gen = s.open(['0000:00:03.0'], { rxDescriptors: 1024 }).ports[0]!;
    const cap = s.open(['0000:00:06.0'], { rxDescriptors: 2048 }).ports[0]!;
    const controller = new AbortController();
    const running = forward(a, b, { signal: controller.signal });
    const w1 = new PcapWriter(join(dir, 'right.pcap'));
    const right = capture(cap, { writer: w1, count: 2000, prefix: testPrefix(11), durationMs: 30_000 });
    const left = capture(gen, { count: 500, prefix: testPrefix(12), durationMs: 30_000 });
    await Promise.all([
      pktgen(gen, { count: 2000, sizes: { min: 60, max: 1514 }, dst: cap.mac, runId: 11 }),
      pktgen(cap, { count: 500, sizes: 300, dst: gen.mac, runId: 12 }),
    ]);
    const [r1, r2] = await Promise.all([right, left]);
    controller.abort();
    const f = await running;
    w1.close();
    expect(r1.frames).toBe(2000);
    expect(r2.frames).toBe(500);
    expect(f).toMatchObject({ aToB: 2000, bToA: 500, frames: 2500, drops: 0, notForUs: 0, zeroCopy: true, reason: 'signal' });
    expect(f.bytes).toBe(r1.bytes + r2.bytes);
    const frames = readPcap(readFileSync(join(dir, 'right.pcap'))).records.map((r) => ({ t: readTestFrame(r.data)!, length: r.length }));
    expect(frames.map((x) => x.t.seq)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(frames.every((x, i) => x.t.intact && x.length === 60 + (i % 1455))).toBe(true);
  });

  it('with the egress link down: frames it could not send are drops', async () => {
    const s = setup(3);
    const [mGen, mA, mB] = s.models as [E1000eModel, E1000eModel, E1000eModel];
    wire(mGen, mA);
    mB.setLink(false);
    const [a, b] = s.open(['0000:00:04.0', '0000:00:05.0']).ports as [PortBase, PortBase];
    const gen = s.open(['0000:00:03.0']).ports[0]!;
    const r = forward(a, b, { durationMs: 300 });
    await pktgen(gen, { count: 50 });
    expect(await r).toMatchObject({ aToB: 0, frames: 0, drops: 50, reason: 'duration' });
  });
});

describe('openPorts', () => {
  it('names a device that is not a supported NIC (ERR_VFIO_NET_UNSUPPORTED) and closes what it opened', () => {
    const s = setup(1);
    kernel!.addDevice('0000:00:02.0', new EduModel());
    expect(() => s.open(['0000:00:02.0'])).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_UNSUPPORTED', hint: expect.stringMatching(/8086:10d3/) }));
    expect(() => s.open(['0000:00:03.0', '0000:00:02.0'])).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NET_UNSUPPORTED' }));
    expect(kernel!.openFds).toBe(0);
    expect(() => openPorts([])).toThrow(RangeError);
    expect(() => openPorts(['0000:00:03.0', '0000:00:03.0'])).toThrow(/twice/);
  });
});

describe('Meter', () => {
  it('samples intervals: rates per interval, totals since the start, missed intervals skipped', () => {
    const seen: AppProgress[] = [];
    const m = new Meter({ onProgress: (p) => seen.push(p), intervalMs: 1000 }, 0);
    m.total.frames = 1000;
    m.total.bytes = 60_000;
    m.tick(999);
    expect(seen).toEqual([]);
    m.tick(1000);
    expect(seen[0]).toEqual({ elapsed: 1, interval: 1, frames: 1000, bytes: 60_000, framesPerSecond: 1000, bitsPerSecond: 64_000 * 8, drops: 0, ringFull: 0, total: { frames: 1000, bytes: 60_000, drops: 0, ringFull: 0 } });
    m.total.frames = 1500;
    m.total.drops = 2;
    m.tick(3500); // two intervals late: one report for the 2.5 s since the last
    expect(seen[1]).toMatchObject({ elapsed: 3.5, interval: 2.5, frames: 500, framesPerSecond: 200, drops: 2 });
    m.tick(3900);
    expect(seen).toHaveLength(2);
    expect(m.summary('count', 4000)).toMatchObject({ reason: 'count', seconds: 4, frames: 1500, framesPerSecond: 375, drops: 2 });
    expect(() => new Meter({ intervalMs: 0 })).toThrow(RangeError);
  });
});
