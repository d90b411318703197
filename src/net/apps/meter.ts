/**
 * What the apps share: the progress sample each reports once per interval (the live line's
 * numbers), the summary fields every app's result has, and the loop helpers.
 */

/**
 * One interval of an app's traffic: what a live line shows. Rates are for this interval,
 * not the average since the start, as iperf prints them.
 */
export interface AppProgress {
  /** Seconds since the app started, at the end of this interval. */
  elapsed: number;
  /** The interval's length in seconds. */
  interval: number;
  /** Frames in the interval: sent (pktgen), written (capture) or forwarded (fwd). */
  frames: number;
  /** Their bytes, without the FCS. */
  bytes: number;
  /** frames / interval. */
  framesPerSecond: number;
  /** Bits per second on the wire, counting the 4-byte FCS but not the preamble and gap. */
  bitsPerSecond: number;
  /** Frames lost in the interval (see each app's summary for what counts). */
  drops: number;
  /** Bursts in the interval that found a ring full (see each app's summary). */
  ringFull: number;
  /** The counters since the start. */
  total: AppTotals;
}

/** Counters since an app started. */
export interface AppTotals {
  /** Frames sent, written or forwarded. */
  frames: number;
  /** Their bytes, without the FCS. */
  bytes: number;
  /** Frames lost. */
  drops: number;
  /** Bursts that found a ring full. */
  ringFull: number;
}

/** Why an app stopped. */
export type StopReason = 'count' | 'duration' | 'idle' | 'signal';

/** The fields every app's summary has: the whole run's totals and average rates. */
export interface AppSummary extends AppTotals {
  /** Why it stopped. */
  reason: StopReason;
  /** Seconds from start to stop. */
  seconds: number;
  /** Average frames per second. */
  framesPerSecond: number;
  /** Average bits per second on the wire (FCS counted, preamble and gap not). */
  bitsPerSecond: number;
}

/** Options every app takes for its progress reports and stopping. */
export interface AppRunOptions {
  /** Stops the app (Ctrl-C): it finishes the burst, and resolves with its summary. */
  signal?: AbortSignal;
  /** Stop after this many milliseconds. */
  durationMs?: number;
  /** Called once per interval with that interval's numbers. */
  onProgress?: (p: AppProgress) => void;
  /** The interval, in milliseconds (default 1000). */
  intervalMs?: number;
}

const FCS = 4;

/** Bits on the wire for `frames` frames of `bytes` bytes in all (FCS counted). */
export function wireBits(frames: number, bytes: number): number {
  return (bytes + FCS * frames) * 8;
}

/**
 * Keeps an app's totals and turns them into interval samples. The app adds to `total` as it
 * goes and calls tick(now) in its loop; tick reports once per interval. Nothing is
 * allocated per frame (one object per interval).
 */
export class Meter {
  /** Since the start. */
  readonly total: AppTotals = { frames: 0, bytes: 0, drops: 0, ringFull: 0 };
  /** performance.now() at the start. */
  readonly start: number;
  #last: AppTotals = { frames: 0, bytes: 0, drops: 0, ringFull: 0 };
  #lastAt: number;
  #next: number;
  #intervalMs: number;
  #onProgress: ((p: AppProgress) => void) | undefined;

  /** Starts the clock now; a RangeError for an interval that is not positive. */
  constructor(options: Pick<AppRunOptions, 'onProgress' | 'intervalMs'> = {}, now = performance.now()) {
    const intervalMs = options.intervalMs ?? 1000;
    if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be positive, got ${intervalMs}`);
    this.start = now;
    this.#lastAt = now;
    this.#intervalMs = intervalMs;
    this.#next = now + intervalMs;
    this.#onProgress = options.onProgress;
  }

  /** An interval is over and someone listens: refresh totals read from counters, then tick. */
  due(now: number): boolean {
    return this.#onProgress !== undefined && now >= this.#next;
  }

  /** Reports the interval if it is over (to onProgress). */
  tick(now: number): void {
    const report = this.#onProgress;
    if (report === undefined || now < this.#next) return;
    // Skip whole intervals missed (a long wait) rather than report a burst of empty ones.
    while (this.#next <= now) this.#next += this.#intervalMs;
    report(this.sample(now));
  }

  /** The interval from the last sample to `now` (and starts the next one). */
  sample(now: number): AppProgress {
    const t = this.total;
    const l = this.#last;
    const interval = (now - this.#lastAt) / 1000;
    const frames = t.frames - l.frames;
    const bytes = t.bytes - l.bytes;
    const p: AppProgress = {
      elapsed: (now - this.start) / 1000,
      interval,
      frames,
      bytes,
      framesPerSecond: interval > 0 ? frames / interval : 0,
      bitsPerSecond: interval > 0 ? wireBits(frames, bytes) / interval : 0,
      drops: t.drops - l.drops,
      ringFull: t.ringFull - l.ringFull,
      total: { ...t },
    };
    this.#last = { ...t };
    this.#lastAt = now;
    return p;
  }

  /** The summary fields for a run that stopped now, for `reason`. */
  summary(reason: StopReason, now = performance.now()): AppSummary {
    const seconds = (now - this.start) / 1000;
    const t = this.total;
    return {
      reason,
      seconds,
      ...t,
      framesPerSecond: seconds > 0 ? t.frames / seconds : 0,
      bitsPerSecond: seconds > 0 ? wireBits(t.frames, t.bytes) / seconds : 0,
    };
  }
}

/** Yields to the event loop (timers, signals, interrupt callbacks) without sleeping. */
export function yieldNow(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Sleeps, waking early when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
