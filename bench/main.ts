/**
 * `npm run bench`: every benchmark with its C baseline from the same run, printed as tables
 * and written to bench/results/latest.json and bench/results/chart.svg.
 *   --smoke   a short run that only checks the benchmarks still work (CI runs it); writes nothing
 *   --no-vm   skips the benchmarks that boot the QEMU guest (DMA mapping)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { benchDir } from './cbuild.js';
import { chartSvg, type ChartGroup } from './chart.js';
import { dmaBench, dmaRatios, formatDma } from './dma.js';
import { formatLatency, interruptBench } from './interrupts.js';
import { formatRate, irqRateBench } from './irq-rate.js';
import { formatNic, nicBench } from './nic.js';
import { formatRegisters, registerBench } from './registers.js';
import { section, type BenchOptions, type Section } from './section.js';

// Each benchmark is one entry; its key names it in latest.json and in the chart.
const sections: Section<unknown>[] = [
  section({
    key: 'registers',
    run: async ({ smoke }) => registerBench(smoke ? 200_000 : 20_000_000),
    format: formatRegisters,
    ratios: (r) => r.rows.map((x) => ({ figure: x.op, ratio: x.ratio })),
  }),
  section({
    key: 'interruptLatency',
    run: ({ smoke, work }) => interruptBench(work, smoke ? 200 : 20_000),
    format: formatLatency,
    ratios: (r) => [
      { figure: 'latency p50', ratio: r.js.p50 / r.c.p50, target: 2 },
      { figure: 'latency p99', ratio: r.js.p99 / r.c.p99 },
    ],
  }),
  section({
    key: 'interruptRate',
    run: ({ smoke, work }) => irqRateBench(work, smoke),
    format: formatRate,
    // A rate ratio inverted (C ÷ JS), so every bar reads as JS cost over C cost.
    ratios: (r) => [
      { figure: 'handler rate, flood (C/JS)', ratio: r.flood.c.invocationsPerS / r.flood.js.invocationsPerS },
    ],
  }),
  section({ key: 'dma', run: dmaBench, format: formatDma, ratios: dmaRatios }),
  section({
    key: 'nic',
    run: ({ smoke }) => nicBench({ smoke }),
    format: formatNic,
    ratios: (r) => [
      ...r.rows.map((x) => ({
        figure: `forward ${x.placement}, batch ${x.batch} (cycles/pkt)`,
        ratio: x.ratio,
        ...(x.batch === 32 && { target: x.placement === 'two-cpu' ? 1.5 : 2 }),
      })),
      { figure: 'forward latency p99, 1 Mpps', ratio: r.latency.ts.p99 / r.latency.c.p99, target: 3 },
    ],
  }),
];

const opts: BenchOptions = {
  smoke: process.argv.includes('--smoke'),
  vm: !process.argv.includes('--no-vm'),
  work: mkdtempSync(join(tmpdir(), 'vfio-bench-')),
};

const results: Record<string, unknown> = {};
const groups: ChartGroup[] = [];
try {
  for (const s of sections) {
    const r = await s.run(opts);
    results[s.key] = r;
    console.log(`\n${s.format(r)}`);
    const bars = s.ratios?.(r) ?? [];
    if (bars.length) groups.push({ name: s.key, bars });
  }
} finally {
  rmSync(opts.work, { recursive: true, force: true });
}

if (!opts.smoke) {
  const dir = join(benchDir, 'results');
  mkdirSync(dir, { recursive: true });
  const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version, kernel: release() };
  const date = new Date().toISOString();
  writeFileSync(join(dir, 'latest.json'), JSON.stringify({ date, machine, ...results }, null, 2) + '\n');
  const subtitle = `${date.slice(0, 10)}, ${machine.cpu} × ${machine.cores}, Node ${machine.node}, host kernel ${machine.kernel}`;
  writeFileSync(join(dir, 'chart.svg'), chartSvg('vfio benchmarks: JS cost ÷ C cost, same run', subtitle, groups));
  console.log(`\nwrote ${join(dir, 'latest.json')} and ${join(dir, 'chart.svg')}`);
}
