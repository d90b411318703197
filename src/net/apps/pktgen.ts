/**
 * pktgen: sends numbered test frames (frames.ts) from a port, as fast as its transmit ring
 * takes them or at a rate, in one size, a list of sizes or a range (sizes.ts: cycled in
 * order, so frame k's size follows from k).
 *
 * Each burst takes buffers from the port's pool, copies the prebuilt frame of the size due
 * into each and stamps its sequence number, and hands them to txBurst; the port frees them
 * once sent. What the ring has no room for goes back to the pool and is built again, with
 * the same sequence numbers, in the next burst, so the frames leave in order without a gap.
 */
import { randomInt } from 'node:crypto';
import type { Port, PortStats } from '../port.js';
import { BROADCAST, stamp, testFrame } from './frames.js';
import { Meter, sleep, yieldNow, type AppRunOptions, type AppSummary, type StopReason } from './meter.js';
import { frameSizeTable, type FrameSizes } from './sizes.js';

/** Options of pktgen. */
export interface PktgenOptions extends AppRunOptions {
  /** Frames to send; 0 (the default) sends until `signal` or `durationMs`. */
  count?: number;
  /** Frame sizes in bytes without the FCS, 60 up to the port's maxFrame (default 60). */
  sizes?: FrameSizes;
  /** Frames per second; default as fast as the ring takes them. */
  rate?: number;
  /** Destination MAC (default broadcast). */
  dst?: Uint8Array;
  /** Stamped into every frame so a receiver can tell this run's frames (default random). */
  runId?: number;
  /** Frames per txBurst (default 32, at most the ring size - 1). */
  batch?: number;
}

/**
 * pktgen's result. `frames` are the frames the port accepted; `drops` stays 0 (pktgen waits
 * for room, it loses nothing itself: the NIC's own counters are in `stats.hw`); `ringFull`
 * counts bursts the transmit ring could not take whole.
 */
export interface PktgenSummary extends AppSummary {
  /** The run id stamped into the frames. */
  runId: number;
  /** The sizes sent, as given. */
  sizes: FrameSizes;
  /** Bursts for which the pool had too few free buffers. */
  poolEmpty: number;
  /** The port's statistics at the end. */
  stats: PortStats;
}

/** Sends test frames from `port` (see the module comment); RangeErrors for bad options, before sending. */
export async function pktgen(port: Port, options: PktgenOptions = {}): Promise<PktgenSummary> {
  const count = options.count ?? 0;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`pktgen: count must be a non-negative integer, got ${count}`);
  const sizes = options.sizes ?? 60;
  const table = frameSizeTable(sizes, port.maxFrame);
  const rate = options.rate;
  if (rate !== undefined && !(rate > 0)) throw new RangeError(`pktgen: rate must be positive, got ${rate}`);
  const batch = options.batch ?? 32;
  if (!Number.isInteger(batch) || batch < 1 || batch > port.txSize - 1) throw new RangeError(`pktgen: batch must be 1-${port.txSize - 1}, got ${batch}`);
  const { signal, durationMs } = options;
  if (durationMs !== undefined && !(durationMs > 0)) throw new RangeError(`pktgen: durationMs must be positive, got ${durationMs}`);
  const runId = (options.runId ?? randomInt(2 ** 32 - 1)) >>> 0;
  // One frame of the largest size, and a view of it per table entry: a burst copies views
  // and allocates nothing.
  const template = testFrame(Math.max(...table), options.dst ?? BROADCAST, port.mac, runId);
  const views = Array.from(table, (size) => template.subarray(0, size));
  const pool = port.pool;
  const ids = new Uint32Array(batch);
  const meter = new Meter(options);
  const total = meter.total;
  let poolEmpty = 0;
  let bursts = 0;
  let reason: StopReason | null = null;

  while (reason === null) {
    const now = performance.now();
    if (signal?.aborted) reason = 'signal';
    else if (count !== 0 && total.frames >= count) reason = 'count';
    else if (durationMs !== undefined && now - meter.start >= durationMs) reason = 'duration';
    if (reason !== null) break;
    meter.tick(now);
    const sent = total.frames;
    let want = count === 0 ? batch : Math.min(batch, count - sent);
    if (rate !== undefined) {
      const allowed = Math.floor((rate * (now - meter.start)) / 1000) - sent;
      if (allowed <= 0) {
        let wait = Math.max(1, Math.ceil(((1 - allowed) * 1000) / rate));
        if (durationMs !== undefined) wait = Math.min(wait, Math.max(1, durationMs - (now - meter.start)));
        await sleep(Math.min(wait, 1000), signal);
        continue;
      }
      want = Math.min(want, allowed);
    }
    const got = pool.alloc(ids, want);
    if (got < want) poolEmpty++;
    for (let k = 0; k < got; k++) {
      const id = ids[k]!;
      const seq = sent + k;
      const view = views[seq % views.length]!;
      const data = pool.data[id]!;
      data.set(view);
      stamp(data, seq);
      pool.length[id] = view.length;
    }
    let n = 0;
    try {
      n = port.txBurst(ids, got);
    } finally {
      pool.free(ids, got - n, n); // what the ring had no room for (or all of them, on an error)
    }
    let bytes = 0;
    for (let k = 0; k < n; k++) bytes += views[(sent + k) % views.length]!.length;
    total.frames += n;
    total.bytes += bytes;
    if (n < got) {
      total.ringFull++;
      await yieldNow(); // the NIC has the ring full: let it (and everything else) run
    } else if (got < want || ++bursts % 32 === 0) {
      await yieldNow(); // keep timers, signals and a short pool alive at full speed
    }
  }
  await port.flushTx(2000);
  return { ...meter.summary(reason), runId, sizes, poolEmpty, stats: port.stats() };
}
