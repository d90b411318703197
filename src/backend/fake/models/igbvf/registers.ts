import { MMIO_SIZE } from '../../../../hw/e82576vf.js';

/** The VF's BAR0 as stored words, shared by the model's parts: what a register reads back unless its part computes the value. */
export class VfRegisters {
  readonly #words = new Uint32Array(MMIO_SIZE / 4);

  /** 0 outside BAR0. */
  r(off: number): number {
    return this.#words[off >> 2] ?? 0;
  }

  w(off: number, v: number): void {
    if (off >= 0 && off < MMIO_SIZE) this.#words[off >> 2] = v >>> 0;
  }

  clear(): void {
    this.#words.fill(0);
  }

  /** Adds to a statistics counter: 32 bits that wrap, as the VF's do. */
  add(off: number, n: number): void {
    this.w(off, (this.r(off) + n) >>> 0);
  }
}
