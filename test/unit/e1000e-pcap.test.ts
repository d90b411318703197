/** The pcap writer and reader of vfio/net (src/net/pcap.ts), byte for byte, and with packet-pool buffers. */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDevice } from '../../src/index.js';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { PacketPool, PcapWriter, readPcap } from '../../src/net/index.js';
import { patternByte, readTestFrame, stamp, testFrame, testPrefix, formatMac, parseMac, TEST_HEADER } from '../../src/net/apps/frames.js';

let dir = '';
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

describe('pcap files', () => {
  it('writes the classic libpcap header and records (µs timestamps, link type 1)', () => {
    dir = mkdtempSync(join(tmpdir(), 'pcap-'));
    const file = join(dir, 'x.pcap');
    const w = new PcapWriter(file, { snaplen: 1000 });
    const frame = Uint8Array.from({ length: 60 }, (_, i) => i);
    w.write(frame, 60, 1_700_000_000_123_456);
    w.close();
    w.close(); // idempotent
    const b = readFileSync(file);
    expect(b.length).toBe(24 + 16 + 60);
    const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
    expect(v.getUint32(0, true)).toBe(0xa1b2c3d4);
    expect([v.getUint16(4, true), v.getUint16(6, true)]).toEqual([2, 4]);
    expect([v.getInt32(8, true), v.getUint32(12, true), v.getUint32(16, true), v.getUint32(20, true)]).toEqual([0, 0, 1000, 1]);
    expect([v.getUint32(24, true), v.getUint32(28, true), v.getUint32(32, true), v.getUint32(36, true)]).toEqual([1_700_000_000, 123_456, 60, 60]);
    expect(Array.from(b.subarray(40))).toEqual(Array.from(frame));
    expect(() => w.write(frame)).toThrow(/closed/);
  });

  it('cuts frames at the snaplen, takes a longer buffer view with a length, and flushes when full', () => {
    dir = mkdtempSync(join(tmpdir(), 'pcap-'));
    const file = join(dir, 'y.pcap');
    const w = new PcapWriter(file, { snaplen: 100, bufferBytes: 4096 });
    const buffer = new Uint8Array(2048).fill(7); // a packet buffer; the frame is its first 300 bytes
    for (let i = 0; i < 500; i++) {
      buffer[0] = i & 0xff;
      w.write(buffer, 300, i);
    }
    const small = Uint8Array.of(1, 2, 3);
    w.write(small);
    expect(w.frames).toBe(501);
    w.close();
    const p = readPcap(readFileSync(file));
    expect(p).toMatchObject({ snaplen: 100, linktype: 1, nanoseconds: false });
    expect(p.records).toHaveLength(501);
    expect(p.records.slice(0, 500).every((r, i) => r.length === 300 && r.data.length === 100 && r.data[0] === (i & 0xff) && r.timeUs === i)).toBe(true);
    expect(Array.from(p.records[500]!.data)).toEqual([1, 2, 3]);
  });

  it('reads big-endian and nanosecond files, and rejects broken ones', () => {
    const be = new Uint8Array(24 + 16 + 4);
    const v = new DataView(be.buffer);
    v.setUint32(0, 0xa1b23c4d, false); // nanoseconds, big-endian
    v.setUint16(4, 2, false);
    v.setUint16(6, 4, false);
    v.setUint32(16, 65535, false);
    v.setUint32(20, 1, false);
    v.setUint32(24, 5, false);
    v.setUint32(28, 2000, false);
    v.setUint32(32, 4, false);
    v.setUint32(36, 64, false);
    be.set([9, 8, 7, 6], 40);
    const p = readPcap(be);
    expect(p.nanoseconds).toBe(true);
    expect(p.records).toEqual([{ timeUs: 5_000_002, data: Uint8Array.of(9, 8, 7, 6), length: 64 }]);
    expect(() => readPcap(new Uint8Array(10))).toThrow(/shorter than the 24-byte header/);
    expect(() => readPcap(new Uint8Array(24))).toThrow(/bad magic/);
    expect(() => readPcap(be.subarray(0, 30))).toThrow(/truncated record header/);
    expect(() => readPcap(be.subarray(0, 42))).toThrow(/truncated record at/);
    expect(() => new PcapWriter('/nonexistent/dir/x.pcap')).toThrow(/ENOENT/);
  });
});

describe('pcap with packet-pool buffers', () => {
  it('round trip: frames written from buffer ids (with their timestamps) read back and load into buffers again', () => {
    dir = mkdtempSync(join(tmpdir(), 'pcap-'));
    const kernel = new FakeKernel();
    kernel.addDevice('0000:00:02.0', new EduModel());
    const dev = openDevice('0000:00:02.0', kernel.options);
    const pool = PacketPool.create(dev, { count: 64 });
    try {
      const ids = new Uint32Array(50);
      expect(pool.alloc(ids, 50)).toBe(50);
      const sizes = Array.from({ length: 50 }, (_, i) => 60 + ((i * 977) % 1455)); // 60-1514
      const file = join(dir, 'pool.pcap');
      const w = new PcapWriter(file);
      ids.forEach((id, i) => {
        const f = testFrame(sizes[i]!, parseMac('52:54:00:12:34:59'), parseMac('52:54:00:12:34:56'), 77);
        stamp(f, i);
        pool.write(id, f);
        pool.timestamp[id] = i === 0 ? 0 : 1_700_000_000_000 + i; // ms since the epoch; 0: not stamped, "now"
        w.writeBuffer(pool, id);
      });
      w.close();
      const p = readPcap(readFileSync(file));
      expect(p.records).toHaveLength(50);
      expect(p.records[0]!.timeUs).toBeGreaterThan(1_700_000_000_000_000);
      expect(p.records[3]!.timeUs).toBe(1_700_000_000_003_000);
      pool.free(ids, 50);
      // Back into buffers, as a replay would: the same bytes.
      const again = new Uint32Array(50);
      pool.alloc(again, 50);
      p.records.forEach((r, i) => pool.write(again[i]!, r.data));
      expect(Array.from(again, (id) => pool.length[id])).toEqual(sizes);
      expect(Array.from(again, (id) => readTestFrame(pool.data[id]!, pool.length[id])!.seq)).toEqual(sizes.map((_, i) => i));
      expect(Array.from(again).every((id) => readTestFrame(pool.data[id]!, pool.length[id])!.intact)).toBe(true);
      pool.free(again, 50);
    } finally {
      pool.close();
      dev.close();
      kernel.dispose();
    }
  });
});

describe('test frames', () => {
  it('carry magic, run id, sequence number and a checkable pattern', () => {
    const dst = parseMac('52:54:00:12:34:59');
    const src = parseMac('52:54:00:12:34:56');
    const f = testFrame(100, dst, src, 0xdeadbeef);
    stamp(f, 123456);
    expect(formatMac(f, 0)).toBe('52:54:00:12:34:59');
    expect(formatMac(f, 6)).toBe('52:54:00:12:34:56');
    expect(readTestFrame(f)).toEqual({ runId: 0xdeadbeef, seq: 123456, intact: true });
    expect(Array.from(f.subarray(14, 22))).toEqual(Array.from(testPrefix(0xdeadbeef)));
    f[TEST_HEADER + 5] = patternByte(TEST_HEADER + 5) ^ 1;
    expect(readTestFrame(f)!.intact).toBe(false);
    expect(readTestFrame(new Uint8Array(100))).toBeNull();
    expect(() => testFrame(59, dst, src, 1)).toThrow(/at least 60 bytes/);
    expect(() => parseMac('zz:00:00:00:00:00')).toThrow(/not a MAC address/);
  });
});
