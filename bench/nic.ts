/**
 * NIC hot path: the e1000e driver of vfio/net (src/net/e1000e, zero-copy) forwarding frames
 * against a simulation of the 82574's ring protocol that runs as its own process on its own
 * CPU, in memory both map (bench/c/nic-sim.c, the layout in bench/c/nic-sim.h); and a C
 * driver of the same protocol (bench/c/nic-driver.c) against the same simulator in the same
 * run. For batch sizes 1, 8, 32 and 64: Mpps and CPU cycles per packet on the driver's core;
 * then injection-to-transmit latency percentiles at a fixed offered rate.
 *
 * Cycles per packet: the driver thread's CPU time (the scheduler's account; CLOCK_THREAD_
 * CPUTIME_ID in C, schedstat for Node's main thread) times the share of the window it was not
 * waiting on an empty receive ring, times the TSC frequency, over the frames forwarded.
 * Waiting is taken out because the simulator, not the driver, decides how long it lasts: when
 * the simulator keeps up there is none, and the figure is ixy's (core clock / packet rate).
 * The share, rather than subtracting the wait, because the wait is timed on the wall clock and
 * other processes on the machine take the CPU away during waits and work alike; the on-CPU
 * shares of driver and simulator are reported, so a run that had to share its CPUs shows.
 * The TSC is the nominal clock; a core running faster or slower scales every figure alike.
 *
 * Both drivers and the simulator exchange every frame through cache lines that move between
 * the two CPUs, so the figures depend on how fast that is; the cache-line round trip between
 * the CPUs is measured before each pair of runs and reported. C and TS run back to back in
 * each pair and the TS/C ratio is taken per pair; on a VM whose host moves things around,
 * the per-pair ratio is steadier than either figure alone.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { promisify } from 'node:util';
import { E1000ePort } from '../src/net/e1000e/port.js';
import { CTL_STOP } from './nic/layout.js';
import { createSharedNic } from './nic/shm.js';
import { simDevice } from './nic/sim-device.js';
import { startSim, type Latency, type SimMode, type SimReport } from './nic/sim.js';
import { buildNicTools, type NicTools } from './nic/tools.js';
import { forwardTs, type DriverReport } from './nic/ts-forward.js';

const run = promisify(execFile);

export const NIC_BATCHES = [1, 8, 32, 64] as const;
const RING = 512;
const LATENCY_BATCH = 32;
const DIAGNOSTIC_BATCH = 32;

export interface DriverFigures {
  mpps: number;
  /** Busy cycles per packet: CPU time less waiting on an empty ring (see above). */
  cyclesPerPacket: number;
  /** CPU time per packet, waiting included. */
  grossCyclesPerPacket: number;
  /** Share of the window the driver waited on an empty ring: the simulator set the pace. */
  idle: number;
  /** Share of the window the simulator was busy. */
  simBusy: number;
  /** Share of the window the driver thread, and the simulator, were on their CPUs. */
  cpuShare: number;
  simCpuShare: number;
}

export interface NicRun {
  pingPongNs: number;
  ts: DriverFigures;
  c: DriverFigures;
  ratio: number;
  /** Batch 32 only: the C driver copying whole 2 KiB packet buffers, as the TS driver did before vfio/net made forwarding zero-copy. */
  cWholeCopy?: DriverFigures;
}

export interface NicRow {
  batch: number;
  /** Medians over the runs. */
  ts: DriverFigures;
  c: DriverFigures;
  /** Median over the runs of TS cycles per packet / C cycles per packet (each pair back to back). */
  ratio: number;
  ratioMin: number;
  ratioMax: number;
  /** Batch 32 only, median: see NicRun.cWholeCopy. */
  cWholeCopy?: DriverFigures;
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
  machine: { cpu: string; cpus: number; tscGHz: number; simCpu: number; driverCpu: number; node: string };
  params: { ring: number; frameBytes: number; repeats: number; warmupMs: number; measureMs: number };
  rows: NicRow[];
  latency: NicLatency;
  /** Over every run: frames that came back altered or out of order, and bad DMA addresses. Both must be 0. */
  integrity: { bad: number; faults: number; forwarded: number };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function figures(d: DriverReport, s: SimReport, tscGHz: number): DriverFigures {
  if (d.packets <= 0) throw new Error('bench nic: a driver forwarded nothing in its window');
  return {
    mpps: (d.packets / d.wallNs) * 1e3,
    cyclesPerPacket: (d.cpuNs * (1 - Math.min(1, d.idleNs / d.wallNs)) * tscGHz) / d.packets,
    grossCyclesPerPacket: (d.cpuNs * tscGHz) / d.packets,
    idle: d.idleNs / d.wallNs,
    simBusy: s.simBusy,
    cpuShare: d.cpuNs / d.wallNs,
    simCpuShare: s.simCpuShare,
  };
}

function medianFigures(fs: DriverFigures[]): DriverFigures {
  const pick = (k: keyof DriverFigures) => median(fs.map((f) => f[k]));
  return {
    mpps: pick('mpps'),
    cyclesPerPacket: pick('cyclesPerPacket'),
    grossCyclesPerPacket: pick('grossCyclesPerPacket'),
    idle: pick('idle'),
    simBusy: pick('simBusy'),
    cpuShare: pick('cpuShare'),
    simCpuShare: pick('simCpuShare'),
  };
}

class Bench {
  integrity = { bad: 0, faults: 0, forwarded: 0 };
  constructor(
    readonly tools: NicTools,
    readonly simCpu: number,
    readonly driverCpu: number,
    readonly warmupMs: number,
    readonly measureMs: number,
  ) {}

  /** One window of one driver against a fresh simulator and a fresh shared file. */
  async once(driver: 'ts' | 'c' | 'c-whole', batch: number, mode: SimMode): Promise<{ d: DriverReport; s: SimReport }> {
    const nic = createSharedNic();
    const timeoutS = (this.warmupMs + this.measureMs) / 1000 + 30;
    try {
      const sim = startSim(this.tools.sim, nic, mode, this.tools.tscHz, this.simCpu, timeoutS);
      let d: DriverReport;
      try {
        await sim.ready;
        d = driver === 'ts' ? this.#ts(nic, batch) : await this.#c(nic.path, batch, driver === 'c' ? 'len' : 'whole');
      } finally {
        Atomics.store(nic.ctl, CTL_STOP, 1); // also when the driver failed: the simulator exits
      }
      const s = await sim.report;
      this.integrity.bad += s.totalBad;
      this.integrity.faults += s.totalFaults;
      this.integrity.forwarded += s.totalForwarded;
      return { d, s };
    } finally {
      nic.close();
    }
  }

  async #c(path: string, batch: number, copy: 'len' | 'whole'): Promise<DriverReport> {
    const args = [path, batch, this.warmupMs, this.measureMs, this.driverCpu, RING, copy].map(String);
    const { stdout } = await run(this.tools.driver, args, { timeout: (this.warmupMs + this.measureMs) * 2 + 20_000 });
    return JSON.parse(stdout) as DriverReport;
  }

  #ts(nic: ReturnType<typeof createSharedNic>, batch: number): DriverReport {
    const port = E1000ePort.open(simDevice(nic), { interrupts: 'none', reset: false, promiscuous: true, rxDescriptors: RING, txDescriptors: RING });
    try {
      // Only the main thread (tid = pid): Node's helper threads stay free to run anywhere.
      if (this.driverCpu >= 0) this.tools.pin(process.pid, this.driverCpu);
      return forwardTs(port, nic.ctl, batch, this.warmupMs, this.measureMs);
    } finally {
      if (this.driverCpu >= 0) this.tools.pin(process.pid, -1);
      port.close();
    }
  }
}

export async function nicBench(opts: { smoke: boolean; progress?: (line: string) => void }): Promise<NicBenchResult> {
  const nCpus = cpus().length;
  // Two CPUs are enough: the simulator spins on one, the driver on the other. With one,
  // nothing is pinned and the two take turns (the figures then mean little).
  const simCpu = nCpus >= 2 ? 1 : -1;
  const driverCpu = nCpus >= 2 ? 0 : -1;
  const repeats = opts.smoke ? 1 : 5;
  const warmupMs = opts.smoke ? 150 : 300;
  const measureMs = opts.smoke ? 250 : 1000;
  const latencyMs = opts.smoke ? 500 : 3000;
  const offeredPps = 1_000_000;
  const tools = buildNicTools({ sim: Math.max(simCpu, 0), driver: Math.max(driverCpu, 0) });
  try {
    const tscGHz = tools.tscHz / 1e9;
    const b = new Bench(tools, simCpu, driverCpu, warmupMs, measureMs);
    const runs = new Map<number, NicRun[]>(NIC_BATCHES.map((n) => [n, []]));
    for (let r = 0; r < repeats; r++) {
      for (const batch of NIC_BATCHES) {
        const pingPongNs = tools.pingPongNs();
        // Alternate which goes first, so neither always inherits the other's cache state.
        const order: ('ts' | 'c')[] = r % 2 ? ['ts', 'c'] : ['c', 'ts'];
        const got: Partial<Record<'ts' | 'c', DriverFigures>> = {};
        for (const which of order) {
          const { d, s } = await b.once(which, batch, { kind: 'throughput' });
          got[which] = figures(d, s, tscGHz);
        }
        const ts = got.ts!;
        const c = got.c!;
        const run: NicRun = { pingPongNs, ts, c, ratio: ts.cyclesPerPacket / c.cyclesPerPacket };
        if (batch === DIAGNOSTIC_BATCH) {
          const { d, s } = await b.once('c-whole', batch, { kind: 'throughput' });
          run.cWholeCopy = figures(d, s, tscGHz);
        }
        runs.get(batch)!.push(run);
        opts.progress?.(
          `run ${r + 1}/${repeats} batch ${batch}: TS ${ts.cyclesPerPacket.toFixed(0)}, C ${c.cyclesPerPacket.toFixed(0)} cycles per packet; ` +
            `round trip ${pingPongNs.toFixed(0)} ns`,
        );
      }
    }
    const rows: NicRow[] = NIC_BATCHES.map((batch) => {
      const rs = runs.get(batch)!;
      const ratios = rs.map((x) => x.ratio);
      return {
        batch,
        ts: medianFigures(rs.map((x) => x.ts)),
        c: medianFigures(rs.map((x) => x.c)),
        ratio: median(ratios),
        ratioMin: Math.min(...ratios),
        ratioMax: Math.max(...ratios),
        ...(batch === DIAGNOSTIC_BATCH && { cWholeCopy: medianFigures(rs.map((x) => x.cWholeCopy!)) }),
        runs: rs,
      };
    });

    const lb = new Bench(tools, simCpu, driverCpu, warmupMs, latencyMs);
    const mode: SimMode = { kind: 'rate', pps: offeredPps };
    const lc = await lb.once('c', LATENCY_BATCH, mode);
    const lts = await lb.once('ts', LATENCY_BATCH, mode);
    if (!lc.s.latency || !lts.s.latency) throw new Error('bench nic: the simulator recorded no latency samples');
    const integrity = { bad: b.integrity.bad + lb.integrity.bad, faults: b.integrity.faults + lb.integrity.faults, forwarded: b.integrity.forwarded + lb.integrity.forwarded };
    // Speed figures for a driver that mangles frames or points the NIC outside its memory mean nothing.
    if (integrity.bad || integrity.faults)
      throw new Error(`bench nic: ${integrity.bad} frame(s) came back altered or out of order, ${integrity.faults} DMA fault(s)`);

    const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU';
    return {
      machine: { cpu: cpuModel, cpus: nCpus, tscGHz, simCpu, driverCpu, node: process.version },
      params: { ring: RING, frameBytes: 64, repeats, warmupMs, measureMs },
      rows,
      latency: { offeredPps, batch: LATENCY_BATCH, ts: lts.s.latency, c: lc.s.latency, tsMissed: lts.s.missed, cMissed: lc.s.missed },
      integrity,
    };
  } finally {
    tools.dispose();
  }
}

const f = (x: number, w: number, d = 1) => x.toFixed(d).padStart(w);

export function formatNic(r: NicBenchResult): string {
  const m = r.machine;
  const p = r.params;
  const pp = r.rows.flatMap((row) => row.runs.map((x) => x.pingPongNs));
  const lines = [
    `NIC hot path: e1000e forwarding (rx burst -> tx burst of the same frames), ${p.frameBytes}-byte frames, rings of ${p.ring}, against the 82574 ring simulator`,
    `${m.cpu}, ${m.cpus} CPUs, TSC ${m.tscGHz.toFixed(3)} GHz, Node ${m.node}; simulator on CPU ${m.simCpu}, driver on CPU ${m.driverCpu}; ` +
      `median of ${p.repeats} run(s) of ${p.measureMs} ms after ${p.warmupMs} ms warm-up`,
    `cache-line round trip between the two CPUs: ${f(Math.min(...pp), 0, 0)}-${f(Math.max(...pp), 0, 0)} ns over the runs`,
    '',
    'batch  TS Mpps  C Mpps  TS cyc/pkt  C cyc/pkt  TS/C (range)        idle TS/C  sim busy TS/C  on CPU drv TS/C, sim TS/C',
  ];
  const pair = (a: number, b: number) => `${(100 * a).toFixed(0)}/${(100 * b).toFixed(0)}%`;
  for (const row of r.rows)
    lines.push(
      `${f(row.batch, 5, 0)} ${f(row.ts.mpps, 8, 2)} ${f(row.c.mpps, 7, 2)} ${f(row.ts.cyclesPerPacket, 11)} ${f(row.c.cyclesPerPacket, 10)}  ` +
        `${row.ratio.toFixed(2)} (${row.ratioMin.toFixed(2)}-${row.ratioMax.toFixed(2)})`.padEnd(20) +
        pair(row.ts.idle, row.c.idle).padStart(9) +
        pair(row.ts.simBusy, row.c.simBusy).padStart(15) +
        `  ${pair(row.ts.cpuShare, row.c.cpuShare)}, ${pair(row.ts.simCpuShare, row.c.simCpuShare)}`,
    );
  lines.push(
    'cyc/pkt: driver CPU time x share of the window not spent waiting on an empty ring, x TSC rate, per packet.',
    'idle: share of the window the driver waited for frames. on CPU below ~95%: another process took the CPU.',
  );
  const share = Math.min(...r.rows.flatMap((x) => [x.ts.cpuShare, x.c.cpuShare, x.ts.simCpuShare, x.c.simCpuShare]));
  if (share < 0.9)
    lines.push(
      `WARNING: other processes held these CPUs (the driver or simulator ran ${(100 * share).toFixed(0)}% of the time in some rows): ` +
        'the figures above measure the contention as much as the code. Run again on a quiet machine.',
    );
  const w = r.rows.find((x) => x.cWholeCopy)?.cWholeCopy;
  if (w)
    lines.push(
      `C copying whole 2 KiB buffers (the copy the TS driver made before vfio/net), batch ${DIAGNOSTIC_BATCH}: ` +
        `${w.mpps.toFixed(2)} Mpps, ${w.cyclesPerPacket.toFixed(1)} cycles per packet`,
    );
  const l = r.latency;
  const us = (ns: number) => {
    const v = ns / 1000;
    return v.toFixed(v >= 1000 ? 0 : v >= 100 ? 1 : 2).padStart(9);
  };
  lines.push(
    '',
    `latency, injection -> frame back on the transmit ring, at ${(l.offeredPps / 1e6).toFixed(2)} Mpps offered, batch ${l.batch} (µs)`,
    '         p50      p90      p99    p99.9      max   samples   missed',
    `TS ${us(l.ts.p50)}${us(l.ts.p90)}${us(l.ts.p99)}${us(l.ts.p999)}${us(l.ts.max)} ${String(l.ts.samples).padStart(10)} ${String(l.tsMissed).padStart(8)}`,
    `C  ${us(l.c.p50)}${us(l.c.p90)}${us(l.c.p99)}${us(l.c.p999)}${us(l.c.max)} ${String(l.c.samples).padStart(10)} ${String(l.cMissed).padStart(8)}`,
  );
  const b32 = r.rows.find((x) => x.batch === 32);
  if (b32)
    lines.push(
      '',
      `targets at batch 32 (measured, not asserted): TS/C cycles per packet ${b32.ratio.toFixed(2)} (target <= 2: ${b32.ratio <= 2 ? 'met' : 'missed'}), ` +
        `TS ${b32.ts.cyclesPerPacket.toFixed(0)} cycles per packet (target <= 200: ${b32.ts.cyclesPerPacket <= 200 ? 'met' : 'missed'})`,
    );
  const i = r.integrity;
  lines.push(`frames checked by the simulator: ${i.forwarded.toLocaleString('en')} back intact and in order, ${i.bad} bad, ${i.faults} DMA faults`);
  return lines.join('\n');
}
