/**
 * fwd: forwards frames between two ports, both directions.
 *
 * By default every frame received on one port leaves through the other unchanged (a wire:
 * for ports on separate links). With `rewrite` it forwards like DPDK's l2fwd with MAC
 * rewriting: only frames addressed to the receiving port's MAC, leaving with the sending
 * port's MAC as source and that side's peer as destination, which is also loop-free when
 * both ports share one segment (a hub).
 *
 * Zero-copy when the two ports share a pool (open both devices in one DMA context and give
 * both ports the pool: openPorts does): the buffer ids received on one port are the ids sent
 * on the other. Ports with pools of their own get a copy into the other pool's buffer.
 */
import type { Port, PortStats } from '../port.js';
import { sameMac } from './frames.js';
import { Meter, yieldNow, type AppRunOptions, type AppSummary, type StopReason } from './meter.js';

/** Options of forward. */
export interface ForwardOptions extends AppRunOptions {
  /** Rewrite MACs and forward only frames addressed to the receiving port (see the module comment). */
  rewrite?: {
    /** Destination of frames leaving through port a. */
    peerA: Uint8Array;
    /** Destination of frames leaving through port b. */
    peerB: Uint8Array;
  };
  /** Frames per burst (default 32). */
  batch?: number;
  /** Sees every received frame (before any rewrite) and whether it is forwarded. */
  tap?: (from: 'a' | 'b', data: Uint8Array, length: number, forwarded: boolean) => void;
}

/**
 * forward's result. `frames` are the frames forwarded both ways; `drops` the frames received
 * but not sent (the other port's ring stayed full or its link was down) plus those the ports
 * discarded (`rx.drops` + `rx.errors`); `ringFull` the bursts the egress ring could not take
 * whole at the first try.
 */
export interface ForwardSummary extends AppSummary {
  /** Frames forwarded from a to b. */
  aToB: number;
  /** Frames forwarded from b to a. */
  bToA: number;
  /** Frames not forwarded because they were not addressed to the receiving port (rewrite). */
  notForUs: number;
  /** The ports share a pool: frames went out in the buffers they came in. */
  zeroCopy: boolean;
  /** Both ports' statistics at the end. */
  stats: {
    /** Port a's. */
    a: PortStats;
    /** Port b's. */
    b: PortStats;
  };
}

interface Direction {
  from: Port;
  to: Port;
  name: 'a' | 'b';
  peer: Uint8Array | null;
  rx: Uint32Array;
  out: Uint32Array;
  forwarded: number;
}

const rxLost = (p: Port): number => {
  const s = p.stats();
  return s.rx.drops + s.rx.errors;
};

/** Forwards between `a` and `b` until `signal` or `durationMs` (see the module comment). */
export async function forward(a: Port, b: Port, options: ForwardOptions = {}): Promise<ForwardSummary> {
  const batch = options.batch ?? 32;
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`forward: batch must be a positive integer, got ${batch}`);
  const { signal, durationMs, tap } = options;
  if (durationMs !== undefined && !(durationMs > 0)) throw new RangeError(`forward: durationMs must be positive, got ${durationMs}`);
  const dirs: [Direction, Direction] = [
    { from: a, to: b, name: 'a', peer: options.rewrite?.peerB ?? null, rx: new Uint32Array(batch), out: new Uint32Array(batch), forwarded: 0 },
    { from: b, to: a, name: 'b', peer: options.rewrite?.peerA ?? null, rx: new Uint32Array(batch), out: new Uint32Array(batch), forwarded: 0 },
  ];
  const zeroCopy = a.pool === b.pool;
  const meter = new Meter(options);
  const total = meter.total;
  const baseLost = rxLost(a) + rxLost(b);
  let notSent = 0;
  const refresh = (): void => {
    total.drops = notSent + rxLost(a) + rxLost(b) - baseLost;
  };
  let notForUs = 0;
  let bursts = 0;

  const pass = (d: Direction): number => {
    const src = d.from.pool;
    const dst = d.to.pool;
    const n = d.from.rxBurst(d.rx, batch);
    if (n === 0) return 0;
    // Zero-copy, the ids themselves go out; else each frame is copied into a buffer of the
    // other port's pool (taken in one alloc) and the received one is freed.
    const spare = zeroCopy ? 0 : dst.alloc(d.out, n);
    let m = 0;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const id = d.rx[i]!;
      const data = src.data[id]!;
      const length = src.length[id]!;
      const forwarded = d.peer === null || sameMac(data, 0, d.from.mac);
      tap?.(d.name, data, length, forwarded);
      if (!forwarded) {
        notForUs++;
        src.freeOne(id);
        continue;
      }
      if (d.peer) {
        data.set(d.peer, 0); // destination: the station on the other side
        data.set(d.to.mac, 6); // source: the port it leaves by
      }
      if (zeroCopy) {
        d.out[m++] = id;
        bytes += length;
      } else if (m < spare) {
        dst.write(d.out[m++]!, data, length);
        src.freeOne(id);
        bytes += length;
      } else {
        src.freeOne(id); // the other pool ran dry
        notSent++;
      }
    }
    if (!zeroCopy) dst.free(d.out, spare - m, m);
    let sent = 0;
    for (let tries = 0; sent < m && tries < 4; tries++) {
      try {
        sent += d.to.txBurst(d.out, m - sent, sent);
      } catch (e) {
        if ((e as { code?: unknown }).code === 'ERR_VFIO_NET_LINK_DOWN') break;
        dst.free(d.out, m - sent, sent);
        throw e;
      }
      if (tries === 0 && sent < m) total.ringFull++;
    }
    for (let i = sent; i < m; i++) bytes -= dst.length[d.out[i]!]!; // the app's still: readable
    dst.free(d.out, m - sent, sent); // what the other port could not take
    d.forwarded += sent;
    total.frames += sent;
    total.bytes += bytes;
    notSent += m - sent;
    return n;
  };

  let reason: StopReason;
  for (;;) {
    if (signal?.aborted) {
      reason = 'signal';
      break;
    }
    const now = performance.now();
    if (durationMs !== undefined && now - meter.start >= durationMs) {
      reason = 'duration';
      break;
    }
    const n = pass(dirs[0]) + pass(dirs[1]);
    if (meter.due(now)) {
      refresh();
      meter.tick(now);
    }
    if (n === 0) {
      let wait = 200;
      if (durationMs !== undefined) wait = Math.min(wait, Math.max(1, durationMs - (now - meter.start)));
      await Promise.race([a.waitRx(wait), b.waitRx(wait)]);
    } else if (++bursts % 16 === 0) {
      await yieldNow();
    }
  }
  refresh();
  return { ...meter.summary(reason), aToB: dirs[0].forwarded, bToA: dirs[1].forwarded, notForUs, zeroCopy, stats: { a: a.stats(), b: b.stats() } };
}
