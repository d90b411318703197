/**
 * DMA mapping, host side: builds the static C programs and the plan into bench/results/dma/
 * (the guest sees the repo through its share), boots the QEMU guest on the bench-dma command
 * (test/vm/commands/bench-dma.sh → bench/dma-guest.ts), and reads the result the guest
 * leaves in the out0 share. The method is in dma-guest.ts.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildC, benchDir } from './cbuild.js';
import type { DmaGuestResult, DmaPlan, DmaRow } from './dma-guest.js';
import type { BenchOptions, Ratio, Skipped } from './section.js';

export interface DmaResult {
  guest: DmaGuestResult;
  /** run.sh from start to exit: preparation, boot, the benchmark, power-off. */
  vmWallS: number;
  plan: DmaPlan;
}

const repo = join(benchDir, '..');
const KiB = 1024;
const MiB = KiB * KiB;
const GiB = KiB * MiB;

// Iterations per round, fewer as each one grows (a 1 GiB map+unmap takes ~0.1 s under TCG):
// the whole guest run stays near a minute.
const FULL: DmaPlan['map'] = [
  [4 * KiB, 500], [16 * KiB, 500], [64 * KiB, 300], [256 * KiB, 200], [MiB, 100],
  [4 * MiB, 30], [16 * MiB, 10], [64 * MiB, 5], [256 * MiB, 3], [GiB, 2],
];
const FULL_ALLOC: DmaPlan['alloc'] = [[4 * KiB, 200], [64 * KiB, 100], [MiB, 20], [16 * MiB, 3]];

function plan(smoke: boolean, dir: string): DmaPlan {
  const rel = (f: string) => relative(repo, join(dir, f));
  return {
    rounds: smoke ? 1 : 4,
    map: smoke ? [[4 * KiB, 20], [MiB, 5], [64 * MiB, 2]] : FULL,
    alloc: smoke ? [[4 * KiB, 10], [MiB, 3]] : FULL_ALLOC,
    mapPages: '2m',
    allocPages: '4k',
    bin: rel('dma-map'),
    syscallBin: rel('syscall-cost'),
  };
}

function hasQemu(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v qemu-system-x86_64'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs the guest; prints the guest's progress lines, and the console's tail if it fails. */
function runGuest(outDir: string): Promise<number> {
  const env: NodeJS.ProcessEnv = { ...process.env, VFIO_VM_OUT: outDir, VFIO_VM_TIMEOUT: '10m' };
  // The plan and programs live in this repo: the guest must share it, not another tree.
  delete env.VFIO_VM_SHARE;
  // TSC as the guest's clock: with the default HPET, every clock read on both sides is an
  // emulated device access, a fixed cost that would pull the ratios toward 1.
  env.VFIO_VM_APPEND = `${env.VFIO_VM_APPEND ?? ''} clocksource=tsc tsc=reliable`.trim();
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [join(repo, 'test/vm/harness/run.sh'), 'bench-dma'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let console = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      console += d;
      for (const line of d.split('\n')) if (/^bench-dma:/.test(line.trim())) process.stdout.write(`  guest: ${line.trim()}\n`);
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) return resolve((Date.now() - t0) / 1000);
      process.stdout.write(console.split('\n').slice(-30).join('\n') + '\n');
      reject(new Error(`bench-dma guest run exited ${code}`));
    });
  });
}

export async function dmaBench(opts: BenchOptions): Promise<DmaResult | Skipped> {
  if (!opts.vm) return { skipped: '--no-vm' };
  if (!hasQemu()) return { skipped: 'qemu-system-x86_64 not found (test/vm/harness/README.md lists the host packages)' };
  const dir = join(benchDir, 'results', 'dma');
  const outDir = join(benchDir, 'results', 'vm');
  mkdirSync(dir, { recursive: true });
  buildC('dma-map', join(dir, 'dma-map'), { static: true });
  buildC('syscall-cost', join(dir, 'syscall-cost'), { static: true });
  const p = plan(opts.smoke, dir);
  writeFileSync(join(dir, 'plan.json'), JSON.stringify(p) + '\n');
  const result = join(outDir, 'artifacts', 'dma.json');
  rmSync(result, { force: true });
  const vmWallS = await runGuest(outDir);
  const guest = JSON.parse(readFileSync(result, 'utf8')) as DmaGuestResult;
  return { guest, vmWallS, plan: p };
}

export function sizeName(n: number): string {
  return n >= GiB ? `${n / GiB} GiB` : n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`;
}

/** Ops per second and the bytes they cover, from the median op time (TCG has long outliers). */
function rates(r: DmaRow, side: 'js' | 'c') {
  const perS = 1e9 / r[side].median;
  return { perS, gibPerS: (perS * r.size) / GiB };
}

/** JS time ÷ C time per op, medians. */
export const dmaRatio = (r: DmaRow) => r.js.median / r.c.median;

function table(rows: DmaRow[]): string[] {
  const us = (ns: number) => (ns / 1000).toFixed(1).padStart(10);
  const n = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1)).padStart(9);
  const head = ['JS µs/op', 'C µs/op', 'JS op/s', 'C op/s', 'JS GiB/s', 'C GiB/s'];
  return [
    `${'size'.padEnd(8)}${head.map((h, i) => h.padStart(i < 2 ? 10 : 9)).join('')}${'JS/C'.padStart(7)}`,
    ...rows.map((r) => {
      const js = rates(r, 'js');
      const c = rates(r, 'c');
      return `${sizeName(r.size).padEnd(8)}${us(r.js.median)}${us(r.c.median)}${n(js.perS)}${n(c.perS)}${js.gibPerS.toFixed(2).padStart(9)}${c.gibPerS.toFixed(2).padStart(9)}${dmaRatio(r).toFixed(2).padStart(7)}`;
    }),
  ];
}

export function formatDma(r: DmaResult | Skipped): string {
  if ('skipped' in r) return `DMA mapping: skipped (${r.skipped})`;
  const g = r.guest;
  const cal = g.calibration;
  return [
    `DMA map+unmap in the guest (kernel ${g.kernel}, QEMU TCG, emulated VT-d, edu ${g.device}; ${g.mapPages === '2m' ? '2 MiB hugetlb' : '4 KiB'} pages), ` +
      `medians over ${g.rounds} alternating rounds; op = one MAP_DMA + its UNMAP_DMA`,
    ...table(g.map),
    '',
    `allocDma + free (memory + IOMMU, ${g.allocPages === '2m' ? '2 MiB hugetlb' : '4 KiB'} pages) against C mmap+populate+map+unmap+munmap; op = one of each`,
    ...table(g.alloc),
    `calibration (guest, µs per call, C / JS): empty syscall ${(cal.cReadNs / 1e3).toFixed(1)} / ${(cal.jsEventfdReadNs / 1e3).toFixed(1)} (through the addon); ` +
      `clock read ${(cal.cClockNs / 1e3).toFixed(2)} / ${(cal.jsClockNs / 1e3).toFixed(2)}; fstat (what the addon's per-call fd-kind check cost before handles) ${(cal.cFstatNs / 1e3).toFixed(1)}`,
    `guest wall time: ${r.vmWallS.toFixed(1)} s for run.sh (benchmark itself ${(g.wallMs / 1000).toFixed(1)} s)`,
  ].join('\n');
}

export function dmaRatios(r: DmaResult | Skipped): Ratio[] {
  if ('skipped' in r) return [];
  return [
    ...r.guest.map.map((x) => ({ figure: `map+unmap ${sizeName(x.size)}`, ratio: dmaRatio(x), target: 1.1 })),
    ...r.guest.alloc.map((x) => ({ figure: `allocDma+free ${sizeName(x.size)}`, ratio: dmaRatio(x) })),
  ];
}
