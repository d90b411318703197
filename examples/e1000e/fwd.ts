/**
 * fwd: forwards frames between two Intel 82574 ports, both directions.
 *
 *   npx tsx examples/e1000e/fwd.ts 0000:00:03.0 0000:00:06.0
 *   npx tsx examples/e1000e/fwd.ts --rewrite --peer-a 02:00:00:00:00:0a --peer-b 02:00:00:00:00:0b A B
 *
 * By default every frame received on one port leaves through the other unchanged (a
 * wire: for ports on separate links). With --rewrite it forwards like DPDK's l2fwd with
 * MAC rewriting: only frames addressed to the receiving port's MAC, leaving with the
 * sending port's MAC as source and that side's peer as destination. That one also works
 * when both ports share a segment (a hub), where a plain wire would loop every frame.
 *
 * Zero-copy: the buffer ids received on one port are sent on the other, when the two share a
 * packet pool (the CLI opens both devices in one DMA context with one pool). Ports with pools
 * of their own (opened apart) get a copy into the other pool's buffer instead.
 *
 * forward(a, b, options) is the same loop for programs and tests.
 */
import { parseArgs } from 'node:util';
import type { Port, PortStats } from 'vfio/net';
import { BROADCAST, formatMac, parseMac, sameMac } from '../../src/net/apps/frames.js';
import {
  PORT_OPTIONS,
  PORT_OPTIONS_HELP,
  StatusLine,
  UsageError,
  checkAddress,
  formatRate,
  isMain,
  openOptions,
  openPorts,
  portOptions,
  runMain,
  usage,
  yieldNow,
  type OpenedPorts,
} from './cli.js';

export interface ForwardOptions {
  /** Rewrite MACs and forward only frames addressed to the receiving port (see above). */
  rewrite?: { peerA: Uint8Array; peerB: Uint8Array };
  /** Frames per burst (default 32). */
  batch?: number;
  /** Stop after this long (default: until `signal`). */
  durationMs?: number;
  signal?: AbortSignal;
  /** Sees every received frame (before any rewrite) and whether it was forwarded. */
  tap?: (from: 'a' | 'b', data: Uint8Array, length: number, forwarded: boolean) => void;
  onProgress?: (p: ForwardProgress) => void;
  progressMs?: number;
}

export interface ForwardProgress {
  aToB: number;
  bToA: number;
  seconds: number;
  pps: number;
}

export interface ForwardResult extends ForwardProgress {
  /** Frames not forwarded because they were not addressed to the port (--rewrite). */
  notForUs: number;
  /** Frames received but not sent: the other port's ring stayed full or its link was down. */
  dropped: number;
  /** The ports share a pool: frames were forwarded without a copy. */
  zeroCopy: boolean;
  stats: { a: PortStats; b: PortStats };
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

export async function forward(a: Port, b: Port, options: ForwardOptions = {}): Promise<ForwardResult> {
  const batch = options.batch ?? 32;
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`forward: batch must be a positive integer, got ${batch}`);
  const rewrite = options.rewrite;
  const signal = options.signal;
  const progressMs = options.progressMs ?? 500;
  const dirs: Direction[] = [
    { from: a, to: b, name: 'a', peer: rewrite ? rewrite.peerB : null, rx: new Uint32Array(batch), out: new Uint32Array(batch), forwarded: 0 },
    { from: b, to: a, name: 'b', peer: rewrite ? rewrite.peerA : null, rx: new Uint32Array(batch), out: new Uint32Array(batch), forwarded: 0 },
  ];
  const zeroCopy = a.pool === b.pool;
  let notForUs = 0;
  let dropped = 0;
  let bursts = 0;
  const start = performance.now();
  let nextReport = start + progressMs;
  const progress = (): ForwardProgress => {
    const seconds = (performance.now() - start) / 1000;
    const total = dirs[0]!.forwarded + dirs[1]!.forwarded;
    return { aToB: dirs[0]!.forwarded, bToA: dirs[1]!.forwarded, seconds, pps: seconds > 0 ? total / seconds : 0 };
  };

  const pass = (d: Direction): number => {
    const src = d.from.pool;
    const dst = d.to.pool;
    const n = d.from.rxBurst(d.rx, batch);
    if (n === 0) return 0;
    // Zero-copy, the ids themselves go out; else each frame is copied into a buffer of the
    // other port's pool (taken in one alloc) and the received one is freed.
    const out = zeroCopy ? 0 : dst.alloc(d.out, n);
    let m = 0;
    for (let i = 0; i < n; i++) {
      const id = d.rx[i]!;
      const data = src.data[id]!;
      const length = src.length[id]!;
      const forwarded = d.peer === null || sameMac(data, 0, d.from.mac);
      options.tap?.(d.name, data, length, forwarded);
      if (!forwarded) {
        notForUs++;
        src.freeOne(id);
        continue;
      }
      if (d.peer) {
        data.set(d.peer, 0); // destination: the station on the other side
        data.set(d.to.mac, 6); // source: the port it leaves by
      }
      if (zeroCopy) d.out[m++] = id;
      else if (m < out) {
        dst.write(d.out[m++]!, data, length);
        src.freeOne(id);
      } else {
        src.freeOne(id); // the other pool ran dry
        dropped++;
      }
    }
    if (!zeroCopy) dst.free(d.out, out - m, m);
    let sent = 0;
    for (let tries = 0; sent < m && tries < 4; tries++) {
      try {
        sent += d.to.txBurst(d.out, m - sent, sent);
      } catch (e) {
        if ((e as { code?: unknown }).code === 'ERR_VFIO_NET_LINK_DOWN') break;
        dst.free(d.out, m - sent, sent);
        throw e;
      }
    }
    dst.free(d.out, m - sent, sent); // what the other port could not take
    d.forwarded += sent;
    dropped += m - sent;
    return n;
  };

  for (;;) {
    if (signal?.aborted) break;
    const now = performance.now();
    if (options.durationMs !== undefined && now - start >= options.durationMs) break;
    const n = pass(dirs[0]!) + pass(dirs[1]!);
    if (options.onProgress && now >= nextReport) {
      nextReport += progressMs;
      options.onProgress(progress());
    }
    if (n === 0) {
      let wait = 200;
      if (options.durationMs !== undefined) wait = Math.min(wait, Math.max(1, options.durationMs - (now - start)));
      await Promise.race([a.waitRx(wait), b.waitRx(wait)]);
    } else if (++bursts % 16 === 0) {
      await yieldNow();
    }
  }
  return { ...progress(), notForUs, dropped, zeroCopy, stats: { a: a.stats(), b: b.stats() } };
}

export const USAGE = `usage: tsx examples/e1000e/fwd.ts [options] <PCI address A> <PCI address B>

Forwards frames between two Intel 82574 ports bound to vfio-pci, in both directions.

      --rewrite         MAC-rewriting forwarder: forward only frames addressed to the receiving
                        port, with the sending port's MAC as source and the peer as destination
      --peer-a MAC      destination for frames leaving through A (with --rewrite; default broadcast)
      --peer-b MAC      destination for frames leaving through B (with --rewrite; default broadcast)
  -t, --duration SEC    stop after SEC seconds (default: until Ctrl-C)
${PORT_OPTIONS_HELP}`;

export async function main(argv: string[], signal: AbortSignal = new AbortController().signal): Promise<void> {
  const { values, positionals } = usage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...PORT_OPTIONS,
        rewrite: { type: 'boolean', default: false },
        'peer-a': { type: 'string' },
        'peer-b': { type: 'string' },
        duration: { type: 'string', short: 't' },
      },
    }),
  );
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 2) throw new UsageError(`two PCI addresses expected, got ${positionals.length}`);
  const addrA = checkAddress(positionals[0], 'PCI address A');
  const addrB = checkAddress(positionals[1], 'PCI address B');
  if (addrA === addrB) throw new UsageError('the two ports must be different devices');
  if (!values.rewrite && (values['peer-a'] || values['peer-b'])) throw new UsageError('--peer-a/--peer-b go with --rewrite');
  const mac = (name: string, text: string | undefined) => {
    if (text === undefined) return BROADCAST;
    try {
      return parseMac(text);
    } catch (e) {
      throw new UsageError(`--${name}: ${(e as Error).message}`);
    }
  };
  const peerA = mac('peer-a', values['peer-a']);
  const peerB = mac('peer-b', values['peer-b']);
  let durationMs: number | undefined;
  if (values.duration !== undefined) {
    const s = Number(values.duration);
    if (!(s > 0)) throw new UsageError(`--duration must be a positive number of seconds, got ${values.duration}`);
    durationMs = s * 1000;
  }
  const opts = portOptions(values, { promiscuous: true });

  let opened: OpenedPorts | null = null;
  const line = new StatusLine();
  try {
    opened = await openPorts([addrA, addrB], opts, openOptions(values));
    const [a, b] = opened.ports as [Port, Port];
    await Promise.all([a.waitForLink(5000), b.waitForLink(5000)]);
    console.error(`fwd ${addrA} (${formatMac(a.mac)}) <-> ${addrB} (${formatMac(b.mac)}), ${values.rewrite ? 'rewriting MACs' : 'as a wire'}, ${a.rxMode}`);
    const r = await forward(a, b, {
      signal,
      ...(values.rewrite && { rewrite: { peerA, peerB } }),
      ...(durationMs !== undefined && { durationMs }),
      onProgress: (p) => line.update(`fwd  A->B ${p.aToB}  B->A ${p.bToA}  ${formatRate(p.pps)}pps`),
    });
    line.done();
    if (values.json) console.log(JSON.stringify({ a: addrA, b: addrB, ...r }, null, 2));
    else
      console.log(
        `forwarded ${r.aToB} A->B and ${r.bToA} B->A in ${r.seconds.toFixed(3)} s (${formatRate(r.pps)}pps); ` +
          `not for us ${r.notForUs}, dropped ${r.dropped}`,
      );
  } finally {
    line.done();
    opened?.close();
  }
}

if (isMain(import.meta.url)) runMain(USAGE, main);
