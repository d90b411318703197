// `vfio net fwd A B`: forwards between two ports, zero-copy (src/net/apps/fwd.ts is the engine).
import { BROADCAST, forward, parseMac } from '../net/index.js';
import { UsageError, type Command } from './command.js';
import { PORT_OPTIONS, addresses, portOptions, runApp, secondsOption, str } from './net-app.js';
import { formatForwardSummary } from './net-format.js';

export const fwdCommand: Command = {
  name: 'net fwd',
  summary: 'forward frames between two ports both ways, zero-copy (a wire, or l2fwd with --rewrite)',
  usage: 'vfio net fwd [--rewrite [--peer-a MAC] [--peer-b MAC]] [--duration SEC] [options] ADDR_A ADDR_B',
  description: [
    'Opens both NICs in one DMA context with one packet pool and forwards every frame received',
    'on one out of the other, in the buffer it arrived in (no copy), until --duration or Ctrl-C.',
    'By default both ports are promiscuous and forward everything (a wire, for ports on separate',
    'links). --rewrite forwards like DPDK l2fwd: only frames addressed to the receiving port,',
    'with the sending port as source and the peer as destination; that is also loop-free when',
    'both ports share one segment.',
  ].join('\n'),
  options: {
    rewrite: { type: 'boolean', help: 'MAC-rewriting forwarder (see above)' },
    'peer-a': { type: 'string', value: 'MAC', help: 'destination of frames leaving through A (with --rewrite; default broadcast)' },
    'peer-b': { type: 'string', value: 'MAC', help: 'destination of frames leaving through B (with --rewrite; default broadcast)' },
    duration: { type: 'string', short: 't', value: 'SEC', help: 'stop after SEC seconds (default: until Ctrl-C)' },
    ...PORT_OPTIONS,
  },
  positionals: { min: 2, max: 2 },
  run(ctx, { values, positionals }) {
    const list = addresses(positionals);
    const rewrite = values.rewrite === true;
    if (!rewrite && (str(values, 'peer-a') !== undefined || str(values, 'peer-b') !== undefined)) throw new UsageError('--peer-a and --peer-b go with --rewrite');
    const mac = (name: string): Uint8Array => {
      const text = str(values, name);
      if (text === undefined) return BROADCAST;
      try {
        return parseMac(text);
      } catch (e) {
        throw new UsageError(`--${name}: ${(e as Error).message}`);
      }
    };
    const peers = { peerA: mac('peer-a'), peerB: mac('peer-b') };
    const durationMs = str(values, 'duration') === undefined ? undefined : secondsOption('duration', str(values, 'duration')!);
    return runApp(ctx, values, {
      name: 'fwd',
      addresses: list,
      options: { ...portOptions(ctx, values), promiscuous: !rewrite },
      needsLink: false,
      describe: rewrite ? ', rewriting MACs' : ', as a wire',
      run: ([a, b], hooks) => forward(a!, b!, { ...hooks, ...(rewrite && { rewrite: peers }), ...(durationMs !== undefined && { durationMs }) }),
      text: (s) => formatForwardSummary(s, ctx.style),
      json: (s) => s,
    });
  },
};
