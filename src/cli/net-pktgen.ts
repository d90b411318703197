// `vfio net pktgen ADDR`: numbered test frames of one size, a list or a range, at full
// speed or a rate (src/net/apps/pktgen.ts is the engine).
import { frameSizeBounds, formatFrameSizes, formatMac, parseFrameSizes, parseMac, pktgen, MIN_TEST_FRAME, type FrameSizes } from '../net/index.js';
import { UsageError, type Command } from './command.js';
import { PORT_OPTIONS, addresses, intOption, portOptions, runApp, secondsOption, str } from './net-app.js';
import { formatPktgenSummary } from './net-format.js';

/** --size as FrameSizes, with the bounds that need no port checked (a UsageError otherwise). */
export function sizesOption(text: string): FrameSizes {
  let sizes: FrameSizes;
  try {
    sizes = parseFrameSizes(text);
  } catch (e) {
    throw new UsageError(`--size: ${(e as Error).message}`);
  }
  const { min } = frameSizeBounds(sizes);
  if (min < MIN_TEST_FRAME) throw new UsageError(`--size: frames have at least ${MIN_TEST_FRAME} bytes (the Ethernet minimum without FCS), got ${min}`);
  return sizes;
}

export const pktgenCommand: Command = {
  name: 'net pktgen',
  summary: 'send numbered test frames: one size, a list or a range, at full speed or a rate',
  usage: 'vfio net pktgen [--count N] [--size S|MIN-MAX|S1,S2,...] [--rate FPS] [--dst MAC] [options] ADDR',
  description: [
    'Sends test frames (EtherType 0x88b5, "VFIO", a run id and sequence numbers 0, 1, 2, ...,',
    'then a fixed byte pattern) from the NIC at ADDR, as fast as its ring takes them or at',
    '--rate, until --count frames, --duration or Ctrl-C. A range of sizes (60-1514) or a list',
    '(64,128,1514) is cycled in order: frame k has the k-th size, every size equally often.',
    'Sizes run from 60 bytes (without the 4-byte FCS the NIC appends) to the port\'s largest frame.',
    '',
    'Example: vfio net pktgen --count 100000 --size 60-1514 --dst 52:54:00:12:34:57 0000:00:03.0',
  ].join('\n'),
  options: {
    count: { type: 'string', short: 'n', value: 'N', help: 'frames to send (default 0: until --duration or Ctrl-C)' },
    size: { type: 'string', short: 's', value: 'SIZES', help: 'frame bytes without FCS: 64, a range 60-1514 or a list 64,128,1514 (default 60)' },
    rate: { type: 'string', short: 'r', value: 'FPS', help: 'frames per second (default: as fast as the ring takes them)' },
    dst: { type: 'string', short: 'd', value: 'MAC', help: 'destination MAC address (default ff:ff:ff:ff:ff:ff)' },
    duration: { type: 'string', short: 't', value: 'SEC', help: 'stop after SEC seconds' },
    'run-id': { type: 'string', value: 'N', help: 'run id stamped into each frame (default random)' },
    batch: { type: 'string', value: 'N', help: 'frames per burst (default 32)' },
    ...PORT_OPTIONS,
  },
  positionals: { min: 1, max: 1 },
  run(ctx, { values, positionals }) {
    const [address] = addresses(positionals);
    const count = intOption('count', str(values, 'count') ?? '0', 0, 2 ** 32 - 1);
    const sizes = sizesOption(str(values, 'size') ?? '60');
    const rate = str(values, 'rate') === undefined ? undefined : intOption('rate', str(values, 'rate')!, 1, 1e9);
    const batch = intOption('batch', str(values, 'batch') ?? '32', 1, 4095);
    const runId = str(values, 'run-id') === undefined ? undefined : intOption('run-id', str(values, 'run-id')!, 0, 2 ** 32 - 1);
    const durationMs = str(values, 'duration') === undefined ? undefined : secondsOption('duration', str(values, 'duration')!);
    let dst: Uint8Array | undefined;
    if (str(values, 'dst') !== undefined) {
      try {
        dst = parseMac(str(values, 'dst')!);
      } catch (e) {
        throw new UsageError(`--dst: ${(e as Error).message}`);
      }
    }
    const sizeText = formatFrameSizes(sizes);
    return runApp(ctx, values, {
      name: 'pktgen',
      addresses: [address!],
      options: portOptions(ctx, values),
      needsLink: true,
      check([port]) {
        const { max } = frameSizeBounds(sizes);
        if (max > port!.maxFrame) throw new UsageError(`--size: ${port!.address} takes frames of at most ${port!.maxFrame} bytes, got ${max}`);
        if (batch > port!.txSize - 1) throw new UsageError(`--batch must be below the ring size (${port!.txSize}), got ${batch}`);
      },
      describe: `: ${count || 'unlimited'} frames of ${sizeText} bytes to ${formatMac(dst ?? new Uint8Array(6).fill(0xff))}${rate ? ` at ${rate} frames/s` : ''}`,
      run: ([port], hooks) =>
        pktgen(port!, {
          ...hooks,
          count,
          sizes,
          batch,
          ...(rate !== undefined && { rate }),
          ...(dst && { dst }),
          ...(runId !== undefined && { runId }),
          ...(durationMs !== undefined && { durationMs }),
        }),
      text: (s) => formatPktgenSummary(s, ctx.style),
      json: (s) => s,
    });
  },
};
