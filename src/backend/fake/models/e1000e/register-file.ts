import { MMIO_SIZE } from './regs.js';

const U32_MAX = 0xffffffff;

/**
 * BAR0's registers as stored words, shared by every part of the model: what a register
 * reads back unless its part computes the value. Also the statistics arithmetic, since the
 * counters are plain registers that saturate rather than wrap.
 */
export class RegisterFile {
  readonly #words = new Uint32Array(MMIO_SIZE / 4);

  /** 0 outside BAR0, which a narrow write past the end merges into. */
  r(off: number): number {
    return this.#words[off >> 2] ?? 0;
  }

  w(off: number, v: number): void {
    this.#words[off >> 2] = v >>> 0;
  }

  clear(): void {
    this.#words.fill(0);
  }

  inc(off: number): void {
    const v = this.r(off);
    if (v < U32_MAX) this.w(off, v + 1);
  }

  /** Adds to a 64-bit counter kept as low and high words. */
  grow(lowOff: number, n: number): void {
    let total = this.r(lowOff) + this.r(lowOff + 4) * 2 ** 32 + n;
    if (total > Number.MAX_SAFE_INTEGER) total = Number.MAX_SAFE_INTEGER;
    this.w(lowOff, total % 2 ** 32);
    this.w(lowOff + 4, Math.floor(total / 2 ** 32));
  }

  /** The RMON size bins (64, 65-127, 128-255, 256-511, 512-1023, 1024-max) starting at `first`. */
  sizeStat(first: number, size: number): void {
    const bin = size > 1023 ? 5 : size > 511 ? 4 : size > 255 ? 3 : size > 127 ? 2 : size > 64 ? 1 : size === 64 ? 0 : -1;
    if (bin >= 0) this.inc(first + bin * 4);
  }
}
