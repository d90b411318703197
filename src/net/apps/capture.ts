/**
 * capture: takes the frames a port receives, keeps those that pass the filters and writes
 * them to a pcap file (or only counts them, without a writer), then frees the buffers.
 * Each burst's frames are written straight from the pool's buffers, with one timestamp per
 * burst (the port's receive timestamp when it stamps them).
 */
import type { PcapWriter } from '../pcap.js';
import type { Port, PortStats } from '../port.js';
import { Meter, yieldNow, type AppRunOptions, type AppSummary, type StopReason } from './meter.js';

/** Options of capture. */
export interface CaptureOptions extends AppRunOptions {
  /** Where the frames go; without one they are counted and freed (a sink). */
  writer?: PcapWriter;
  /** Stop after this many frames were kept (0 or undefined: no limit). */
  count?: number;
  /** Stop when no frame arrived for this long, once one has. */
  idleMs?: number;
  /** Keep only frames of this EtherType. */
  ethertype?: number;
  /** Keep only frames whose payload (after the 14-byte header) starts with these bytes. */
  prefix?: Uint8Array;
  /** Frames per rxBurst (default 64). */
  batch?: number;
}

/**
 * capture's result. `frames` are the frames kept (written); `drops` the frames the port
 * discarded while it ran (`rx.drops` + `rx.errors`; what the NIC itself missed is in
 * `stats.hw`); `ringFull` the bursts that left frames in the receive ring because the pool
 * had no buffer to refill it (`driver.rxPoolEmpty`).
 */
export interface CaptureSummary extends AppSummary {
  /** Frames received, the ones the filters left out included. */
  received: number;
  /** Frames the filters left out. */
  filtered: number;
  /** The port's statistics at the end. */
  stats: PortStats;
}

/** What the port lost: frames it discarded, and bursts it could not refill its ring. */
function losses(port: Port): { drops: number; ringFull: number } {
  const s = port.stats();
  return { drops: s.rx.drops + s.rx.errors, ringFull: s.driver.rxPoolEmpty };
}

/** Captures from `port` until a limit is reached (see CaptureOptions); RangeErrors for bad options. */
export async function capture(port: Port, options: CaptureOptions = {}): Promise<CaptureSummary> {
  const { writer, signal, durationMs, idleMs, ethertype, prefix } = options;
  const count = options.count ?? 0;
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`capture: count must be a non-negative integer, got ${count}`);
  const batch = options.batch ?? 64;
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`capture: batch must be a positive integer, got ${batch}`);
  if (durationMs !== undefined && !(durationMs > 0)) throw new RangeError(`capture: durationMs must be positive, got ${durationMs}`);
  if (idleMs !== undefined && !(idleMs > 0)) throw new RangeError(`capture: idleMs must be positive, got ${idleMs}`);
  const ids = new Uint32Array(batch);
  const pool = port.pool;
  const base = losses(port);
  const meter = new Meter(options);
  const total = meter.total;
  // Port counters are read (a few register reads) once per interval, not per burst.
  const refresh = (): void => {
    const now = losses(port);
    total.drops = now.drops - base.drops;
    total.ringFull = now.ringFull - base.ringFull;
  };
  let lastFrame = 0;
  let received = 0;
  let filtered = 0;
  let bursts = 0;
  let reason: StopReason | null = null;

  while (reason === null) {
    if (signal?.aborted) {
      reason = 'signal';
      break;
    }
    const n = port.rxBurst(ids, batch);
    const now = performance.now();
    if (n > 0) {
      lastFrame = now;
      const timeUs = Math.floor((performance.timeOrigin + now) * 1000);
      let i = 0;
      for (; i < n; i++) {
        const id = ids[i]!;
        const data = pool.data[id]!;
        const length = pool.length[id]!;
        received++;
        if (!matches(data, length, ethertype, prefix)) {
          filtered++;
          continue;
        }
        if (writer) {
          const stamped = pool.timestamp[id]!;
          writer.write(data, length, stamped > 0 ? Math.round(stamped * 1000) : timeUs);
        }
        total.frames++;
        total.bytes += length;
        if (count !== 0 && total.frames >= count) {
          reason = 'count';
          break;
        }
      }
      pool.free(ids, n);
    }
    if (meter.due(now)) {
      refresh();
      meter.tick(now);
    }
    if (reason !== null) break;
    if (durationMs !== undefined && now - meter.start >= durationMs) reason = 'duration';
    else if (idleMs !== undefined && lastFrame && now - lastFrame >= idleMs) reason = 'idle';
    else if (n === 0) {
      // Nothing there: sleep on the interrupt (or yield once, polling), never past a deadline.
      let wait = 200;
      if (durationMs !== undefined) wait = Math.min(wait, durationMs - (now - meter.start));
      if (idleMs !== undefined && lastFrame) wait = Math.min(wait, idleMs - (now - lastFrame));
      await port.waitRx(Math.max(1, Math.ceil(wait)));
    } else if (++bursts % 16 === 0) {
      await yieldNow();
    }
  }
  writer?.flush();
  refresh();
  return { ...meter.summary(reason), received, filtered, stats: port.stats() };
}

/** The frame passes the EtherType and payload-prefix filters. */
function matches(d: Uint8Array, length: number, ethertype: number | undefined, prefix: Uint8Array | undefined): boolean {
  if (ethertype !== undefined && (length < 14 || ((d[12]! << 8) | d[13]!) !== ethertype)) return false;
  if (prefix) {
    if (length < 14 + prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (d[14 + i] !== prefix[i]) return false;
  }
  return true;
}
