// What `vfio net` prints for people: the live line (one per interval, as iperf prints them:
// a new line each time, so the history stays on the screen) and the summaries.
import type { AppProgress, CaptureSummary, ForwardSummary, PktgenSummary } from '../net/index.js';
import type { Style } from './output.js';

/** 1234567 → '1.23 M' (SI prefixes, three significant digits). */
export function formatRate(n: number): string {
  const units: [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [scale, prefix] of units) if (n >= scale) return `${(n / scale).toPrecision(3)} ${prefix}`;
  return `${Math.round(n)} `;
}

/** The seconds of an interval: '  2.00-3.00 s'. */
function span(p: AppProgress): string {
  const from = Math.max(0, p.elapsed - p.interval);
  return `${from.toFixed(2).padStart(6)}-${p.elapsed.toFixed(2)} s`;
}

/**
 * One live line: the interval, frames/s, bits/s, drops, ring-full and the frames so far.
 * Drops are red and ring-full yellow when not zero (on a terminal, with colour).
 */
export function formatLiveLine(p: AppProgress, style: Style): string {
  const drops = `drops ${p.drops}`;
  const ringFull = `ring-full ${p.ringFull}`;
  return [
    span(p),
    `${formatRate(p.framesPerSecond).padStart(7)}frames/s`,
    `${formatRate(p.bitsPerSecond).padStart(7)}bit/s`,
    p.drops > 0 ? style.red(drops) : drops,
    p.ringFull > 0 ? style.yellow(ringFull) : ringFull,
    `total ${p.total.frames}`,
  ].join('  ');
}

/** The rates of a whole run: '12.3 kframes/s, 98.4 Mbit/s'. */
function rates(s: { framesPerSecond: number; bitsPerSecond: number }): string {
  return `${formatRate(s.framesPerSecond)}frames/s, ${formatRate(s.bitsPerSecond)}bit/s`;
}

/** pktgen's summary lines. */
export function formatPktgenSummary(s: PktgenSummary, style: Style): string[] {
  return [
    style.bold(`sent ${s.frames} frames (${s.bytes} bytes) in ${s.seconds.toFixed(3)} s: ${rates(s)}`),
    `run id ${s.runId}; ring full ${s.ringFull}x, pool empty ${s.poolEmpty}x; stopped by ${s.reason}`,
  ];
}

/** capture's summary lines; `file` is where the frames went (or null: counted only). */
export function formatCaptureSummary(s: CaptureSummary, file: string | null, style: Style): string[] {
  const where = file === null ? 'kept' : `wrote ${file}:`;
  const drops = `dropped by the port ${s.drops}`;
  return [
    style.bold(`${where} ${s.frames} frames (${s.bytes} bytes) in ${s.seconds.toFixed(3)} s: ${rates(s)}`),
    `received ${s.received}, filtered out ${s.filtered}; ${s.drops > 0 ? style.red(drops) : drops}, ring left unfilled ${s.ringFull}x; stopped by ${s.reason}`,
  ];
}

/** fwd's summary lines. */
export function formatForwardSummary(s: ForwardSummary, style: Style): string[] {
  const drops = `dropped ${s.drops}`;
  return [
    style.bold(`forwarded ${s.aToB} A->B and ${s.bToA} B->A (${s.bytes} bytes) in ${s.seconds.toFixed(3)} s: ${rates(s)}`),
    `${s.zeroCopy ? 'zero-copy' : 'copied (the ports do not share a pool)'}; not for us ${s.notForUs}, ${s.drops > 0 ? style.red(drops) : drops}, ring full ${s.ringFull}x; stopped by ${s.reason}`,
  ];
}
