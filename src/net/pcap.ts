/**
 * The classic libpcap file format (what tcpdump -w writes and tshark/Wireshark read):
 * a 24-byte global header (magic 0xa1b2c3d4 for microsecond timestamps, version 2.4,
 * snaplen, link type 1 = Ethernet), then per frame a 16-byte record header (seconds,
 * microseconds, captured length, original length) and the captured bytes. Written in
 * this machine's byte order (little-endian here); readers tell by the magic.
 *
 * PcapWriter buffers records in one preallocated block and writes it with one
 * write(2) when full: no allocation and no system call per frame. It takes frames as plain
 * Uint8Arrays or as packet-pool buffer ids (writeBuffer).
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import type { PacketPool } from './pool.js';

/** The magic number of a classic pcap file with microsecond timestamps. */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
/** The magic number of a pcap file with nanosecond timestamps. */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Link type 1: Ethernet frames. */
export const LINKTYPE_ETHERNET = 1;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

/** Options of PcapWriter. */
export interface PcapWriterOptions {
  /** Bytes kept of each frame (default 65535). */
  snaplen?: number;
  /** Write buffer size (default 1 MiB). */
  bufferBytes?: number;
}

/** Writes a classic pcap file (see the module comment). */
export class PcapWriter {
  /** The file written. */
  readonly path: string;
  /** Bytes kept of each frame. */
  readonly snaplen: number;
  /** Records written (including those still in the buffer). */
  frames = 0;
  /** Bytes of the frames written, as on the wire. */
  bytes = 0;
  #fd: number;
  #buf: Uint8Array;
  #view: DataView;
  #pos = 0;

  /** Creates (truncates) the file and writes the global header; throws what open(2) throws. */
  constructor(path: string, options: PcapWriterOptions = {}) {
    const snaplen = options.snaplen ?? 65535;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 262144) throw new RangeError(`snaplen must be 1-262144, got ${snaplen}`);
    this.path = path;
    this.snaplen = snaplen;
    const size = Math.max(options.bufferBytes ?? 1 << 20, GLOBAL_HEADER + RECORD_HEADER + snaplen + 65536);
    this.#buf = new Uint8Array(size);
    this.#view = new DataView(this.#buf.buffer);
    this.#fd = openSync(path, 'w');
    const v = this.#view;
    v.setUint32(0, PCAP_MAGIC_US, true);
    v.setUint16(4, 2, true);
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone: UTC
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, snaplen, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    this.#pos = GLOBAL_HEADER;
  }

  /**
   * Appends frame[0..length); `timeUs` is microseconds since the epoch (default: now).
   * `frame` may be a whole packet buffer longer than `length` (it is not sliced).
   */
  write(frame: Uint8Array, length = frame.length, timeUs = Date.now() * 1000): void {
    if (this.#fd < 0) throw new Error(`PcapWriter: ${this.path} is closed`);
    const caplen = Math.min(length, this.snaplen);
    // Room for the header and the whole source view (copied in one go, see below).
    if (this.#pos + RECORD_HEADER + Math.max(caplen, frame.length) > this.#buf.length) this.flush();
    const v = this.#view;
    const at = this.#pos;
    v.setUint32(at, Math.floor(timeUs / 1e6), true);
    v.setUint32(at + 4, Math.floor(timeUs % 1e6), true);
    v.setUint32(at + 8, caplen, true);
    v.setUint32(at + 12, length, true);
    if (frame.length <= this.#buf.length - at - RECORD_HEADER) this.#buf.set(frame, at + RECORD_HEADER); // bytes past caplen are overwritten by the next record
    else for (let i = 0; i < caplen; i++) this.#buf[at + RECORD_HEADER + i] = frame[i]!;
    this.#pos = at + RECORD_HEADER + caplen;
    this.frames++;
    this.bytes += length;
  }

  /**
   * Appends the frame in a pool buffer: `pool.data[id]` up to `pool.length[id]`, stamped with
   * the buffer's receive timestamp when the port set one (else now). The buffer stays the caller's.
   */
  writeBuffer(pool: PacketPool, id: number): void {
    const ms = pool.timestamp[id]!;
    this.write(pool.data[id]!, pool.length[id]!, ms > 0 ? Math.round(ms * 1000) : Date.now() * 1000);
  }

  /** Writes the buffered records to the file. */
  flush(): void {
    let off = 0;
    while (off < this.#pos) off += writeSync(this.#fd, this.#buf, off, this.#pos - off);
    this.#pos = 0;
  }

  /** Flushes, syncs and closes the file. Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    this.flush();
    fsyncSync(this.#fd);
    closeSync(this.#fd);
    this.#fd = -1;
  }
}

/** One frame of a pcap file. */
export interface PcapRecord {
  /** Capture time, µs since the epoch. */
  timeUs: number;
  /** Captured bytes. */
  data: Uint8Array;
  /** Length on the wire. */
  length: number;
}

/** A parsed pcap file. */
export interface PcapFile {
  /** Bytes kept of each frame. */
  snaplen: number;
  /** The link type (1: Ethernet). */
  linktype: number;
  /** Timestamps were in nanoseconds (converted to µs in the records). */
  nanoseconds: boolean;
  /** The frames, in file order. */
  records: PcapRecord[];
}

/**
 * Parses a classic pcap file (either byte order, µs or ns timestamps); throws an Error naming
 * the offset of a truncated or malformed part. To send a record, copy it into a pool buffer:
 * `pool.write(id, record.data)`.
 */
export function readPcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < GLOBAL_HEADER) throw new Error(`pcap: ${bytes.length} bytes is shorter than the 24-byte header`);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLe = v.getUint32(0, true);
  let le: boolean;
  let nanoseconds = false;
  if (magicLe === PCAP_MAGIC_US || magicLe === PCAP_MAGIC_NS) le = true;
  else if (v.getUint32(0, false) === PCAP_MAGIC_US || v.getUint32(0, false) === PCAP_MAGIC_NS) le = false;
  else throw new Error(`pcap: bad magic 0x${magicLe.toString(16)}`);
  if (v.getUint32(0, le) === PCAP_MAGIC_NS) nanoseconds = true;
  const snaplen = v.getUint32(16, le);
  const linktype = v.getUint32(20, le);
  const records: PcapRecord[] = [];
  let at = GLOBAL_HEADER;
  while (at < bytes.length) {
    if (at + RECORD_HEADER > bytes.length) throw new Error(`pcap: truncated record header at offset ${at}`);
    const sec = v.getUint32(at, le);
    const frac = v.getUint32(at + 4, le);
    const caplen = v.getUint32(at + 8, le);
    const length = v.getUint32(at + 12, le);
    if (at + RECORD_HEADER + caplen > bytes.length) throw new Error(`pcap: truncated record at offset ${at}`);
    records.push({
      timeUs: sec * 1e6 + (nanoseconds ? Math.floor(frac / 1000) : frac),
      data: bytes.slice(at + RECORD_HEADER, at + RECORD_HEADER + caplen),
      length,
    });
    at += RECORD_HEADER + caplen;
  }
  return { snaplen, linktype, nanoseconds, records };
}
