/** Summaries the benchmarks share, so JS and C samples are reduced the same way. */

export interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
  max: number;
}

/** Sorts `xs` in place. */
export function percentiles(xs: number[]): Percentiles {
  xs.sort((a, b) => a - b);
  const at = (q: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: xs[xs.length - 1]! };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
