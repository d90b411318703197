/**
 * `vfio net pktgen|capture|fwd` on an 82576 VF (igbvf) through the CLI's run() on the fake
 * kernel (the VF model wired to an 82574 model), as test/unit/cli-net.test.ts runs them on
 * e1000e and virtio-net ports: every frame intact and in order both ways, forwarding
 * zero-copy, and a PF that does not answer as a named error with its hint.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { E1000eModel, FakeKernel, IgbvfModel, wire } from '../../src/backend/fake/index.js';
import { openPort, pktgen, readPcap, readTestFrame } from '../../src/net/index.js';
import { run, type CliIo } from '../../src/cli/run.js';

let kernel: FakeKernel | null = null;
let dir = '';
afterEach(() => {
  if (kernel) {
    expect(kernel.faults).toEqual([]);
    expect(kernel.openFds, 'every port closed').toBe(0);
    kernel.dispose();
  }
  kernel = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = '';
});

/** Runs `vfio …` on the fake kernel. */
async function vfio(argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: { write: (s: string) => (stdout += s), isTTY: false }, stderr: { write: (s: string) => (stderr += s) }, env: {} };
  const [group, app, ...rest] = argv;
  const status = await run([group!, app!, '--root', kernel!.root, ...rest], io, { backend: kernel! });
  return { status, stdout, stderr };
}

/** An 82574 at 00:03.0 wired to an 82576 VF at 00:04.0 (MAC 52:54:00:00:00:02 assigned); with `fwd`, a second cable 00:05.0 (VF) - 00:06.0 (82574). */
function mixed(opts: { fwd?: boolean; pfUp?: boolean } = {}): IgbvfModel {
  kernel = new FakeKernel({ memlockLimit: 512 << 20 });
  dir = mkdtempSync(join(tmpdir(), 'cli-net-igbvf-'));
  const e = new E1000eModel({ mac: '52:54:00:00:00:01' });
  const v = new IgbvfModel({ mac: '52:54:00:00:00:02', pfUp: opts.pfUp ?? true });
  wire(e, v);
  kernel.addDevice('0000:00:03.0', e);
  kernel.addDevice('0000:00:04.0', v);
  if (opts.fwd) {
    const v2 = new IgbvfModel({ mac: '52:54:00:00:00:03' });
    const e2 = new E1000eModel({ mac: '52:54:00:00:00:04' });
    wire(v2, e2);
    kernel.addDevice('0000:00:05.0', v2);
    kernel.addDevice('0000:00:06.0', e2);
  }
  return v;
}

describe('vfio net: an igbvf port', () => {
  it('pktgen from the VF to capture on the e1000e, and back: every frame intact and in order', async () => {
    mixed();
    const file = join(dir, 'rx.pcap');
    const capturing = vfio(['net', 'capture', '-w', file, '--count', '1000', '--ring', '1024', '--json', '0000:00:03.0']);
    const gen = await vfio(['net', 'pktgen', '--count', '1000', '--size', '60-1514', '--dst', '52:54:00:00:00:01', '--json', '0000:00:04.0']);
    const cap = await capturing;
    expect(gen.status, gen.stderr).toBe(0);
    expect(cap.status, cap.stderr).toBe(0);
    expect(JSON.parse(gen.stdout)).toMatchObject({ ports: [{ address: '0000:00:04.0', driver: 'igbvf', mac: '52:54:00:00:00:02', interrupts: 'msix' }], frames: 1000, drops: 0 });
    expect(gen.stderr).toMatch(/^pktgen 0000:00:04.0 \(igbvf, 52:54:00:00:00:02, msix, interrupt\): 1000 frames/);
    const records = readPcap(readFileSync(file)).records;
    expect(records.map((r) => readTestFrame(r.data)!.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(records.every((r, i) => readTestFrame(r.data)!.intact && r.length === 60 + (i % 1455))).toBe(true);
    // The other way: capture on the VF (promiscuous there means every multicast; unicast must be the VF's address).
    const back = vfio(['net', 'capture', '--count', '500', '--json', '0000:00:04.0']);
    const gen2 = await vfio(['net', 'pktgen', '--count', '500', '--size', '60-1514', '--dst', '52:54:00:00:00:02', '--ring', '256', '--json', '0000:00:03.0']);
    expect(gen2.status, gen2.stderr).toBe(0);
    const c2 = await back;
    expect(c2.status, c2.stderr).toBe(0);
    expect(JSON.parse(c2.stdout)).toMatchObject({ frames: 500, received: 500, ports: [{ driver: 'igbvf' }] });
  });

  it('fwd between two VFs, an e1000e beyond each: one pool, zero-copy', async () => {
    mixed({ fwd: true });
    // gen (00:03.0, e1000e) -> 00:04.0 (VF) => 00:05.0 (VF) -> cap (00:06.0, e1000e): fwd in the middle.
    const gen = openPort('0000:00:03.0', { ...kernel!.options, rxDescriptors: 256 });
    const cap = openPort('0000:00:06.0', { ...kernel!.options, rxDescriptors: 1024, promiscuous: true });
    try {
      const forwarding = vfio(['net', 'fwd', '--duration', '0.5', '--ring', '256', '--json', '0000:00:04.0', '0000:00:05.0']);
      await pktgen(gen, { count: 500, sizes: [60, 1514], dst: Uint8Array.of(0x52, 0x54, 0, 0, 0, 2) });
      const r = await forwarding;
      expect(r.status, r.stderr).toBe(0);
      const f = JSON.parse(r.stdout);
      expect(f).toMatchObject({ command: 'net fwd', aToB: 500, bToA: 0, frames: 500, drops: 0, zeroCopy: true });
      expect(f.ports.map((p: { driver: string }) => p.driver)).toEqual(['igbvf', 'igbvf']);
      const ids = new Uint32Array(256);
      for (let n; (n = cap.rxBurst(ids, 256)) > 0; ) cap.pool.free(ids, n);
      expect(cap.stats().rx.frames).toBe(500);
    } finally {
      gen.close();
      cap.close();
    }
  });

  it('a PF that does not answer the mailbox: exit 1 with ERR_VFIO_NET_MBX_TIMEOUT and the hint', async () => {
    mixed({ pfUp: false });
    const r = await vfio(['net', 'pktgen', '--count', '1', '0000:00:04.0']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/the PF did not acknowledge VF_RESET within 1000 ms/);
    expect(r.stderr).toMatch(/hint: the PF is resetting or not started \(V2PMAILBOX.RSTI\)/);
  });
});
