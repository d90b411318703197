/**
 * The test-frame format pktgen sends and capture, fwd and the tests check, and MAC helpers.
 *
 * Test frame (all fields big-endian):
 *   0  destination MAC        6  source MAC           12  EtherType 0x88b5 (IEEE 802 local experimental)
 *  14  magic "VFIO"          18  run id (u32)         22  sequence number (u32)
 *  26  pattern: byte at offset k is (k * 7 + 1) & 0xff, up to the end of the frame
 *
 * The pattern depends on the offset only, so a frame of any length is checked byte by byte
 * without knowing what the sender meant to send, and the sequence number tells order.
 */

/** The test frames' EtherType (IEEE 802 local experimental). */
export const ETHERTYPE_TEST = 0x88b5;
/** The magic after the Ethernet header: "VFIO". */
export const TEST_MAGIC = 0x5646494f;
/** Bytes before the pattern: Ethernet header, magic, run id, sequence number. */
export const TEST_HEADER = 26;
/** The smallest test frame: the Ethernet minimum without the FCS. */
export const MIN_TEST_FRAME = 60;
/** The broadcast MAC address. */
export const BROADCAST = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff);

/** '52:54:00:12:34:56' (or with dashes) as 6 bytes; a RangeError for anything else. */
export function parseMac(text: string): Uint8Array {
  const parts = text.trim().split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) throw new RangeError(`not a MAC address: ${JSON.stringify(text)}`);
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** The 6 bytes at `at` as 'aa:bb:cc:dd:ee:ff'. */
export function formatMac(mac: Uint8Array, at = 0): string {
  return Array.from(mac.subarray(at, at + 6), (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** The 6 bytes of `a` at `aAt` equal `b` (no allocation: for the hot path). */
export function sameMac(a: Uint8Array, aAt: number, b: Uint8Array): boolean {
  return a[aAt] === b[0] && a[aAt + 1] === b[1] && a[aAt + 2] === b[2] && a[aAt + 3] === b[3] && a[aAt + 4] === b[4] && a[aAt + 5] === b[5];
}

/** The pattern byte a test frame holds at `offset` (from TEST_HEADER on). */
export function patternByte(offset: number): number {
  return (offset * 7 + 1) & 0xff;
}

/** A test frame of `size` bytes with sequence number 0; stamp() sets the sequence number. */
export function testFrame(size: number, dst: Uint8Array, src: Uint8Array, runId: number): Uint8Array {
  if (!Number.isInteger(size) || size < MIN_TEST_FRAME) throw new RangeError(`a test frame has at least ${MIN_TEST_FRAME} bytes, got ${size}`);
  const f = new Uint8Array(size);
  const v = new DataView(f.buffer);
  f.set(dst.subarray(0, 6), 0);
  f.set(src.subarray(0, 6), 6);
  v.setUint16(12, ETHERTYPE_TEST);
  v.setUint32(14, TEST_MAGIC);
  v.setUint32(18, runId >>> 0);
  for (let k = TEST_HEADER; k < size; k++) f[k] = patternByte(k);
  return f;
}

/** Writes the sequence number into a test frame (its own bytes: no allocation). */
export function stamp(frame: Uint8Array, seq: number): void {
  frame[22] = (seq >>> 24) & 0xff;
  frame[23] = (seq >>> 16) & 0xff;
  frame[24] = (seq >>> 8) & 0xff;
  frame[25] = seq & 0xff;
}

/** What readTestFrame finds in a test frame. */
export interface TestFrameInfo {
  /** The sender's run id. */
  runId: number;
  /** The sequence number. */
  seq: number;
  /** Every pattern byte as sent. */
  intact: boolean;
}

/** Decodes a test frame; null when it is not one (wrong EtherType, magic or length). */
export function readTestFrame(frame: Uint8Array, length = frame.length): TestFrameInfo | null {
  if (length < TEST_HEADER) return null;
  const v = new DataView(frame.buffer, frame.byteOffset, length);
  if (v.getUint16(12) !== ETHERTYPE_TEST || v.getUint32(14) !== TEST_MAGIC) return null;
  let intact = true;
  for (let k = TEST_HEADER; k < length; k++)
    if (frame[k] !== patternByte(k)) {
      intact = false;
      break;
    }
  return { runId: v.getUint32(18), seq: v.getUint32(22), intact };
}

/** The payload prefix (magic and run id) that selects one run's test frames in a capture filter. */
export function testPrefix(runId: number): Uint8Array {
  const p = new Uint8Array(8);
  const v = new DataView(p.buffer);
  v.setUint32(0, TEST_MAGIC);
  v.setUint32(4, runId >>> 0);
  return p;
}
