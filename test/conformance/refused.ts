/**
 * What the argument-check suites share: the exact refusal a malformed call must
 * meet on both backends, and buffers freed the way munmap/dmaFree free them.
 */
import { expect } from 'vitest';

/** Expects `fn` to throw exactly `type` with exactly `message` (not a subclass, not a system error). */
export function refused(fn: () => unknown, type: typeof TypeError | typeof RangeError, message: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `expected ${type.name}: ${message}`).toBeInstanceOf(type);
  expect((thrown as Error).constructor).toBe(type);
  expect((thrown as Error).message).toBe(message);
}

/** Detaches `buffer` (as munmap and dmaFree do) and returns it. */
export function detach<T extends ArrayBuffer>(buffer: T): T {
  structuredClone(buffer, { transfer: [buffer] });
  return buffer;
}

/** Views of every shape over one detached buffer: whole, at an offset, and a DataView. */
export function detachedViews(bytes = 64): ArrayBufferView[] {
  const buffer = new ArrayBuffer(bytes);
  const views = [new Uint8Array(buffer), new Uint32Array(buffer, 8, 4), new DataView(buffer, 16)];
  detach(buffer);
  return views;
}
