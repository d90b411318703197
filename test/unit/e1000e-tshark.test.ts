/**
 * tshark (Debian's `tshark` package) reads what the capture app writes:
 *  - always (when tshark is installed): a pcap written by PcapWriter on the host;
 *  - with VFIO_E1000E_ARTIFACTS=<dir> set (after a guest run, e.g. `.vm-out/artifacts`): the
 *    pcap test/vm/e1000e-driver.test.ts captured from the real NIC, checked against the
 *    frame count, size and sequence numbers its manifest (e1000e-capture.json) records; and
 *    the one test/vm/virtio-net.test.ts captured on the virtio-net (virtio-capture.json: mixed
 *    sizes, each frame's listed).
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PcapWriter } from '../../src/net/index.js';
import { parseMac, stamp, testFrame } from '../../src/net/apps/frames.js';

const tshark = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
const haveTshark = tshark.status === 0;
const artifacts = process.env.VFIO_E1000E_ARTIFACTS;

/** Fields of every frame, one line each: frame length, EtherType, payload bytes (hex). */
function fields(file: string): string[][] {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=,', '-e', 'frame.len', '-e', 'eth.type', '-e', 'data.data'], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l.length)
    .map((l) => l.split(','));
}

/**
 * Checks the run's frames: count, length (one size, or each frame's), EtherType 0x88b5,
 * "VFIO" + run id, sequence 0..n-1 in order.
 */
function checkRun(file: string, frames: number, size: number | readonly number[], runId: number): void {
  const rows = fields(file);
  expect(rows).toHaveLength(frames);
  const prefix = `5646494f${runId.toString(16).padStart(8, '0')}`;
  rows.forEach(([len, type, data], i) => {
    expect(Number(len), `frame ${i + 1}`).toBe(typeof size === 'number' ? size : size[i]);
    expect(type).toBe('0x88b5');
    expect(data!.slice(0, 16)).toBe(prefix);
    expect(parseInt(data!.slice(16, 24), 16), `frame ${i + 1}`).toBe(i);
  });
}

describe.skipIf(!haveTshark)('tshark reads the capture app\'s pcap files', () => {
  it('a file PcapWriter wrote on the host', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tshark-'));
    try {
      const file = join(dir, 'host.pcap');
      const w = new PcapWriter(file);
      const f = testFrame(90, parseMac('52:54:00:12:34:59'), parseMac('52:54:00:12:34:56'), 0xabcdef01);
      for (let i = 0; i < 50; i++) {
        stamp(f, i);
        w.write(f);
      }
      w.close();
      checkRun(file, 50, 90, 0xabcdef01);
      const summary = spawnSync('tshark', ['-r', file, '-c', '1'], { encoding: 'utf8' });
      expect(summary.stdout).toMatch(/52:54:00:12:34:56 → 52:54:00:12:34:59|RealtekU_12:34:56 → RealtekU_12:34:59/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!artifacts)('the pcap the guest captured from the real NIC (VFIO_E1000E_ARTIFACTS)', () => {
    const manifest = join(artifacts!, 'e1000e-capture.json');
    expect(existsSync(manifest), `${manifest}: run the guest suite first (npm run test:vm)`).toBe(true);
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { file: string; frames: number; size: number; runId: number; pps: number };
    checkRun(join(artifacts!, m.file), m.frames, m.size, m.runId);
    console.log(`tshark -r ${m.file}: ${m.frames} frames of ${m.size} bytes, sequence 0..${m.frames - 1} in order (guest pktgen: ${m.pps} pps)`);
  });

  it.skipIf(!artifacts)('the pcap the guest captured on the virtio-net (VFIO_E1000E_ARTIFACTS, virtio-capture.json)', () => {
    const manifest = join(artifacts!, 'virtio-capture.json');
    expect(existsSync(manifest), `${manifest}: run the guest suite first (npm run test:vm)`).toBe(true);
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { file: string; frames: number; sizes: number[]; runId: number; mode: string };
    expect(m.sizes).toHaveLength(m.frames);
    checkRun(join(artifacts!, m.file), m.frames, m.sizes, m.runId);
    console.log(`tshark -r ${m.file}: ${m.frames} frames of ${Math.min(...m.sizes)}-${Math.max(...m.sizes)} bytes, sequence 0..${m.frames - 1} in order (${m.mode})`);
  });
});
