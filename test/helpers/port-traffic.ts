/**
 * Frames in and out of a port from a test: copies in and out of pool buffers (so a test
 * never holds a buffer id), numbered test frames, a fixed walk of mixed sizes, and waiting
 * for a port's event.
 */
import type { PortBase } from '../../src/net/index.js';
import { stamp, testFrame } from '../../src/net/apps/frames.js';

/** Copies frames into pool buffers and queues them on `port`; returns how many it took (the rest are freed). */
export function send(port: PortBase, frames: readonly Uint8Array[]): number {
  const ids = new Uint32Array(frames.length);
  const got = port.pool.alloc(ids, frames.length);
  for (let i = 0; i < got; i++) port.pool.write(ids[i]!, frames[i]!);
  let n = 0;
  try {
    n = port.txBurst(ids, got);
  } finally {
    port.pool.free(ids, got - n, n);
  }
  return n;
}

/** Takes what `port` has received: copies of the frames, their buffers freed. */
export function take(port: PortBase, max = 64): Uint8Array[] {
  const ids = new Uint32Array(max);
  const n = port.rxBurst(ids, max);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(port.pool.data[ids[i]!]!.slice(0, port.pool.length[ids[i]!]!));
  port.pool.free(ids, n);
  return out;
}

/** `count` numbered test frames of `size` bytes. */
export function numbered(count: number, size: number, dst: Uint8Array, src: Uint8Array, first = 0): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const f = testFrame(size, dst, src, 42);
    stamp(f, first + i);
    return f;
  });
}

/** Sizes 60-1514, every one different from its neighbours (a fixed pseudo-random walk). */
export function mixedSizes(n: number, seed = 12345): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return 60 + (x % (1514 - 60 + 1));
  });
}

/** Resolves with the next `event` of `port` (its arguments), or rejects after `ms`. */
export function nextEvent<A extends unknown[]>(port: PortBase, event: 'link' | 'needs-reset', ms = 2000): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' event within ${ms} ms`)), ms);
    port.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as A);
    });
  });
}
