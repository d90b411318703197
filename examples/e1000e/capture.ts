/**
 * capture: writes the frames an Intel 82574 receives to a .pcap file (libpcap format,
 * readable by tshark, tcpdump and Wireshark), in promiscuous mode.
 *
 *   npx tsx examples/e1000e/capture.ts -w out.pcap --count 1000 0000:00:04.0
 *   tshark -r out.pcap
 *
 * capture(port, options) is the same loop for programs and tests: each burst of received
 * buffer ids is filtered, written to the pcap straight from the buffers, and freed.
 */
import { parseArgs } from 'node:util';
import type { PcapWriter, Port, PortStats } from 'vfio/net';
import { formatMac } from '../../src/net/apps/frames.js';
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
  usage,
  yieldNow,
} from './cli.js';

export interface CaptureOptions {
  writer: PcapWriter;
  /** Stop after this many frames were written (0 / undefined: no limit). */
  count?: number;
  /** Stop after this long. */
  durationMs?: number;
  /** Stop when no frame arrived for this long, once one has. */
  idleMs?: number;
  /** Keep only frames of this EtherType. */
  ethertype?: number;
  /** Keep only frames whose payload (after the 14-byte header) starts with these bytes. */
  prefix?: Uint8Array;
  /** Frames per rxBurst (default 64). */
  batch?: number;
  signal?: AbortSignal;
  onProgress?: (p: CaptureProgress) => void;
  progressMs?: number;
}

export interface CaptureProgress {
  /** Frames written. */
  captured: number;
  /** Frames received, including those the filters left out. */
  received: number;
  seconds: number;
  pps: number;
}

export interface CaptureResult extends CaptureProgress {
  filtered: number;
  bytes: number;
  /** Why it stopped. */
  reason: 'count' | 'duration' | 'idle' | 'signal';
  stats: PortStats;
}

export async function capture(port: Port, options: CaptureOptions): Promise<CaptureResult> {
  const { writer, signal } = options;
  const count = options.count ?? 0;
  const batch = options.batch ?? 64;
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`capture: batch must be a positive integer, got ${batch}`);
  const prefix = options.prefix;
  const ethertype = options.ethertype;
  const progressMs = options.progressMs ?? 500;
  const ids = new Uint32Array(batch);
  const pool = port.pool;
  const start = performance.now();
  let nextReport = start + progressMs;
  let lastFrame = 0;
  let captured = 0;
  let received = 0;
  let filtered = 0;
  let bytes = 0;
  let bursts = 0;
  let reason: CaptureResult['reason'] | null = null;
  const progress = (): CaptureProgress => {
    const seconds = (performance.now() - start) / 1000;
    return { captured, received, seconds, pps: seconds > 0 ? received / seconds : 0 };
  };

  while (reason === null) {
    if (signal?.aborted) {
      reason = 'signal';
      break;
    }
    const n = port.rxBurst(ids, batch);
    const now = performance.now();
    if (n > 0) {
      lastFrame = now;
      const timeUs = Math.floor((performance.timeOrigin + now) * 1000); // one timestamp per burst
      for (let i = 0; i < n; i++) {
        const data = pool.data[ids[i]!]!;
        const length = pool.length[ids[i]!]!;
        received++;
        if (!matches(data, length, ethertype, prefix)) {
          filtered++;
          continue;
        }
        writer.write(data, length, timeUs);
        captured++;
        bytes += length;
        if (count && captured >= count) {
          reason = 'count';
          break;
        }
      }
      pool.free(ids, n);
    }
    if (options.onProgress && now >= nextReport) {
      nextReport += progressMs;
      options.onProgress(progress());
    }
    if (reason) break;
    if (options.durationMs !== undefined && now - start >= options.durationMs) reason = 'duration';
    else if (options.idleMs !== undefined && lastFrame && now - lastFrame >= options.idleMs) reason = 'idle';
    else if (n === 0) {
      // Nothing there: sleep on the interrupt (or yield once, polling), never longer than a deadline.
      let wait = 200;
      if (options.durationMs !== undefined) wait = Math.min(wait, options.durationMs - (now - start));
      if (options.idleMs !== undefined && lastFrame) wait = Math.min(wait, options.idleMs - (now - lastFrame));
      await port.waitRx(Math.max(1, Math.ceil(wait)));
    } else if (++bursts % 16 === 0) {
      await yieldNow();
    }
  }
  writer.flush();
  return { ...progress(), filtered, bytes, reason, stats: port.stats() };
}

function matches(d: Uint8Array, length: number, ethertype: number | undefined, prefix: Uint8Array | undefined): boolean {
  if (ethertype !== undefined && (length < 14 || ((d[12]! << 8) | d[13]!) !== ethertype)) return false;
  if (prefix) {
    if (length < 14 + prefix.length) return false;
    for (let i = 0; i < prefix.length; i++) if (d[14 + i] !== prefix[i]) return false;
  }
  return true;
}

export const USAGE = `usage: tsx examples/e1000e/capture.ts -w FILE [options] <PCI address>

Writes the frames an Intel 82574 bound to vfio-pci receives (promiscuous) to a pcap file.

  -w, --write FILE      the .pcap file to write (required)
  -c, --count N         stop after N frames (default: no limit)
  -t, --duration SEC    stop after SEC seconds
      --idle SEC        stop when no frame came for SEC seconds (after the first)
      --ethertype HEX   keep only frames of this EtherType (e.g. 0x88b5)
      --prefix HEX      keep only frames whose payload starts with these bytes (e.g. 5646494f)
      --snaplen N       bytes kept per frame (default 65535)
      --no-promisc      only frames for this port's MAC, broadcast and multicast
${PORT_OPTIONS_HELP}`;

function hexBytes(name: string, text: string): Uint8Array {
  const t = text.replace(/^0x/i, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(t)) throw new UsageError(`--${name} must be hex bytes, got ${JSON.stringify(text)}`);
  return Uint8Array.from(t.match(/../g)!.map((b) => parseInt(b, 16)));
}

function seconds(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`--${name} must be a positive number of seconds, got ${JSON.stringify(text)}`);
  return n * 1000;
}

export async function main(argv: string[], signal: AbortSignal = new AbortController().signal): Promise<void> {
  const { values, positionals } = usage(() =>
    parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        ...PORT_OPTIONS,
        write: { type: 'string', short: 'w' },
        count: { type: 'string', short: 'c' },
        duration: { type: 'string', short: 't' },
        idle: { type: 'string' },
        ethertype: { type: 'string' },
        prefix: { type: 'string' },
        snaplen: { type: 'string', default: '65535' },
        'no-promisc': { type: 'boolean', default: false },
      },
    }),
  );
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length ? `one PCI address expected, got ${positionals.length}` : 'missing PCI address');
  const address = checkAddress(positionals[0]);
  if (!values.write) throw new UsageError('missing --write FILE');
  const count = values.count === undefined ? 0 : intOption('count', values.count, 1, 2 ** 32 - 1);
  const durationMs = seconds('duration', values.duration);
  const idleMs = seconds('idle', values.idle);
  let ethertype: number | undefined;
  if (values.ethertype !== undefined) {
    const e = hexBytes('ethertype', values.ethertype);
    if (e.length !== 2) throw new UsageError(`--ethertype must be two bytes, e.g. 0x88b5`);
    ethertype = (e[0]! << 8) | e[1]!;
  }
  const prefix = values.prefix === undefined ? undefined : hexBytes('prefix', values.prefix);
  const snaplen = intOption('snaplen', values.snaplen, 1, 262144);
  const opts = portOptions(values, { promiscuous: !values['no-promisc'] });

  const { PcapWriter } = await import('vfio/net');
  const opened = await openPorts([address], opts, openOptions(values));
  const line = new StatusLine();
  const writer = new PcapWriter(values.write, { snaplen });
  try {
    const port = opened.ports[0]!;
    await port.waitForLink(5000);
    console.error(`capture ${address} (${formatMac(port.mac)}, ${port.interruptKind}, ${port.rxMode}) -> ${values.write}`);
    const r = await capture(port, {
      writer,
      count,
      signal,
      ...(durationMs !== undefined && { durationMs }),
      ...(idleMs !== undefined && { idleMs }),
      ...(ethertype !== undefined && { ethertype }),
      ...(prefix && { prefix }),
      onProgress: (p) => line.update(`capture ${address}  written ${p.captured}  received ${p.received}  ${formatRate(p.pps)}pps`),
    });
    line.done();
    if (values.json) console.log(JSON.stringify({ address, file: values.write, ...r }, null, 2));
    else
      console.log(
        `wrote ${r.captured} frames (${r.bytes} bytes) to ${values.write}; received ${r.received}, filtered ${r.filtered}, ` +
          `in ${r.seconds.toFixed(3)} s (${r.reason}); dropped by the NIC: ${r.stats.hw.missedPackets} missed, ` +
          `${r.stats.rx.drops} oversize, ${r.stats.rx.errors} errors`,
      );
  } finally {
    line.done();
    writer.close();
    opened.close();
  }
}

if (isMain(import.meta.url)) runMain(USAGE, main);
