/**
 * Frame sizes for pktgen: one size, a list, or a range. A list and a range are both cycled
 * in order (frame k has size table[k % table.length]), not drawn at random: every size in
 * the range is sent equally often, the run is the same every time, and a receiver knows
 * the size of frame k from its sequence number alone, so a capture can check lengths too.
 */
import { MIN_TEST_FRAME } from './frames.js';

/** An inclusive range of frame sizes. */
export interface FrameSizeRange {
  /** The smallest size, in bytes. */
  readonly min: number;
  /** The largest size, in bytes. */
  readonly max: number;
}

/** One size, a list of sizes (cycled), or an inclusive range (every size, cycled in order). */
export type FrameSizes = number | readonly number[] | FrameSizeRange;

/**
 * Parses '64', '64,128,1514' or '60-1514' into FrameSizes. A RangeError, naming what is
 * wrong, for anything else (and for a range whose minimum exceeds its maximum); the bounds
 * of each size are checked by frameSizeTable, which knows the port.
 */
export function parseFrameSizes(text: string): FrameSizes {
  const t = text.trim();
  const int = (s: string): number => {
    if (!/^\d+$/.test(s.trim())) throw new RangeError(`frame size: ${JSON.stringify(s.trim())} is not a whole number of bytes (write 64, 64,128,1514 or 60-1514)`);
    return Number(s);
  };
  const range = /^(\d+)\s*-\s*(\d+)$/.exec(t);
  if (range) {
    const min = int(range[1]!);
    const max = int(range[2]!);
    if (min > max) throw new RangeError(`frame size range ${t}: the minimum ${min} is larger than the maximum ${max}`);
    return { min, max };
  }
  if (t.includes(',')) return t.split(',').map(int);
  return int(t);
}

/** The smallest and largest of the sizes. */
export function frameSizeBounds(sizes: FrameSizes): FrameSizeRange {
  if (typeof sizes === 'number') return { min: sizes, max: sizes };
  if ('min' in sizes) return { min: sizes.min, max: sizes.max };
  return { min: Math.min(...sizes), max: Math.max(...sizes) };
}

/** FrameSizes as text: '64', '64,128,1514' or '60-1514'. */
export function formatFrameSizes(sizes: FrameSizes): string {
  if (typeof sizes === 'number') return String(sizes);
  if ('min' in sizes) return `${sizes.min}-${sizes.max}`;
  return sizes.join(',');
}

/**
 * The sizes as the table pktgen cycles through, each checked against 60..`maxFrame` (the
 * port's largest frame): a RangeError otherwise, or for an empty list or a reversed range.
 */
export function frameSizeTable(sizes: FrameSizes, maxFrame: number): Uint16Array {
  const check = (n: number): number => {
    if (!Number.isInteger(n) || n < MIN_TEST_FRAME || n > maxFrame)
      throw new RangeError(`frame size must be ${MIN_TEST_FRAME}-${maxFrame} bytes (the Ethernet minimum without FCS up to the port's largest frame), got ${n}`);
    return n;
  };
  if (typeof sizes === 'number') return Uint16Array.of(check(sizes));
  if ('min' in sizes) {
    check(sizes.min);
    check(sizes.max);
    if (sizes.min > sizes.max) throw new RangeError(`frame size range ${sizes.min}-${sizes.max}: the minimum is larger than the maximum`);
    return Uint16Array.from({ length: sizes.max - sizes.min + 1 }, (_, i) => sizes.min + i);
  }
  if (sizes.length === 0) throw new RangeError('frame size list is empty');
  return Uint16Array.from(sizes, check);
}
