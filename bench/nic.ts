/**
 * NIC hot path: the e1000e driver of vfio/net (src/net/e1000e, zero-copy) forwarding frames
 * against a simulation of the 82574's ring protocol in memory both sides map (bench/c/
 * nic-sim-step.c, the layout in bench/c/nic-sim.h), and a C driver of the same protocol and
 * the same zero-copy buffer scheme (bench/c/nic-driver.c) against the same simulator in the
 * same run. Two placements of the simulator:
 *   two-CPU:   its own process busy-polling on the other CPU, as the NIC works beside the
 *              driver's core: the realistic one, but every frame's cache lines (descriptors,
 *              buffers, tail registers) cross between the two vCPUs, whose cost this VM's
 *              host decides from run to run;
 *   same-core: its step runs on the driver's own thread before each burst (C calls it, TS
 *              through a bench-only addon) and is timed apart: no cross-CPU traffic, so the
 *              figure is the drivers' own work and the ratio is stable.
 * For batch sizes 1, 8, 32 and 64: Mpps and the driver's cycles per packet (bench/nic/
 * figures.ts says how), C and TS alternating (C, TS, C, TS, …) over the repeats, the ratio
 * taken per pair and its median reported. The GC events of every TS window, and of one 10 s
 * TS window at full rate (a PerformanceObserver on 'gc'). Then injection-to-transmit latency
 * percentiles at a fixed offered rate (two-CPU).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { figures, median, medianFigures, type DriverFigures } from './nic/figures.js';
import type { GcFigures } from './nic/gc.js';
import type { Latency } from './nic/sim.js';
import { buildNicTools } from './nic/tools.js';
import { NicWindows, type Placement } from './nic/window.js';

export { formatNic } from './nic/format.js';
export type { DriverFigures } from './nic/figures.js';

export const NIC_BATCHES = [1, 8, 32, 64] as const;
export const PLACEMENTS: readonly Placement[] = ['two-cpu', 'same-core'];
const RING = 512;
const LATENCY_BATCH = 32;
const GC_BATCH = 32;

export interface NicRun {
  ts: DriverFigures;
  c: DriverFigures;
  /** TS cycles per packet ÷ C's, this pair. */
  ratio: number;
  /** GC events of the TS window. */
  gc: GcFigures;
  /** Two-CPU: the cache-line round trip between the two CPUs before this pair, ns. */
  pingPongNs?: number;
}

export interface NicRow {
  placement: Placement;
  batch: number;
  /** Medians over the runs. */
  ts: DriverFigures;
  c: DriverFigures;
  /** Median over the runs of the per-pair ratio. */
  ratio: number;
  ratioMin: number;
  ratioMax: number;
  runs: NicRun[];
}

export interface NicLatency {
  offeredPps: number;
  batch: number;
  /** Injection to the simulator seeing the frame on the transmit ring, ns. */
  ts: Latency;
  c: Latency;
  /** Frames the simulator could not inject because the receive ring was full. */
  tsMissed: number;
  cMissed: number;
}

export interface NicBenchResult {
  machine: { cpu: string; cpus: number; tscGHz: number; simCpu: number; driverCpu: number; node: string; loadavg: string };
  params: { ring: number; frameBytes: number; repeats: number; warmupMs: number; measureMs: number; gcWindowMs: number };
  rows: NicRow[];
  /** Same-core TS: what one call into the addon costs (an empty function), ns; charged to TS, once per burst. */
  stepCallNs: number;
  /** One long TS window (two-CPU, batch 32, full rate): its GC events. */
  gcWindow: { batch: number; measureMs: number; mpps: number; cyclesPerPacket: number; gc: GcFigures };
  latency: NicLatency;
  /** Over every run: frames that came back altered or out of order, and bad DMA addresses. Both must be 0. */
  integrity: { bad: number; faults: number; forwarded: number };
}

export async function nicBench(opts: { smoke: boolean; progress?: (line: string) => void }): Promise<NicBenchResult> {
  const nCpus = cpus().length;
  // Two CPUs are enough: the simulator spins on one, the driver on the other. With one,
  // nothing is pinned and the two take turns (the two-CPU figures then mean little).
  const simCpu = nCpus >= 2 ? 1 : -1;
  const driverCpu = nCpus >= 2 ? 0 : -1;
  const repeats = opts.smoke ? 1 : 5;
  const warmupMs = opts.smoke ? 150 : 300;
  const measureMs = opts.smoke ? 250 : 1000;
  const gcWindowMs = opts.smoke ? 1000 : 10_000;
  const latencyMs = opts.smoke ? 500 : 3000;
  const offeredPps = 1_000_000;
  const loadavg = readFileSync('/proc/loadavg', 'utf8').trim();
  const tools = buildNicTools({ sim: Math.max(simCpu, 0), driver: Math.max(driverCpu, 0) });
  const w = new NicWindows(tools, simCpu, driverCpu, RING);
  try {
    const tscGHz = tools.tscHz / 1e9;
    const runs = new Map<string, NicRun[]>();
    for (let r = 0; r < repeats; r++) {
      for (const placement of PLACEMENTS) {
        for (const batch of NIC_BATCHES) {
          const pingPongNs = placement === 'two-cpu' ? tools.pingPongNs() : undefined;
          // C first, then TS: over the repeats, C, TS, C, TS, … with each pair back to back.
          const c = await w.once('c', placement, batch, { kind: 'throughput' }, warmupMs, measureMs);
          const ts = await w.once('ts', placement, batch, { kind: 'throughput' }, warmupMs, measureMs);
          const run: NicRun = { c: figures(c.d, c.s, tscGHz), ts: figures(ts.d, ts.s, tscGHz), ratio: 0, gc: ts.gc!, ...(pingPongNs !== undefined && { pingPongNs }) };
          run.ratio = run.ts.cyclesPerPacket / run.c.cyclesPerPacket;
          const key = `${placement}/${batch}`;
          runs.set(key, [...(runs.get(key) ?? []), run]);
          opts.progress?.(
            `run ${r + 1}/${repeats} ${placement} batch ${batch}: C ${run.c.cyclesPerPacket.toFixed(0)}, TS ${run.ts.cyclesPerPacket.toFixed(0)} cycles per packet, ` +
              `TS/C ${run.ratio.toFixed(2)}, GC ${run.gc.count}` + (pingPongNs !== undefined ? `; round trip ${pingPongNs.toFixed(0)} ns` : ''),
          );
        }
      }
    }
    const rows: NicRow[] = PLACEMENTS.flatMap((placement) =>
      NIC_BATCHES.map((batch) => {
        const rs = runs.get(`${placement}/${batch}`)!;
        const ratios = rs.map((x) => x.ratio);
        return {
          placement,
          batch,
          ts: medianFigures(rs.map((x) => x.ts)),
          c: medianFigures(rs.map((x) => x.c)),
          ratio: median(ratios),
          ratioMin: Math.min(...ratios),
          ratioMax: Math.max(...ratios),
          runs: rs,
        };
      }),
    );

    const stepCallNs = callCostNs(tools.addon.noop);
    const g = await w.once('ts', 'two-cpu', GC_BATCH, { kind: 'throughput' }, warmupMs, gcWindowMs);
    const gf = figures(g.d, g.s, tscGHz);
    const gcWindow = { batch: GC_BATCH, measureMs: gcWindowMs, mpps: gf.mpps, cyclesPerPacket: gf.cyclesPerPacket, gc: g.gc! };
    opts.progress?.(`GC window: ${gcWindowMs} ms of TS forwarding, ${g.gc!.count} GC event(s), ${g.gc!.ms.toFixed(1)} ms`);

    const mode = { kind: 'rate', pps: offeredPps } as const;
    const lc = await w.once('c', 'two-cpu', LATENCY_BATCH, mode, warmupMs, latencyMs);
    const lts = await w.once('ts', 'two-cpu', LATENCY_BATCH, mode, warmupMs, latencyMs);
    if (!lc.s.latency || !lts.s.latency) throw new Error('bench nic: the simulator recorded no latency samples');
    const integrity = w.integrity;
    // Speed figures for a driver that mangles frames or points the NIC outside its memory mean nothing.
    if (integrity.bad || integrity.faults)
      throw new Error(`bench nic: ${integrity.bad} frame(s) came back altered or out of order, ${integrity.faults} DMA fault(s)`);

    const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
    return {
      machine: { cpu: cpuModel, cpus: nCpus, tscGHz, simCpu, driverCpu, node: process.version, loadavg },
      params: { ring: RING, frameBytes: 64, repeats, warmupMs, measureMs, gcWindowMs },
      rows,
      stepCallNs,
      gcWindow,
      latency: { offeredPps, batch: LATENCY_BATCH, ts: lts.s.latency, c: lc.s.latency, tsMissed: lts.s.missed, cMissed: lc.s.missed },
      integrity,
    };
  } finally {
    w.dispose();
    tools.dispose();
  }
}

/** ns per call of an empty addon function: the same-core TS loop pays it once per burst. */
function callCostNs(noop: () => void): number {
  for (let i = 0; i < 100_000; i++) noop();
  const t0 = performance.now();
  for (let i = 0; i < 1_000_000; i++) noop();
  return (performance.now() - t0) * 1e6 / 1_000_000;
}
