// `vfio net capture ADDR`: received frames to a pcap file (src/net/apps/capture.ts is the engine).
import { PcapWriter, capture } from '../net/index.js';
import { UsageError, type Command } from './command.js';
import { PORT_OPTIONS, addresses, intOption, portOptions, runApp, secondsOption, str } from './net-app.js';
import { formatCaptureSummary } from './net-format.js';

/** Hex bytes ('0x88b5', '5646494f') or a UsageError. */
export function hexBytes(name: string, text: string): Uint8Array {
  const t = text.replace(/^0x/i, '');
  if (!/^([0-9a-fA-F]{2})+$/.test(t)) throw new UsageError(`--${name} must be hex bytes, e.g. 0x88b5, got ${JSON.stringify(text)}`);
  return Uint8Array.from(t.match(/../g)!.map((b) => parseInt(b, 16)));
}

export const captureCommand: Command = {
  name: 'net capture',
  summary: 'write received frames to a pcap file (tshark, tcpdump, Wireshark read it)',
  usage: 'vfio net capture [-w FILE] [--count N] [--duration SEC] [filters] [options] ADDR',
  description: [
    'Receives on the NIC at ADDR (promiscuous unless --no-promisc) and writes the frames that',
    'pass the filters to FILE in pcap format, until --count frames, --duration, --idle or',
    'Ctrl-C. Without -w it only counts them (a sink, to measure what arrives).',
    '',
    'Example: vfio net capture -w rx.pcap --count 1000 0000:00:06.0 && tshark -r rx.pcap',
  ].join('\n'),
  options: {
    write: { type: 'string', short: 'w', value: 'FILE', help: 'the pcap file to write (default: count only)' },
    count: { type: 'string', short: 'c', value: 'N', help: 'stop after N frames kept (default: no limit)' },
    duration: { type: 'string', short: 't', value: 'SEC', help: 'stop after SEC seconds' },
    idle: { type: 'string', value: 'SEC', help: 'stop when no frame came for SEC seconds (after the first)' },
    ethertype: { type: 'string', value: 'HEX', help: 'keep only frames of this EtherType (e.g. 0x88b5)' },
    prefix: { type: 'string', value: 'HEX', help: 'keep only frames whose payload starts with these bytes (e.g. 5646494f)' },
    snaplen: { type: 'string', value: 'N', help: 'bytes kept per frame (default 65535)' },
    'no-promisc': { type: 'boolean', help: "only frames for the port's MAC, broadcast and multicast" },
    ...PORT_OPTIONS,
  },
  positionals: { min: 1, max: 1 },
  run(ctx, { values, positionals }) {
    const [address] = addresses(positionals);
    const file = str(values, 'write') ?? null;
    const count = str(values, 'count') === undefined ? 0 : intOption('count', str(values, 'count')!, 1, 2 ** 32 - 1);
    const durationMs = str(values, 'duration') === undefined ? undefined : secondsOption('duration', str(values, 'duration')!);
    const idleMs = str(values, 'idle') === undefined ? undefined : secondsOption('idle', str(values, 'idle')!);
    let ethertype: number | undefined;
    if (str(values, 'ethertype') !== undefined) {
      const e = hexBytes('ethertype', str(values, 'ethertype')!);
      if (e.length !== 2) throw new UsageError('--ethertype must be two bytes, e.g. 0x88b5');
      ethertype = (e[0]! << 8) | e[1]!;
    }
    const prefix = str(values, 'prefix') === undefined ? undefined : hexBytes('prefix', str(values, 'prefix')!);
    const snaplen = intOption('snaplen', str(values, 'snaplen') ?? '65535', 1, 262144);
    const options = { ...portOptions(ctx, values), promiscuous: values['no-promisc'] !== true };
    return runApp(ctx, values, {
      name: 'capture',
      addresses: [address!],
      options,
      needsLink: false,
      describe: file === null ? ' (counting only)' : ` -> ${file}`,
      async run([port], hooks) {
        const writer = file === null ? undefined : new PcapWriter(file, { snaplen });
        try {
          return await capture(port!, {
            ...hooks,
            count,
            ...(writer && { writer }),
            ...(durationMs !== undefined && { durationMs }),
            ...(idleMs !== undefined && { idleMs }),
            ...(ethertype !== undefined && { ethertype }),
            ...(prefix && { prefix }),
          });
        } finally {
          writer?.close();
        }
      },
      text: (s) => formatCaptureSummary(s, file, ctx.style),
      json: (s) => ({ file, ...s }),
    });
  },
};
