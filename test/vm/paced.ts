/**
 * One way of a NIC pair at a pace the unprivileged suites can afford: they get small receive
 * rings (1 MiB of locked memory) and no sink port, so pktgen sends 250 frames/s: a 64-entry
 * ring then holds a quarter of a second, the receiver never runs dry and QEMU's hub never
 * queues (it reorders what it queues: see virtio-net.test.ts).
 */
import { expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter, capture, pktgen, readPcap, type PortBase } from '../../src/net/index.js';
import { readTestFrame, testPrefix } from '../../src/net/apps/frames.js';
import { mixedSizes } from './guest.js';

/** `n` frames of mixed sizes from `from` to `to` at 250 frames/s: all arrive, intact and in order. */
export async function pacedOneWay(from: PortBase, to: PortBase, n: number, runId: number, tag: string): Promise<void> {
  const sizes = mixedSizes(n, runId & 0xff);
  const file = join(tmpdir(), `${tag.replace(/\W+/g, "-")}-${runId}.pcap`);
  const writer = new PcapWriter(file);
  const receiving = capture(to, { writer, count: n, durationMs: 30_000, prefix: testPrefix(runId) });
  const sent = await pktgen(from, { count: n, sizes, dst: to.mac, runId, rate: 250, batch: 16 });
  const inFlight = from.txInFlight;
  const flushed = await from.flushTx(5000);
  console.log(`${tag} (uid ${process.getuid?.()}): ${from.driver} pktgen done: ${sent.frames} accepted, ${inFlight} in flight, flushTx ${flushed}, sender hw ${JSON.stringify(from.stats().hw)}`);
  const got = await receiving;
  writer.close();
  console.log(
    `${tag} (uid ${process.getuid?.()}): ${from.driver} → ${to.driver}: sent ${sent.frames}, captured ${got.frames} (${got.reason}, drops ${got.drops}) in ${got.seconds.toFixed(2)} s; ` +
      `sender ${JSON.stringify(from.stats())}; receiver ${JSON.stringify(to.stats())}`,
  );
  expect(got.frames).toBe(n);
  const records = readPcap(readFileSync(file)).records;
  expect(records.map((r) => readTestFrame(r.data)!.seq)).toEqual(Array.from({ length: n }, (_, i) => i));
  records.forEach((r, i) => {
    if (!readTestFrame(r.data)!.intact || r.length !== sizes[i]) expect.fail(`record ${i}: length ${r.length}/${sizes[i]}`);
  });
}
