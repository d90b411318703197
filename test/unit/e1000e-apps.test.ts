/**
 * The "write your own app" example (examples/e1000e/reflect.ts) on the fake kernel: frames
 * pktgen sends to it come back, MACs swapped, intact and in order, in the buffers they came
 * in; and the script runs as a program (tsx resolves `vfio/net` as a user's project does).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { FakeKernel, E1000eModel, wire } from '../../src/backend/fake/index.js';
import { capture, openPort, pktgen, readTestFrame, sameMac, testPrefix, type PortBase } from '../../src/net/index.js';

// The example imports `vfio/net` as a user would; here that is the source.
vi.mock('vfio/net', () => import('../../src/net/index.js'));
const { reflect } = await import('../../examples/e1000e/reflect.js');

let kernel: FakeKernel | null = null;
afterEach(() => {
  if (kernel) {
    expect(kernel.faults).toEqual([]);
    expect(kernel.openFds).toBe(0);
    kernel.dispose();
  }
  kernel = null;
});

/** Two 82574 models on one cable; A (00:03.0) with a receive ring of `rxA`, B (00:04.0) for the reflector. */
function pair(rxA: number): [PortBase, PortBase] {
  kernel = new FakeKernel();
  const [mA, mB] = ['52:54:00:00:00:01', '52:54:00:00:00:02'].map((mac) => new E1000eModel({ mac })) as [E1000eModel, E1000eModel];
  wire(mA, mB);
  kernel.addDevice('0000:00:03.0', mA);
  kernel.addDevice('0000:00:04.0', mB);
  return [openPort('0000:00:03.0', { ...kernel.options, rxDescriptors: rxA }), openPort('0000:00:04.0', kernel.options)];
}

describe('examples/e1000e/reflect.ts', () => {
  it('sends every frame back: capture on the sender gets all pktgen sent, the reflector sent as many', async () => {
    const [a, b] = pair(1024);
    try {
      const stop = new AbortController();
      const reflecting = reflect(b, stop.signal);
      const back = capture(a, { count: 500, prefix: testPrefix(5), durationMs: 20_000 });
      const sent = await pktgen(a, { count: 500, sizes: { min: 60, max: 1514 }, dst: b.mac, runId: 5 });
      const got = await back;
      stop.abort();
      expect(sent.frames).toBe(500);
      expect(got).toMatchObject({ frames: 500, bytes: sent.bytes, reason: 'count' });
      expect(await reflecting).toBe(500);
      expect(b.stats().tx.frames).toBe(500);
    } finally {
      a.close();
      b.close();
    }
  });

  it('the frames come back intact, in order, of the sizes sent, with the MACs swapped', async () => {
    const [a, b] = pair(512);
    try {
      const stop = new AbortController();
      const reflecting = reflect(b, stop.signal);
      await pktgen(a, { count: 300, sizes: [60, 700, 1514], dst: b.mac, runId: 9 });
      const ids = new Uint32Array(64);
      const frames: { seq: number; ok: boolean }[] = [];
      for (let tries = 0; frames.length < 300 && tries < 500; tries++) {
        const n = a.rxBurst(ids, 64);
        for (let i = 0; i < n; i++) {
          const id = ids[i]!;
          const data = a.pool.data[id]!;
          const t = readTestFrame(data, a.pool.length[id]!);
          if (t?.runId === 9) frames.push({ seq: t.seq, ok: t.intact && sameMac(data, 0, a.mac) && sameMac(data, 6, b.mac) && a.pool.length[id] === [60, 700, 1514][t.seq % 3] });
        }
        a.pool.free(ids, n);
        if (n === 0) await a.waitRx(50);
      }
      stop.abort();
      await reflecting;
      expect(frames.map((f) => f.seq)).toEqual(Array.from({ length: 300 }, (_, i) => i));
      expect(frames.every((f) => f.ok)).toBe(true);
    } finally {
      a.close();
      b.close();
    }
  });

  it('runs as a program: without an address it prints its usage and exits 2', () => {
    const tsx = join(__dirname, '../../node_modules/tsx/dist/cli.mjs');
    const r = spawnSync(process.execPath, [tsx, 'examples/e1000e/reflect.ts'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/^usage: npx tsx examples\/e1000e\/reflect.ts <PCI address>/);
  });
});
