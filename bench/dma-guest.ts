/**
 * The guest half of the DMA mapping benchmark (test/vm/commands/bench-dma.sh runs it as root
 * on the real kernel; bench/dma.ts prepares the plan and reads the result). For each size,
 * JS and C take turns, round by round, on the same edu device's group, which only one of
 * them can hold at a time:
 *  - "map": VFIO_IOMMU_MAP_DMA + UNMAP_DMA through the backend on a container opened by the
 *    library, of memory allocated once, against C issuing the same two ioctls;
 *  - "alloc": device.allocDma + buf.free (memory, mapping, IOVA bookkeeping), against C doing
 *    mmap+populate+map and unmap+munmap.
 * usage: dma-guest.ts PLAN.json OUT.json
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { openDevice, findPciDevices, groupMembers, type Device } from '../src/index.js';
import { nativeBackend } from '../src/backend/native.js';
import { median } from './stats.js';

export type Mode = 'map' | 'alloc';
/** The memory's page size: 4 KiB pages, or 2 MiB hugetlbfs pages (bench-dma.sh reserves them). */
export type Pages = '4k' | '2m';

export interface DmaPlan {
  rounds: number;
  /** [size, iterations per round] */
  map: [number, number][];
  alloc: [number, number][];
  mapPages: Pages;
  allocPages: Pages;
  /** Static C programs (dma-map.c, syscall-cost.c), relative to the repo root (the guest's cwd). */
  bin: string;
  syscallBin: string;
}

/**
 * ns per call: the floor under a native call (one empty syscall), and an fstat: what the addon's
 * per-call fd-kind check cost before files were handles (kinds are now recorded once, at open).
 */
export interface Calibration {
  jsEventfdReadNs: number;
  cReadNs: number;
  cFstatNs: number;
  jsClockNs: number;
  cClockNs: number;
}

/** ns per map+unmap (or allocDma+free) pair: the median, and the mean over every pair. */
export interface DmaTimes {
  median: number;
  mean: number;
}

export interface DmaRow {
  size: number;
  iterations: number;
  js: DmaTimes;
  c: DmaTimes;
}

export interface DmaGuestResult {
  kernel: string;
  thp: string;
  clocksource: string;
  mapPages: Pages;
  allocPages: Pages;
  device: string;
  group: number;
  rounds: number;
  map: DmaRow[];
  alloc: DmaRow[];
  calibration: Calibration;
  wallMs: number;
}

// Far above the edu's 28-bit DMA window and the x86 MSI range; the benchmark never lets the
// device touch the memory, it only times the IOMMU work.
const IOVA = 2 ** 32;
const READ_WRITE = 3;
const WARMUP = 50;
const HUGE = { '4k': 'never', '2m': 'require' } as const;

/** ns per pair, one per iteration. */
type Samples = number[];

const now = () => Number(process.hrtime.bigint());

function jsMap(dev: Device, plan: [number, number][], pages: Pages): Samples[] {
  // The container's handle: dmaMap/dmaUnmap read its kind from it, with no syscall of their own.
  const { backend, file: fd } = dev.container;
  const max = Math.max(...plan.map(([s]) => s));
  const mem = backend.dmaAlloc(max, HUGE[pages]).buffer;
  const iova = BigInt(IOVA);
  try {
    // One clock read per pair, as in C: a JS clock read costs µs under TCG, so the map and
    // unmap are not timed apart. Each pair's end is the next one's start.
    const run = (size: number, iters: number): Samples => {
      const s: Samples = [];
      const bytes = BigInt(size);
      let t0 = now();
      for (let i = 0; i < iters; i++) {
        backend.dmaMap(fd, mem, 0, size, iova, READ_WRITE);
        const n = backend.dmaUnmap(fd, iova, bytes, 0);
        const t1 = now();
        if (n !== bytes) throw new Error(`unmapped ${n} of ${size}`);
        s.push(t1 - t0);
        t0 = t1;
      }
      return s;
    };
    run(4096, WARMUP); // the JIT, and the kernel's first-use paths
    return plan.map(([size, iters]) => run(size, iters));
  } finally {
    backend.dmaFree(mem);
  }
}

function jsAlloc(dev: Device, plan: [number, number][], pages: Pages): Samples[] {
  const run = (size: number, iters: number): Samples => {
    const s: Samples = [];
    let t0 = now();
    for (let i = 0; i < iters; i++) {
      dev.allocDma(size, { hugepages: HUGE[pages], iova: IOVA }).free();
      const t1 = now();
      s.push(t1 - t0);
      t0 = t1;
    }
    return s;
  };
  run(4096, WARMUP);
  return plan.map(([size, iters]) => run(size, iters));
}

function cRun(bin: string, group: number, mode: Mode, pages: Pages, plan: [number, number][]): Samples[] {
  // A warm-up row first, as the JS side has; dropped.
  const args = [String(group), `0x${IOVA.toString(16)}`, mode, pages, `4096:${WARMUP}`, ...plan.map(([s, n]) => `${s}:${n}`)];
  const out = JSON.parse(execFileSync(bin, args, { encoding: 'utf8', maxBuffer: 1 << 28 })) as { rows: { size: number; ns: number[] }[] };
  return out.rows.slice(1).map((r) => r.ns);
}

function calibrate(syscallBin: string): Calibration {
  const n = 20_000;
  const b = nativeBackend();
  const fd = b.eventfd();
  try {
    const batch = (fn: () => unknown) => {
      fn(); // the JIT
      const t0 = now();
      for (let i = 0; i < n; i++) fn();
      return (now() - t0) / n;
    };
    const jsEventfdReadNs = batch(() => {
      if (b.eventfdRead(fd) !== null) throw new Error('eventfd not empty');
    });
    const jsClockNs = batch(now);
    const c = JSON.parse(execFileSync(syscallBin, [String(n)], { encoding: 'utf8' })) as { readNs: number; fstatNs: number; clockNs: number };
    return { jsEventfdReadNs, cReadNs: c.readNs, cFstatNs: c.fstatNs, jsClockNs, cClockNs: c.clockNs };
  } finally {
    b.close(fd);
  }
}

/** 2 MiB pages for the largest buffer either side holds at once (they take turns), plus one spare. */
function reserveHugepages(plan: DmaPlan): void {
  const sizes = [...(plan.mapPages === '2m' ? plan.map : []), ...(plan.allocPages === '2m' ? plan.alloc : [])].map(([s]) => s);
  if (sizes.length === 0) return;
  const want = Math.ceil(Math.max(...sizes) / 2 ** 21) + 1;
  const file = '/proc/sys/vm/nr_hugepages';
  writeFileSync(file, String(want));
  const got = Number(readFileSync(file, 'utf8'));
  if (got < want) throw new Error(`reserved ${got} of ${want} 2 MiB pages: guest memory too fragmented or too small`);
}

function summarise(s: Samples): DmaTimes {
  return { median: median(s), mean: s.reduce((x, y) => x + y, 0) / s.length };
}

function main(): void {
  const [planPath, outPath] = process.argv.slice(2);
  if (!planPath || !outPath) throw new Error('usage: dma-guest.ts PLAN.json OUT.json');
  const t0 = Date.now();
  const plan = JSON.parse(readFileSync(planPath, 'utf8')) as DmaPlan;
  const edu = findPciDevices({ vendor: 0x1234, device: 0x11e8 }).find(
    (d) => d.iommuGroup !== null && groupMembers(d.iommuGroup).length === 1,
  );
  if (!edu || edu.iommuGroup === null) throw new Error('no edu device alone in its IOMMU group');
  const group = edu.iommuGroup;
  reserveHugepages(plan);

  const collect = (mode: Mode, pages: Pages, sizes: [number, number][]): DmaRow[] => {
    const js: Samples[] = sizes.map(() => []);
    const c: Samples[] = sizes.map(() => []);
    const add = (into: Samples[], from: Samples[]) => from.forEach((s, i) => into[i]!.push(...s));
    const runJs = () => {
      // Closed before C opens the group: a group has one owner at a time.
      const dev = openDevice(edu.address, { iommu: 'container' }); // the C side issues the container's ioctls
      try {
        add(js, mode === 'map' ? jsMap(dev, sizes, pages) : jsAlloc(dev, sizes, pages));
      } finally {
        dev.close();
      }
    };
    const runC = () => add(c, cRun(plan.bin, group, mode, pages, sizes));
    for (let r = 0; r < plan.rounds; r++) {
      // Alternating who goes first, so neither always inherits the other's page-allocator state.
      if (r % 2 === 0) {
        runJs();
        runC();
      } else {
        runC();
        runJs();
      }
      console.log(`bench-dma: ${mode} round ${r + 1}/${plan.rounds} done at ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    return sizes.map(([size, n], i) => ({ size, iterations: n * plan.rounds, js: summarise(js[i]!), c: summarise(c[i]!) }));
  };

  const map = collect('map', plan.mapPages, plan.map);
  const alloc = collect('alloc', plan.allocPages, plan.alloc);
  const calibration = calibrate(plan.syscallBin);
  const thpFile = '/sys/kernel/mm/transparent_hugepage/enabled';
  // Which page size backs the memory decides how much pinning costs; tinyconfig kernels lack THP.
  const result: DmaGuestResult = {
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    thp: existsSync(thpFile) ? readFileSync(thpFile, 'utf8').trim() : 'not built',
    clocksource: readFileSync('/sys/devices/system/clocksource/clocksource0/current_clocksource', 'utf8').trim(),
    mapPages: plan.mapPages,
    allocPages: plan.allocPages,
    device: edu.address,
    group,
    rounds: plan.rounds,
    map,
    alloc,
    calibration,
    wallMs: Date.now() - t0,
  };
  writeFileSync(outPath, JSON.stringify(result, null, 2) + '\n');
}

main();
