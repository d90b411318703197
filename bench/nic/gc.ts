/**
 * The GC events of a measured window: a PerformanceObserver on 'gc' collects every event of
 * the process; a window picks those that started inside it. Node delivers the entries on a
 * later turn of the event loop, so the forwarding loop (synchronous) is over before they
 * arrive: settle() waits for them.
 */
import { PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

export interface GcFigures {
  /** Collections that started in the window. */
  count: number;
  /** Their total duration, ms. */
  ms: number;
}

export class GcWatch {
  #entries: PerformanceEntry[] = [];
  #observer = new PerformanceObserver((list) => this.#entries.push(...list.getEntries()));

  constructor() {
    this.#observer.observe({ entryTypes: ['gc'] });
  }

  /** Lets pending entries arrive (a few turns of the event loop). */
  async settle(): Promise<void> {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    this.#entries.push(...this.#observer.takeRecords());
  }

  /** The events that started in [from, to] (performance.now() ms). */
  inWindow([from, to]: [number, number]): GcFigures {
    const es = this.#entries.filter((e) => e.startTime >= from && e.startTime <= to);
    return { count: es.length, ms: es.reduce((a, e) => a + e.duration, 0) };
  }

  dispose(): void {
    this.#observer.disconnect();
  }
}
