/**
 * Register access: ns per 32-bit read and write through Region's accessors, against C
 * volatile accesses to the same kind of mapping, measured in the same run. The mapping is
 * memory-backed (a file), so this measures the access path, not the device: an MMIO round
 * trip on hardware costs hundreds of ns, and the JS overhead is also reported as a fraction
 * of 500 ns.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon, nativeBackend } from '../src/backend/native.js';
import { Region } from '../src/model/region.js';
import { VFIO_REGION_INFO_FLAG_MMAP, VFIO_REGION_INFO_FLAG_READ, VFIO_REGION_INFO_FLAG_WRITE } from '../src/uapi/vfio-region.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface RegisterRow {
  op: string;
  jsNs: number;
  cNs: number;
  ratio: number;
  overheadNs: number;
  ofMmio500ns: number;
}

export interface RegisterResult {
  accesses: number;
  rows: RegisterRow[];
  cPlainWriteNs: number;
}

export function registerBench(N: number): RegisterResult {
  const work = mkdtempSync(join(tmpdir(), 'vfio-bench-'));
  try {
  // A memfd: the native mmap maps no regular file. The C program opens the same memory by path.
  const memfd = loadAddon().memfd(4096);
  const file = `/proc/${process.pid}/fd/${memfd.fd}`;

  // C baseline, built here so it runs on this machine's compiler and CPU.
  const bin = join(work, 'registers');
  execFileSync('cc', ['-O2', '-o', bin, join(here, 'c/registers.c')]);
  const c = JSON.parse(execFileSync(bin, [file, String(N)], { encoding: 'utf8' })) as { readNs: number; writeNs: number; writeFencedNs: number };

  const backend = nativeBackend();
  const fd = memfd;
  const region = new Region(backend, fd, 'bench', 'BAR0', {
    argsz: 32,
    flags: VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE | VFIO_REGION_INFO_FLAG_MMAP,
    index: 0,
    size: 4096n,
    offset: 0n,
    caps: { msixMappable: false },
  }, true);

  const time = (fn: (n: number) => number, n: number) => {
    fn(Math.min(n, 100_000)); // let the JIT settle
    const t0 = process.hrtime.bigint();
    fn(n);
    return Number(process.hrtime.bigint() - t0) / n;
  };
  const read = (n: number) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum = (sum + region.read32((i & 7) * 16)) | 0;
    return sum;
  };
  const write = (n: number) => {
    for (let i = 0; i < n; i++) region.write32((i & 7) * 16, i >>> 0);
    return 0;
  };
  const js = { readNs: time(read, N), writeNs: time(write, N) };
  region.close();
  backend.close(fd);

  const rows = [
    { op: 'read32', jsNs: js.readNs, cNs: c.readNs },
    // Atomics.store is a full barrier (xchg on x86): compare it with a fenced C store.
    { op: 'write32', jsNs: js.writeNs, cNs: c.writeFencedNs },
  ].map((r) => ({ ...r, ratio: r.jsNs / r.cNs, overheadNs: r.jsNs - r.cNs, ofMmio500ns: (r.jsNs - r.cNs) / 500 }));

  for (const r of rows) if (!(r.jsNs > 0 && r.cNs > 0)) throw new Error(`bench: ${r.op} measured nothing`);
  return { accesses: N, rows, cPlainWriteNs: c.writeNs };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export function formatRegisters(r: RegisterResult): string {
  const lines = [
    `register access, ${r.accesses.toLocaleString('en')} accesses each (memory-backed mapping; C built with cc -O2)`,
    'op       JS ns   C ns   JS/C   JS overhead ns   overhead / 500 ns MMIO',
    ...r.rows.map(
      (x) =>
        `${x.op.padEnd(8)} ${x.jsNs.toFixed(2).padStart(5)} ${x.cNs.toFixed(2).padStart(6)} ${x.ratio.toFixed(2).padStart(6)} ${x.overheadNs.toFixed(2).padStart(16)} ${(100 * x.ofMmio500ns).toFixed(1).padStart(20)}%`,
    ),
    `(write32 is compared with a fenced C store; a plain one takes ${r.cPlainWriteNs.toFixed(2)} ns)`,
  ];
  return lines.join('\n');
}
