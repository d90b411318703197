/**
 * The e1000e apps (pktgen, capture, fwd) on the fake kernel through their programmatic
 * entry points, and their command lines (--help, argument checks, the status line).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { openContext, openDevice, type Device } from '../../src/index.js';
import { FakeKernel } from '../../src/backend/fake/index.js';
import { E1000eModel } from '../../src/backend/fake/models/e1000e.js';
import { wire } from '../../src/backend/fake/models/ethernet.js';
import { E1000ePort, PacketPool, type PortOptions } from '../../src/net/index.js';
import { pktgen, main as pktgenMain, USAGE as PKTGEN_USAGE } from '../../examples/e1000e/pktgen.js';
import { capture, main as captureMain } from '../../examples/e1000e/capture.js';
import { forward, main as fwdMain } from '../../examples/e1000e/fwd.js';
import { PcapWriter, readPcap } from '../../src/net/index.js';
import { ETHERTYPE_TEST, readTestFrame, sameMac, stamp, testFrame, testPrefix } from '../../src/net/apps/frames.js';
import { StatusLine, UsageError } from '../../examples/e1000e/cli.js';

let kernel: FakeKernel | null = null;
let cleanup: (() => void)[] = [];
let dir: string;

afterEach(() => {
  for (const c of cleanup.reverse()) c();
  cleanup = [];
  if (kernel) {
    expect(kernel.faults).toEqual([]);
    expect(kernel.openFds).toBe(0);
    kernel.dispose();
  }
  kernel = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * n NICs on the fake kernel (00:03.0, 00:04.0, ...), opened as ports; wire them yourself.
 * `shared` lists the NICs opened in one DMA context with one pool (zero-copy forwarding).
 */
function nics(n: number, options: PortOptions = {}, shared: number[] = []): { models: E1000eModel[]; ports: E1000ePort[] } {
  kernel = new FakeKernel();
  dir = mkdtempSync(join(tmpdir(), 'e1000e-apps-'));
  const models: E1000eModel[] = [];
  const ports: E1000ePort[] = [];
  for (let i = 0; i < n; i++) models.push(new E1000eModel({ mac: `52:54:00:00:00:0${i + 1}` }));
  return {
    models,
    get ports() {
      if (ports.length) return ports;
      models.forEach((m, i) => kernel!.addDevice(`0000:00:0${i + 3}.0`, m));
      const ctx = shared.length ? openContext(kernel!.options) : null;
      const sharedDevs = shared.map((i) => ctx!.openDevice(`0000:00:0${i + 3}.0`));
      const pool = ctx ? PacketPool.create(ctx, { count: 8192 }) : null;
      models.forEach((m, i) => {
        const k = shared.indexOf(i);
        const dev: Device = k >= 0 ? sharedDevs[k]! : openDevice(`0000:00:0${i + 3}.0`, kernel!.options);
        const port = E1000ePort.open(dev, { rxDescriptors: 128, txDescriptors: 128, promiscuous: true, ...options, ...(k >= 0 && { pool: pool!, portId: i }) });
        cleanup.push(() => {
          port.close();
          if (k < 0) dev.close();
          expect(m.errors).toEqual([]);
        });
        ports.push(port);
      });
      if (ctx)
        cleanup.unshift(() => {
          expect(pool!.available).toBe(pool!.capacity); // every buffer came back
          pool!.close();
          ctx.close();
        });
      return ports;
    },
  };
}

/** Copies frames into pool buffers and sends them; returns how many the ring took. */
function send(port: E1000ePort, frames: Uint8Array[]): number {
  const ids = new Uint32Array(frames.length);
  const got = port.pool.alloc(ids, frames.length);
  frames.forEach((f, i) => port.pool.write(ids[i]!, f));
  const n = port.txBurst(ids, got);
  port.pool.free(ids, got - n, n);
  return n;
}

/** Frees whatever is in the port's receive ring. */
function drain(port: E1000ePort): void {
  const ids = new Uint32Array(64);
  for (let n; (n = port.rxBurst(ids, 64)) > 0; ) port.pool.free(ids, n);
}

describe('pktgen and capture', () => {
  it('capture writes all N frames pktgen sent, in order and intact, to a pcap', async () => {
    // The receive ring holds the whole run, as in the guest test: when a ring overflows while
    // the sender goes on, QEMU's hub (and the model's) can deliver newer frames first.
    const n = nics(2, { rxDescriptors: 2048, txDescriptors: 256 });
    wire(n.models[0]!, n.models[1]!);
    const [gen, cap] = n.ports as [E1000ePort, E1000ePort];
    const file = join(dir, 'cap.pcap');
    const writer = new PcapWriter(file);
    const runId = 0x1234abcd;
    const receiving = capture(cap, { writer, count: 2000, ethertype: ETHERTYPE_TEST, prefix: testPrefix(runId) });
    const progress: number[] = [];
    const sent = await pktgen(gen, { count: 2000, size: 200, dst: cap.mac, runId, onProgress: (p) => progress.push(p.sent), progressMs: 1 });
    const got = await receiving;
    writer.close();
    expect(sent).toMatchObject({ sent: 2000, runId, size: 200 });
    expect(sent.pps).toBeGreaterThan(0);
    expect(sent.bitsPerSecond).toBeCloseTo(sent.pps * 204 * 8);
    expect(sent.stats.hw.goodPacketsTransmitted).toBe(2000);
    expect(progress.length).toBeGreaterThan(0);
    expect(got).toMatchObject({ captured: 2000, received: 2000, filtered: 0, bytes: 400_000, reason: 'count' });
    const pcap = readPcap(readFileSync(file));
    expect(pcap.records.map((r) => readTestFrame(r.data)!.seq)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(pcap.records.every((r) => readTestFrame(r.data)!.intact && r.length === 200 && r.data.length === 200)).toBe(true);
    expect(pcap.records.every((r) => sameMac(r.data, 0, cap.mac) && sameMac(r.data, 6, gen.mac))).toBe(true);
  });

  it('pktgen keeps to a rate, stops on the signal with count 0, and checks its arguments', async () => {
    const n = nics(2);
    wire(n.models[0]!, n.models[1]!);
    const [gen, cap] = n.ports as [E1000ePort, E1000ePort];
    const t0 = performance.now();
    const r = await pktgen(gen, { count: 100, size: 60, rate: 1000 });
    const ms = performance.now() - t0;
    expect(r.sent).toBe(100);
    expect(ms).toBeGreaterThanOrEqual(80); // 100 frames at 1000 pps: ~0.1 s
    expect(r.pps).toBeLessThan(1300);
    drain(cap);

    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const u = await pktgen(gen, { count: 0, size: 60, rate: 2000, signal: controller.signal });
    expect(u.sent).toBeGreaterThan(0);
    expect(u.sent).toBeLessThan(1000);

    await expect(pktgen(gen, { count: 1, size: 59 })).rejects.toThrow(/size must be 60-2048/);
    await expect(pktgen(gen, { count: 1, size: 4096 })).rejects.toThrow(/size must be 60-2048/);
    await expect(pktgen(gen, { count: -1, size: 60 })).rejects.toThrow(/count/);
    await expect(pktgen(gen, { count: 1, size: 60, batch: 500 })).rejects.toThrow(/batch/);
    await expect(pktgen(gen, { count: 1, size: 60, rate: 0 })).rejects.toThrow(/rate/);
  });

  it('capture filters by EtherType and payload prefix, and stops on count, idle time or duration', async () => {
    const n = nics(2);
    wire(n.models[0]!, n.models[1]!);
    const [gen, cap] = n.ports as [E1000ePort, E1000ePort];
    const other = new Uint8Array(80);
    other.set(cap.mac, 0);
    other[12] = 0x08; // IPv4 EtherType: filtered out
    send(gen, [other, testFrame(80, cap.mac, gen.mac, 1), testFrame(80, cap.mac, gen.mac, 2), other]);
    const w1 = new PcapWriter(join(dir, 'a.pcap'));
    const r1 = await capture(cap, { writer: w1, ethertype: ETHERTYPE_TEST, prefix: testPrefix(2), idleMs: 30 });
    w1.close();
    expect(r1).toMatchObject({ captured: 1, received: 4, filtered: 3, reason: 'idle' });
    expect(readTestFrame(readPcap(readFileSync(join(dir, 'a.pcap'))).records[0]!.data)!.runId).toBe(2);

    const w2 = new PcapWriter(join(dir, 'b.pcap'));
    const t0 = performance.now();
    const r2 = await capture(cap, { writer: w2, durationMs: 60 });
    w2.close();
    expect(r2).toMatchObject({ captured: 0, reason: 'duration' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
    expect(readPcap(readFileSync(join(dir, 'b.pcap'))).records).toEqual([]);

    const frames = Array.from({ length: 10 }, (_, i) => {
      const f = testFrame(64, cap.mac, gen.mac, 3);
      stamp(f, i);
      return f;
    });
    send(gen, frames);
    const w3 = new PcapWriter(join(dir, 'c.pcap'));
    expect(await capture(cap, { writer: w3, count: 4 })).toMatchObject({ captured: 4, reason: 'count' });
    w3.close();
    const controller = new AbortController();
    controller.abort();
    const w4 = new PcapWriter(join(dir, 'd.pcap'));
    expect(await capture(cap, { writer: w4, signal: controller.signal })).toMatchObject({ reason: 'signal' });
    w4.close();
  });
});

describe('fwd', () => {
  it('as a wire: forwards everything both ways between two separate links, zero-copy through one pool', async () => {
    // gen <-> A (fwd) and B (fwd) <-> cap: two cables, the forwarder in the middle; A and B share a pool.
    const n = nics(4, { rxDescriptors: 1024, txDescriptors: 256 }, [1, 2]);
    const [mGen, mA, mB, mCap] = n.models as [E1000eModel, E1000eModel, E1000eModel, E1000eModel];
    wire(mGen, mA);
    wire(mB, mCap);
    const [gen, a, b, cap] = n.ports as [E1000ePort, E1000ePort, E1000ePort, E1000ePort];
    const controller = new AbortController();
    const running = forward(a, b, { signal: controller.signal });
    const w1 = new PcapWriter(join(dir, 'right.pcap'));
    const w2 = new PcapWriter(join(dir, 'left.pcap'));
    const right = capture(cap, { writer: w1, count: 1000, prefix: testPrefix(11) });
    const left = capture(gen, { writer: w2, count: 500, prefix: testPrefix(12) });
    await Promise.all([
      pktgen(gen, { count: 1000, size: 100, dst: cap.mac, runId: 11 }),
      pktgen(cap, { count: 500, size: 300, dst: gen.mac, runId: 12 }),
    ]);
    const [r1, r2] = await Promise.all([right, left]);
    controller.abort();
    const f = await running;
    w1.close();
    w2.close();
    expect(r1.captured).toBe(1000);
    expect(r2.captured).toBe(500);
    expect(f).toMatchObject({ aToB: 1000, bToA: 500, dropped: 0, notForUs: 0, zeroCopy: true });
    const seqs = readPcap(readFileSync(join(dir, 'right.pcap'))).records.map((r) => readTestFrame(r.data)!);
    expect(seqs.map((t) => t.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(seqs.every((t) => t.intact)).toBe(true);
    expect(f.stats.a.rx.frames).toBe(1000);
    expect(f.stats.b.tx.frames).toBe(1000);
  });

  it('rewriting MACs: loop-free with both ports on one hub, as in the guest', async () => {
    const n = nics(2);
    wire(n.models[0]!, n.models[1]!);
    const [a, b] = n.ports as [E1000ePort, E1000ePort];
    const PA = Uint8Array.of(2, 0, 0, 0, 0, 0xa);
    const PB = Uint8Array.of(2, 0, 0, 0, 0, 0xb);
    const back: number[] = [];
    const controller = new AbortController();
    const running = forward(a, b, {
      rewrite: { peerA: PA, peerB: PB },
      signal: controller.signal,
      tap: (from, data, length, forwarded) => {
        if (!forwarded && from === 'a' && sameMac(data, 0, PB) && sameMac(data, 6, b.mac)) back.push(readTestFrame(data, length)!.seq);
      },
    });
    const f = testFrame(100, a.mac, Uint8Array.of(2, 0, 0, 0, 0, 1), 7);
    for (let i = 0; i < 200; i++) {
      stamp(f, i);
      send(b, [f]); // through the hub to A, which forwards it out of B, back to A
      if (i % 16 === 15) await new Promise((r) => setImmediate(r));
    }
    for (let i = 0; i < 100 && back.length < 200; i++) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    const r = await running;
    expect(back).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(r).toMatchObject({ aToB: 200, bToA: 0, notForUs: 200, dropped: 0, zeroCopy: false }); // pools of their own: copied
  });

  it('counts frames it could not send (egress link down) as dropped', async () => {
    const n = nics(4);
    const [mGen, mA, mB, mCap] = n.models as [E1000eModel, E1000eModel, E1000eModel, E1000eModel];
    wire(mGen, mA);
    wire(mB, mCap);
    const [gen, a, b] = n.ports as [E1000ePort, E1000ePort, E1000ePort, E1000ePort];
    mB.setLink(false);
    const controller = new AbortController();
    const running = forward(a, b, { signal: controller.signal });
    await pktgen(gen, { count: 50, size: 64 });
    for (let i = 0; i < 50 && a.stats().rx.frames < 50; i++) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    expect(await running).toMatchObject({ aToB: 0, dropped: 50 });
  });
});

describe('the command lines', () => {
  it('--help prints the usage; bad arguments are usage errors, before any device is opened', async () => {
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    try {
      await pktgenMain(['--help']);
      expect(log).toHaveBeenCalledWith(PKTGEN_USAGE);
      await captureMain(['-h']);
      expect(String(log.mock.calls[1]![0])).toMatch(/^usage: tsx examples\/e1000e\/capture.ts -w FILE/);
      await fwdMain(['--help']);
      expect(String(log.mock.calls[2]![0])).toMatch(/--rewrite/);
    } finally {
      log.mockRestore();
    }
    const cases: [(argv: string[]) => Promise<void>, string[], RegExp][] = [
      [pktgenMain, [], /missing PCI address/],
      [pktgenMain, ['--count', 'x', '0000:00:03.0'], /--count must be an integer/],
      [pktgenMain, ['--size', '20', '0000:00:03.0'], /--size must be an integer between 60 and 2048/],
      [pktgenMain, ['--ring', '100', '0000:00:03.0'], /--ring must be a multiple of 8/],
      [pktgenMain, ['--dst', 'nope', '0000:00:03.0'], /--dst: not a MAC address/],
      [pktgenMain, ['--interrupts', 'none', '0000:00:03.0'], /--mode interrupt needs interrupts/],
      [pktgenMain, ['--bogus', '0000:00:03.0'], /Unknown option '--bogus'/],
      [pktgenMain, ['00:03'], /not a PCI address/],
      [captureMain, ['0000:00:03.0'], /missing --write FILE/],
      [captureMain, ['-w', 'x.pcap', '--ethertype', '0x8', '0000:00:03.0'], /--ethertype must be hex bytes/],
      [captureMain, ['-w', 'x.pcap', '--idle', '0', '0000:00:03.0'], /--idle must be a positive number/],
      [fwdMain, ['0000:00:03.0'], /two PCI addresses expected, got 1/],
      [fwdMain, ['0000:00:03.0', '0000:00:03.0'], /must be different/],
      [fwdMain, ['--peer-a', '02:00:00:00:00:01', '0000:00:03.0', '0000:00:04.0'], /go with --rewrite/],
    ];
    for (const [fn, argv, message] of cases) await expect(fn(argv), argv.join(' ')).rejects.toThrow(expect.objectContaining({ name: 'UsageError', message: expect.stringMatching(message) }));
    expect(new UsageError('x')).toBeInstanceOf(Error);
  });

  it('runs as a program: --help exits 0, a usage error exits 2 with the usage', () => {
    const tsx = join(__dirname, '../../node_modules/tsx/dist/cli.mjs');
    const ok = spawnSync(process.execPath, [tsx, 'examples/e1000e/pktgen.ts', '--help'], { encoding: 'utf8', timeout: 60_000 });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^usage: tsx examples\/e1000e\/pktgen.ts/);
    const bad = spawnSync(process.execPath, [tsx, 'examples/e1000e/capture.ts', '--ring', '12', '-w', 'x.pcap', '0000:00:03.0'], { encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^error: --ring must be a multiple of 8/);
    expect(bad.stderr).toMatch(/usage: tsx examples\/e1000e\/capture.ts/);
  });

  it('the status line redraws in place on a terminal and prints plain lines otherwise', () => {
    const sink = (tty: boolean) => {
      const chunks: string[] = [];
      const s = new Writable({ write: (c, _e, cb) => (chunks.push(String(c)), cb()) }) as unknown as NodeJS.WriteStream;
      (s as { isTTY?: boolean }).isTTY = tty;
      return { s, chunks };
    };
    const t = sink(true);
    const tl = new StatusLine(t.s);
    tl.update('one');
    tl.update('two');
    tl.done();
    expect(t.chunks).toEqual(['\rone\x1b[K', '\rtwo\x1b[K', '\n']);
    const p = sink(false);
    const pl = new StatusLine(p.s);
    pl.update('one');
    pl.update('two'); // within a second: skipped
    pl.done();
    expect(p.chunks).toEqual(['one\n']);
  });
});
