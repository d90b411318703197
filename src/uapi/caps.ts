// The capability chain appended to VFIO *_INFO replies.
//
// The buffer is whatever the kernel wrote, so the chain is treated as
// untrusted: every offset is bounds-checked and the walk is bounded.

import { defineStruct } from './struct.js';

/** Header fields shared by every capability struct; spread into each cap layout. */
export const VFIO_INFO_CAP_HEADER_FIELDS = [
  ['id', 'u16'],
  ['version', 'u16'],
  ['next', 'u32'],
] as const;

export const vfioInfoCapHeader = defineStruct('vfio_info_cap_header', VFIO_INFO_CAP_HEADER_FIELDS);

/** No info ioctl comes close: real chains have at most a handful of entries. */
export const MAX_CAP_CHAIN = 64;

/** One entry of a VFIO capability chain (struct vfio_info_cap_header). */
export interface CapRef {
  /** The capability ID (VFIO_*_INFO_CAP_*). */
  readonly id: number;
  /** The capability's version. */
  readonly version: number;
  /** From the start of the info struct, as the kernel counts. */
  readonly offset: number;
}

/**
 * Walks the chain starting at `firstOffset` (0 means no chain). `minOffset`
 * is the size of the fixed info struct: a capability cannot start inside it. A RangeError
 * when the chain loops, is longer than MAX_CAP_CHAIN, or points outside the buffer.
 */
export function readCapChain(bytes: Uint8Array, firstOffset: number, minOffset = 0): CapRef[] {
  const out: CapRef[] = [];
  const seen = new Set<number>();
  let off = firstOffset;
  while (off !== 0) {
    if (seen.has(off)) throw new RangeError(`VFIO capability chain loops back to offset ${off}`);
    if (out.length >= MAX_CAP_CHAIN) {
      throw new RangeError(`VFIO capability chain longer than ${MAX_CAP_CHAIN} entries`);
    }
    if (!Number.isInteger(off) || off < minOffset) {
      throw new RangeError(`VFIO capability offset ${off} points inside the ${minOffset}-byte fixed struct`);
    }
    if (off + vfioInfoCapHeader.size > bytes.length) {
      throw new RangeError(`VFIO capability offset ${off} is past the end of the ${bytes.length}-byte buffer`);
    }
    seen.add(off);
    const h = vfioInfoCapHeader.decode(bytes, off);
    out.push({ id: h.id, version: h.version, offset: off });
    off = h.next;
  }
  return out;
}

/** Checks that a variable-length capability body lies inside the buffer before it is decoded; a RangeError naming `what` if not. */
export function assertCapFits(bytes: Uint8Array, what: string, offset: number, length: number): void {
  if (offset + length > bytes.length) {
    throw new RangeError(`${what} at offset ${offset} needs ${length} bytes, buffer ends at ${bytes.length}`);
  }
}
