/**
 * pktgen: sends N test frames of S bytes (frames.ts: EtherType 0x88b5, a run id and a
 * sequence number 0..N-1, a fixed pattern), as fast as the ring takes them or at a rate,
 * and reports packets per second.
 *
 *   npx tsx examples/e1000e/pktgen.ts --count 100000 --size 64 0000:00:03.0
 *   npx tsx examples/e1000e/pktgen.ts --rate 1000 --dst 52:54:00:12:34:57 0000:00:03.0
 *
 * pktgen(port, options) is the same loop for programs and tests: each burst takes buffers
 * from the port's pool, copies the test frame in and stamps its sequence number, and hands
 * them to txBurst; the port frees them once sent.
 */
import { parseArgs } from 'node:util';
import { randomInt } from 'node:crypto';
import type { Port, PortStats } from 'vfio/net';
import { BROADCAST, MIN_TEST_FRAME, formatMac, parseMac, stamp, testFrame } from '../../src/net/apps/frames.js';
import {
  PORT_OPTIONS,
  PORT_OPTIONS_HELP,
  StatusLine,
  UsageError,
  checkAddress,
  formatRate,
  intOption,
  isMain,
  openOptions,
  openPorts,
  portOptions,
  runMain,
  sleep,
  usage,
  yieldNow,
} from './cli.js';

export interface PktgenOptions {
  /** Frames to send; 0 sends until `signal` fires. */
  count: number;
  /** Frame size in bytes, without the FCS the NIC appends (60 up to the port's buffer size). */
  size: number;
  /** Packets per second; undefined: as fast as the ring takes them. */
  rate?: number;
  /** Destination MAC (default broadcast). */
  dst?: Uint8Array;
  /** Stamped into every frame so a receiver can tell this run's frames (default random). */
  runId?: number;
  /** Frames per txBurst (default 32). */
  batch?: number;
  signal?: AbortSignal;
  /** Called every `progressMs` (default 500) with the totals so far. */
  onProgress?: (p: PktgenProgress) => void;
  progressMs?: number;
}

export interface PktgenProgress {
  sent: number;
  seconds: number;
  pps: number;
}

export interface PktgenResult extends PktgenProgress {
  runId: number;
  size: number;
  /** Bits per second on the wire, counting the FCS (not preamble and gap). */
  bitsPerSecond: number;
  /** Times the ring was full and pktgen had to wait for the NIC. */
  ringFull: number;
  /** Times the pool had no free buffer for a whole burst. */
  poolEmpty: number;
  stats: PortStats;
}

export async function pktgen(port: Port, options: PktgenOptions): Promise<PktgenResult> {
  const { count, size } = options;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`pktgen: count must be a non-negative integer, got ${count}`);
  if (!Number.isInteger(size) || size < MIN_TEST_FRAME || size > port.maxFrame)
    throw new RangeError(`pktgen: size must be ${MIN_TEST_FRAME}-${port.maxFrame} bytes (the port's buffer size), got ${size}`);
  const rate = options.rate;
  if (rate !== undefined && !(rate > 0)) throw new RangeError(`pktgen: rate must be positive, got ${rate}`);
  const batch = options.batch ?? 32;
  if (!Number.isInteger(batch) || batch < 1 || batch > port.txSize - 1) throw new RangeError(`pktgen: batch must be 1-${port.txSize - 1}, got ${batch}`);
  const runId = (options.runId ?? randomInt(2 ** 32 - 1)) >>> 0;
  const frame = testFrame(size, options.dst ?? BROADCAST, port.mac, runId);
  const pool = port.pool;
  const ids = new Uint32Array(batch);
  const progressMs = options.progressMs ?? 500;
  const signal = options.signal;

  const start = performance.now();
  let nextReport = start + progressMs;
  let sent = 0;
  let ringFull = 0;
  let poolEmpty = 0;
  let bursts = 0;
  const progress = (): PktgenProgress => {
    const seconds = (performance.now() - start) / 1000;
    return { sent, seconds, pps: seconds > 0 ? sent / seconds : 0 };
  };
  while ((count === 0 || sent < count) && !signal?.aborted) {
    let want = count === 0 ? batch : Math.min(batch, count - sent);
    if (rate !== undefined) {
      const allowed = Math.floor((rate * (performance.now() - start)) / 1000) - sent;
      if (allowed <= 0) {
        await sleep(Math.max(1, Math.ceil(((1 - allowed) * 1000) / rate)), signal);
        continue;
      }
      want = Math.min(want, allowed);
    }
    const got = pool.alloc(ids, want);
    if (got < want) poolEmpty++;
    for (let k = 0; k < got; k++) {
      const id = ids[k]!;
      const data = pool.data[id]!;
      data.set(frame);
      stamp(data, sent + k);
      pool.length[id] = size;
    }
    let n = 0;
    try {
      n = port.txBurst(ids, got);
    } finally {
      pool.free(ids, got - n, n); // what the ring had no room for (or all of them, on an error)
    }
    sent += n;
    if (n < want) {
      ringFull++;
      await yieldNow(); // the NIC has the ring full: let it (and everything else) run
    } else if (++bursts % 32 === 0) {
      await yieldNow(); // keep timers and signals alive at full speed
    }
    if (options.onProgress && performance.now() >= nextReport) {
      nextReport += progressMs;
      options.onProgress(progress());
    }
  }
  await port.flushTx(2000);
  const p = progress();
  return { ...p, runId, size, bitsPerSecond: p.pps * (size + 4) * 8, ringFull, poolEmpty, stats: port.stats() };
}

export const USAGE = `usage: tsx examples/e1000e/pktgen.ts [options] <PCI address>

Sends test frames (EtherType 0x88b5, run id, sequence numbers 0..N-1) from an Intel 82574
bound to vfio-pci, and reports packets per second.

  -n, --count N       frames to send; 0 = until Ctrl-C (default 10000)
  -s, --size S        frame size in bytes without FCS, 60-2048 (default 60)
  -r, --rate PPS      packets per second (default: as fast as possible)
  -d, --dst MAC       destination MAC address (default ff:ff:ff:ff:ff:ff)
      --run-id N      run id stamped into each frame (default random)
      --batch N       frames per burst (default 32)
${PORT_OPTIONS_HELP}`;

export async function main(argv: string[], signal: AbortSignal = new AbortController().signal): Promise<void> {
  const { values, positionals } = usage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...PORT_OPTIONS,
        count: { type: 'string', short: 'n', default: '10000' },
        size: { type: 'string', short: 's', default: '60' },
        rate: { type: 'string', short: 'r' },
        dst: { type: 'string', short: 'd' },
        'run-id': { type: 'string' },
        batch: { type: 'string', default: '32' },
      },
    }),
  );
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `one PCI address expected, got ${positionals.length}` : 'missing PCI address');
  const address = checkAddress(positionals[0]);
  const count = intOption('count', values.count, 0, 2 ** 32 - 1);
  const size = intOption('size', values.size, MIN_TEST_FRAME, 2048);
  const rate = values.rate === undefined ? undefined : intOption('rate', values.rate, 1, 1e9);
  const batch = intOption('batch', values.batch, 1, 256);
  const runId = values['run-id'] === undefined ? undefined : intOption('run-id', values['run-id'], 0, 2 ** 32 - 1);
  let dst: Uint8Array | undefined;
  if (values.dst !== undefined) {
    try {
      dst = parseMac(values.dst);
    } catch (e) {
      throw new UsageError(`--dst: ${(e as Error).message}`);
    }
  }
  const opts = portOptions(values);

  const opened = await openPorts([address], opts, openOptions(values));
  const line = new StatusLine();
  try {
    const port = opened.ports[0]!;
    if (!(await port.waitForLink(5000))) throw Object.assign(new Error(`${address}: the link did not come up within 5 s`), { code: 'ERR_LINK_DOWN' });
    console.error(`pktgen ${address} (${formatMac(port.mac)}, ${port.interruptKind}): ${count || 'unlimited'} frames of ${size} bytes to ${formatMac(dst ?? new Uint8Array(6).fill(0xff))}${rate ? ` at ${rate} pps` : ''}`);
    const r = await pktgen(port, {
      count,
      size,
      batch,
      signal,
      ...(rate !== undefined && { rate }),
      ...(dst && { dst }),
      ...(runId !== undefined && { runId }),
      onProgress: (p) => line.update(`pktgen ${address}  sent ${p.sent}  ${formatRate(p.pps)}pps  ${formatRate(p.pps * (size + 4) * 8)}bit/s`),
    });
    line.done();
    if (values.json) console.log(JSON.stringify({ address, ...r }, null, 2));
    else
      console.log(
        `sent ${r.sent} frames of ${size} bytes in ${r.seconds.toFixed(3)} s: ${formatRate(r.pps)}pps, ${formatRate(r.bitsPerSecond)}bit/s ` +
          `(run id ${r.runId}; NIC counted ${r.stats.hw.goodPacketsTransmitted} good frames out; ring full ${r.ringFull}x)`,
      );
  } finally {
    line.done();
    opened.close();
  }
}

if (isMain(import.meta.url)) runMain(USAGE, main);
