/** What bench/main.ts needs from each benchmark, so one more is one more entry in its list. */

export interface BenchOptions {
  /** A short run that only checks the benchmark still works (CI). */
  smoke: boolean;
  /** Whether benchmarks that boot the QEMU guest may run (`--no-vm` turns them off). */
  vm: boolean;
  /** A scratch directory for this run (C builds), removed afterwards. */
  work: string;
}

/** One bar of the chart: what the JS path costs relative to C (time ÷ time, or C rate ÷ JS rate). */
export interface Ratio {
  figure: string;
  ratio: number;
  /** The most the issue allows, when it sets a ratio target. */
  target?: number;
}

export interface Section<R> {
  /** Its key in latest.json and its group in the chart. */
  key: string;
  run(opts: BenchOptions): Promise<R>;
  /** The printed table. */
  format(result: R): string;
  ratios?(result: R): Ratio[];
}

/** A section whose run is skipped says why instead of producing a result. */
export interface Skipped {
  skipped: string;
}

export function isSkipped(r: unknown): r is Skipped {
  return typeof r === 'object' && r !== null && 'skipped' in r;
}

/** Types one entry of main.ts's list from its run(), then erases the type for the list. */
export function section<R>(s: Section<R>): Section<unknown> {
  return s as Section<unknown>;
}
