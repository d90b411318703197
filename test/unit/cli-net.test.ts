/**
 * `vfio net pktgen|capture|fwd` through the CLI's run() on the fake kernel (82574 models on
 * the fake Ethernet, the kernel passed as the backend and its tree as --root): help, the
 * JSON summary's shape, live lines (only on a terminal, or with --interval; never with
 * --json), Ctrl-C, the named errors and the usage errors, and the bin spawned through tsx.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeKernel, E1000eModel, EduModel, VirtioNetModel, wire } from '../../src/backend/fake/index.js';
import { openPort, pktgen, readPcap, readTestFrame, type AppProgress } from '../../src/net/index.js';
import { run, type CliIo } from '../../src/cli/run.js';
import { formatLiveLine, formatRate } from '../../src/cli/net-format.js';
import { makeStyle, stripAnsi } from '../../src/cli/output.js';

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

interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `vfio …` on the fake kernel (when there is one); `tty` makes stdout a terminal. */
async function vfio(argv: string[], opts: { tty?: boolean; env?: Record<string, string>; signal?: AbortSignal } = {}): Promise<Result> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s), isTTY: opts.tty ?? false },
    stderr: { write: (s: string) => (stderr += s) },
    env: opts.env ?? {},
    ...(opts.signal && { signal: opts.signal }),
  };
  const [group, app, ...rest] = argv;
  const args = kernel && app && !app.startsWith('-') ? [group!, app, '--root', kernel.root, ...rest] : argv;
  const status = await run(args, io, kernel ? { backend: kernel } : {});
  return { status, stdout, stderr };
}

/** Two 82574 models on one cable at 0000:00:03.0 and 00:04.0 (and more, unwired, after them). */
function nics(n = 2): E1000eModel[] {
  kernel = new FakeKernel({ memlockLimit: 512 << 20 });
  dir = mkdtempSync(join(tmpdir(), 'cli-net-'));
  const models = Array.from({ length: n }, (_, i) => new E1000eModel({ mac: `52:54:00:00:00:0${i + 1}` }));
  models.forEach((m, i) => kernel!.addDevice(`0000:00:0${i + 3}.0`, m));
  wire(models[0]!, models[1]!);
  return models;
}

describe('vfio net: help', () => {
  it('vfio net --help lists the apps; vfio net alone is a usage error; each app has its help', async () => {
    const group = await vfio(['net', '--help']);
    expect(group.status).toBe(0);
    expect(group.stdout).toMatch(/^Usage: vfio net pktgen\|capture\|fwd/);
    for (const app of ['net pktgen', 'net capture', 'net fwd']) expect(group.stdout).toContain(`  ${app}`);
    expect(await vfio(['help', 'net'])).toMatchObject({ status: 0, stdout: group.stdout });
    expect(await vfio(['net'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/^vfio net: expects a command: pktgen, capture, fwd/) });
    expect(await vfio(['net', 'blast'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/^vfio net: unknown command 'blast'/) });
    expect((await vfio(['--help'])).stdout).toMatch(/^ {2}net +packet apps/m);
    for (const [app, flag] of [['pktgen', '--size SIZES'], ['capture', '-w, --write FILE'], ['fwd', '--rewrite']] as const) {
      for (const argv of [['net', app, '--help'], ['help', 'net', app], ['net', app, '0000:00:03.0', '-h']]) {
        const r = await vfio(argv);
        expect(r.status, argv.join(' ')).toBe(0);
        expect(r.stdout).toMatch(new RegExp(`^Usage: vfio net ${app} `));
        for (const f of [flag, '--json', '--interval SEC', '--ring N', '--unsafe-noiommu']) expect(r.stdout).toContain(f);
      }
    }
  });
});

describe('vfio net: the apps on the fake kernel', () => {
  it('pktgen --size 60-1514 to capture -w: one JSON object each, the pcap holds every frame intact and in order', async () => {
    nics();
    const file = join(dir, 'rx.pcap');
    // capture's port is open (and receiving) once run() returns: its first await comes after openPorts.
    const capturing = vfio(['net', 'capture', '-w', file, '--count', '2000', '--ethertype', '0x88b5', '--ring', '2048', '--json', '0000:00:04.0']);
    const gen = await vfio(['net', 'pktgen', '--count', '2000', '--size', '60-1514', '--dst', '52:54:00:00:00:02', '--run-id', '77', '--json', '0000:00:03.0']);
    const cap = await capturing;
    expect(gen.status, gen.stderr).toBe(0);
    expect(cap.status, cap.stderr).toBe(0);
    const g = JSON.parse(gen.stdout);
    const c = JSON.parse(cap.stdout);
    expect(g).toMatchObject({
      command: 'net pktgen',
      ports: [{ address: '0000:00:03.0', driver: 'e1000e', mac: '52:54:00:00:00:01', interrupts: 'msix', rxMode: 'interrupt' }],
      frames: 2000,
      drops: 0,
      reason: 'count',
      runId: 77,
      sizes: { min: 60, max: 1514 },
      stats: { tx: { frames: 2000 } },
    });
    for (const k of ['seconds', 'framesPerSecond', 'bitsPerSecond', 'ringFull', 'poolEmpty', 'bytes']) expect(typeof g[k], k).toBe('number');
    expect(c).toMatchObject({ command: 'net capture', file, frames: 2000, bytes: g.bytes, received: 2000, filtered: 0, reason: 'count' });
    expect(gen.stderr).toMatch(/^pktgen 0000:00:03.0 \(e1000e, 52:54:00:00:00:01, msix, interrupt\): 2000 frames of 60-1514 bytes to 52:54:00:00:00:02\n$/);
    const records = readPcap(readFileSync(file)).records;
    expect(records.map((r) => readTestFrame(r.data)!.seq)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(records.every((r, i) => readTestFrame(r.data)!.intact && r.length === 60 + (i % 1455))).toBe(true);
  });

  it('live lines: one per interval on a terminal (coloured) or with --interval, none through a pipe or with --json', async () => {
    nics();
    const tty = await vfio(['net', 'pktgen', '--rate', '2000', '--duration', '1.3', '0000:00:03.0'], { tty: true });
    expect(tty.status, tty.stderr).toBe(0);
    const lines = tty.stdout.trimEnd().split('\n');
    expect(lines.length).toBe(3); // one live line (after 1 s), then the two summary lines
    expect(stripAnsi(lines[0]!)).toMatch(/^ {2}0\.00-1\.\d\d s +[\d.]+ k?frames\/s +[\d.]+ [kM]?bit\/s {2}drops 0 {2}ring-full 0 {2}total \d+$/);
    expect(lines[1]).toContain('\x1b[1m'); // the summary in bold: colour on a terminal
    expect(stripAnsi(lines[1]!)).toMatch(/^sent \d+ frames \(\d+ bytes\) in 1\.\d{3} s: .*frames\/s, .*bit\/s$/);
    expect(stripAnsi(lines[2]!)).toMatch(/stopped by duration$/);
    const noColor = await vfio(['net', 'pktgen', '--count', '10', '0000:00:03.0'], { tty: true, env: { NO_COLOR: '1' } });
    expect(noColor.stdout).not.toContain('\x1b[');
    const piped = await vfio(['net', 'pktgen', '--count', '300', '--rate', '3000', '0000:00:03.0']);
    expect(piped.stdout.trimEnd().split('\n')).toHaveLength(2); // the summary alone
    const asked = await vfio(['net', 'pktgen', '--count', '300', '--rate', '3000', '--interval', '0.02', '0000:00:03.0']);
    expect(asked.stdout.split('\n').filter((l) => /frames\/s .* ring-full /.test(l)).length).toBeGreaterThan(2);
    const json = await vfio(['net', 'pktgen', '--count', '100', '--json', '--interval', '0.01', '0000:00:03.0'], { tty: true });
    expect(JSON.parse(json.stdout)).toMatchObject({ frames: 100 }); // the whole of stdout is one object
  });

  it('Ctrl-C stops an app, which still prints its summary and exits 0', async () => {
    nics();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const r = await vfio(['net', 'capture', '--json', '0000:00:04.0'], { signal: controller.signal });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ command: 'net capture', file: null, frames: 0, reason: 'signal' });
    expect(r.stderr).toMatch(/^capture 0000:00:04.0 .* \(counting only\)$/m);
  });

  it('fwd A B: zero-copy through one pool, JSON summary of both directions', async () => {
    // gen <-> A (fwd) and B (fwd) <-> cap: two cables, the forwarder in the middle.
    const [, , mB, mCap] = nics(4); // nics() wired 00:03.0 (gen) to 00:04.0 (A)
    wire(mB!, mCap!);
    const gen = openPort('0000:00:03.0', { ...kernel!.options, rxDescriptors: 1024 });
    const cap = openPort('0000:00:06.0', { ...kernel!.options, promiscuous: true, rxDescriptors: 1024 });
    try {
      const forwarding = vfio(['net', 'fwd', '--duration', '0.5', '--ring', '1024', '--json', '0000:00:04.0', '0000:00:05.0']);
      await pktgen(gen, { count: 500, sizes: [60, 1514], dst: cap.mac });
      const r = await forwarding;
      expect(r.status, r.stderr).toBe(0);
      const f = JSON.parse(r.stdout);
      expect(f).toMatchObject({ command: 'net fwd', aToB: 500, bToA: 0, frames: 500, bytes: 250 * (60 + 1514), drops: 0, zeroCopy: true, reason: 'duration' });
      expect(f.ports.map((p: { address: string }) => p.address)).toEqual(['0000:00:04.0', '0000:00:05.0']);
      expect(cap.stats().hw.goodPacketsReceived).toBe(500);
    } finally {
      gen.close();
      cap.close();
    }
  });
});

describe('vfio net: errors', () => {
  it('a device that is not a supported NIC: ERR_VFIO_NET_UNSUPPORTED with its hint, status 1 (JSON too)', async () => {
    nics();
    kernel!.addDevice('0000:00:02.0', new EduModel());
    const r = await vfio(['net', 'pktgen', '--count', '1', '0000:00:02.0']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^vfio net pktgen: openPort \(0000:00:02\.0\): the device is 1234:11e8 \(class 0x00ff00\), not a NIC this package drives\n {2}hint: supported: 8086:10d3 \(Intel 82574L, e1000e\)/);
    const j = await vfio(['net', 'fwd', '--json', '0000:00:03.0', '0000:00:02.0']);
    expect(j.status).toBe(1);
    expect(JSON.parse(j.stdout)).toMatchObject({ error: { code: 'ERR_VFIO_NET_UNSUPPORTED', device: '0000:00:02.0', hint: expect.stringMatching(/8086:10d3/) } });
    const missing = await vfio(['net', 'capture', '0000:00:09.0']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^vfio net capture: .*0000:00:09\.0/);
    expect(missing.stderr).toMatch(/hint: /);
  });

  it('bad flags and addresses: the reason and the usage, status 2 (all checked before a device is opened but a size beyond the port\'s largest frame)', async () => {
    nics();
    const cases: [string[], RegExp][] = [
      [['net', 'pktgen'], /^vfio net pktgen: expects one PCI address\nUsage: vfio net pktgen /],
      [['net', 'pktgen', 'eth0'], /is not a PCI address/],
      [['net', 'pktgen', '--size', '59', '0000:00:03.0'], /--size: frames have at least 60 bytes .* got 59/],
      [['net', 'pktgen', '--size', '1514-60', '0000:00:03.0'], /--size: frame size range 1514-60: the minimum 1514 is larger than the maximum 60/],
      [['net', 'pktgen', '--size', '64,big', '0000:00:03.0'], /--size: frame size: "big" is not a whole number of bytes/],
      [['net', 'pktgen', '--size', '60-4000', '0000:00:03.0'], /--size: 0000:00:03\.0 takes frames of at most 2048 bytes, got 4000/],
      [['net', 'pktgen', '--count', 'x', '0000:00:03.0'], /--count must be a whole number/],
      [['net', 'pktgen', '--dst', 'nope', '0000:00:03.0'], /--dst: not a MAC address/],
      [['net', 'pktgen', '--ring', '12', '0000:00:03.0'], /--ring must be a multiple of 8/],
      [['net', 'pktgen', '--interrupts', 'none', '--mode', 'interrupt', '0000:00:03.0'], /--mode interrupt needs interrupts/],
      [['net', 'pktgen', '--interval', 'often', '0000:00:03.0'], /--interval must be a number of seconds/],
      [['net', 'pktgen', '--bogus', '0000:00:03.0'], /Unknown option '--bogus'/],
      [['net', 'capture', '--ethertype', '0x8', '0000:00:04.0'], /--ethertype must be hex bytes/],
      [['net', 'capture', '--duration', '0', '0000:00:04.0'], /--duration must be a positive number of seconds/],
      [['net', 'fwd', '0000:00:03.0'], /^vfio net fwd: expects 2 PCI addresses, got 1/],
      [['net', 'fwd', '0000:00:03.0', '00:03.0'], /the ports must be different devices/],
      [['net', 'fwd', '--peer-a', '02:00:00:00:00:01', '0000:00:03.0', '0000:00:04.0'], /--peer-a and --peer-b go with --rewrite/],
    ];
    for (const [argv, message] of cases) {
      const r = await vfio(argv);
      expect(r.status, argv.join(' ')).toBe(2);
      expect(r.stderr, argv.join(' ')).toMatch(message);
      expect(r.stderr).toMatch(/Run 'vfio net \w+ --help' for more\./);
      expect(r.stdout).toBe('');
    }
  });
});

describe('vfio net: a virtio-net port', () => {
  /** An 82574 at 00:03.0 wired to a virtio-net at 00:04.0; with `fwd`, a second cable 00:05.0 (82574) - 00:06.0 (virtio-net). */
  function mixed(fwd = false): void {
    kernel = new FakeKernel({ memlockLimit: 512 << 20 });
    dir = mkdtempSync(join(tmpdir(), 'cli-net-'));
    const e = new E1000eModel({ mac: '52:54:00:00:00:01' });
    const v = new VirtioNetModel({ mac: '52:54:00:00:00:02' });
    wire(e, v);
    kernel.addDevice('0000:00:03.0', e);
    kernel.addDevice('0000:00:04.0', v);
    if (fwd) {
      const e2 = new E1000eModel({ mac: '52:54:00:00:00:03' });
      const v2 = new VirtioNetModel({ mac: '52:54:00:00:00:04' });
      wire(e2, v2);
      kernel.addDevice('0000:00:05.0', e2);
      kernel.addDevice('0000:00:06.0', v2);
    }
  }

  it('pktgen from the virtio port to capture on the e1000e, and back: every frame intact and in order', async () => {
    mixed();
    const file = join(dir, 'rx.pcap');
    const capturing = vfio(['net', 'capture', '-w', file, '--count', '1000', '--ring', '1024', '--json', '0000:00:03.0']);
    const gen = await vfio(['net', 'pktgen', '--count', '1000', '--size', '60-1514', '--dst', '52:54:00:00:00:01', '--ring', '256', '--json', '0000:00:04.0']);
    const cap = await capturing;
    expect(gen.status, gen.stderr).toBe(0);
    expect(cap.status, cap.stderr).toBe(0);
    expect(JSON.parse(gen.stdout)).toMatchObject({ ports: [{ address: '0000:00:04.0', driver: 'virtio-net', mac: '52:54:00:00:00:02', interrupts: 'msix' }], frames: 1000, drops: 0 });
    expect(gen.stderr).toMatch(/^pktgen 0000:00:04.0 \(virtio-net, 52:54:00:00:00:02, msix, interrupt\): 1000 frames/);
    const records = readPcap(readFileSync(file)).records;
    expect(records.map((r) => readTestFrame(r.data)!.seq)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(records.every((r, i) => readTestFrame(r.data)!.intact && r.length === 60 + (i % 1455))).toBe(true);
    // The other way: capture on the virtio port.
    const back = vfio(['net', 'capture', '--count', '500', '--ring', '256', '--json', '0000:00:04.0']);
    const gen2 = await vfio(['net', 'pktgen', '--count', '500', '--size', '60-1514', '--dst', '52:54:00:00:00:02', '--ring', '256', '--json', '0000:00:03.0']);
    expect(gen2.status, gen2.stderr).toBe(0);
    const c2 = await back;
    expect(c2.status, c2.stderr).toBe(0);
    expect(JSON.parse(c2.stdout)).toMatchObject({ frames: 500, received: 500, ports: [{ driver: 'virtio-net' }] });
  });

  it('fwd between a virtio port and an e1000e: one pool with the header room, zero-copy', async () => {
    mixed(true);
    // gen (00:03.0, e1000e) -> 00:04.0 (virtio) => 00:05.0 (e1000e) -> cap (00:06.0, virtio): fwd in the middle.
    const gen = openPort('0000:00:03.0', { ...kernel!.options, rxDescriptors: 1024 });
    const cap = openPort('0000:00:06.0', { ...kernel!.options, rxDescriptors: 256 });
    try {
      const forwarding = vfio(['net', 'fwd', '--duration', '0.5', '--ring', '256', '--json', '0000:00:04.0', '0000:00:05.0']);
      await pktgen(gen, { count: 500, sizes: [60, 1514], dst: cap.mac });
      const r = await forwarding;
      expect(r.status, r.stderr).toBe(0);
      const f = JSON.parse(r.stdout);
      expect(f).toMatchObject({ command: 'net fwd', aToB: 500, bToA: 0, frames: 500, drops: 0, zeroCopy: true });
      expect(f.ports.map((p: { driver: string }) => p.driver)).toEqual(['virtio-net', 'e1000e']);
      const ids = new Uint32Array(256);
      for (let n; (n = cap.rxBurst(ids, 256)) > 0; ) cap.pool.free(ids, n);
      expect(cap.stats().rx.frames).toBe(500);
    } finally {
      gen.close();
      cap.close();
    }
  });

  it("the default --ring (512) is more than QEMU's virtio queues offer (256): a named error saying what to ask for", async () => {
    mixed();
    const r = await vfio(['net', 'pktgen', '--count', '1', '0000:00:04.0']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ERR_VFIO_VIRTIO_QUEUE_SIZE|512 entries asked, the device offers at most 256/);
    expect(r.stderr).toMatch(/hint: ask for rxDescriptors\/txDescriptors up to 256/);
  });
});

describe('vfio net: the live line', () => {
  const p: AppProgress = {
    elapsed: 3,
    interval: 1,
    frames: 12_345,
    bytes: 12_345 * 60,
    framesPerSecond: 12_345,
    bitsPerSecond: 12_345 * 64 * 8,
    drops: 2,
    ringFull: 7,
    total: { frames: 40_000, bytes: 2_400_000, drops: 3, ringFull: 9 },
  };
  it('shows the interval, frames/s, bit/s, drops, ring-full and the total; drops red, ring-full yellow in colour', () => {
    expect(formatLiveLine(p, makeStyle(false))).toBe('  2.00-3.00 s   12.3 kframes/s   6.32 Mbit/s  drops 2  ring-full 7  total 40000') // rates padded: columns line up;
    const coloured = formatLiveLine(p, makeStyle(true));
    expect(coloured).toContain('\x1b[31mdrops 2\x1b[39m');
    expect(coloured).toContain('\x1b[33mring-full 7\x1b[39m');
    expect(formatLiveLine({ ...p, drops: 0, ringFull: 0 }, makeStyle(true))).not.toContain('\x1b[');
    expect(stripAnsi(coloured)).toBe(formatLiveLine(p, makeStyle(false)));
  });
  it('formats rates with SI prefixes', () => {
    expect([0, 999, 1000, 12_345, 1.5e6, 9.87e9].map(formatRate)).toEqual(['0 ', '999 ', '1.00 k', '12.3 k', '1.50 M', '9.87 G']);
  });
});

describe('vfio net: the bin', () => {
  it('--help exits 0, a usage error exits 2 without a stack trace', () => {
    const tsx = join(__dirname, '../../node_modules/tsx/dist/cli.mjs');
    const main = join(__dirname, '../../src/cli/main.ts');
    const ok = spawnSync(process.execPath, [tsx, main, 'net', 'pktgen', '--help'], { encoding: 'utf8', timeout: 60_000 });
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^Usage: vfio net pktgen/);
    const bad = spawnSync(process.execPath, [tsx, main, 'net', 'capture', '--ring', '12', '0000:00:03.0'], { encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^vfio net capture: --ring must be a multiple of 8/);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  });
});
