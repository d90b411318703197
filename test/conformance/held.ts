/**
 * What the raw-ioctl conformance suites share: an errno assertion, and the fds and DMA
 * memory one test holds, released in reverse order after it.
 */
import { expect } from 'vitest';
import type { Backend, FdHandle } from '../../src/index.js';

/** Expects `fn` to fail with the errno named `code`, as a system error (not a TypeError). */
export function errno(fn: () => unknown, code: string): void {
  try {
    fn();
  } catch (e) {
    expect(e, `expected ${code}`).toBeInstanceOf(Error);
    expect((e as { code?: string }).code, String(e)).toBe(code);
    expect(typeof (e as { errno?: unknown }).errno).toBe('number');
    return;
  }
  throw new Error(`expected ${code}, but the call succeeded`);
}

/** Files and DMA memory of one test, released in reverse order afterwards. */
export class Held {
  #b: Backend;
  #fds: FdHandle[] = [];
  #mems: ArrayBuffer[] = [];
  constructor(b: Backend) {
    this.#b = b;
  }
  fd(fd: FdHandle): FdHandle {
    this.#fds.push(fd);
    return fd;
  }
  close(fd: FdHandle): void {
    this.#fds = this.#fds.filter((x) => x !== fd);
    this.#b.close(fd);
  }
  mem(length: number): ArrayBuffer {
    const { buffer } = this.#b.dmaAlloc(length, 'never');
    this.#mems.push(buffer);
    return buffer;
  }
  releaseAll(): void {
    for (const fd of this.#fds.reverse()) {
      if (fd.closed) continue;
      try {
        this.#b.close(fd);
      } catch {}
    }
    // Closing the iommufd and devices dropped the mappings; now the memory may go.
    for (const m of this.#mems) {
      try {
        this.#b.dmaFree(m);
      } catch {}
    }
    this.#fds = [];
    this.#mems = [];
  }
}
