/**
 * Runs the simulator (bench/c/nic-sim.c) as a child process on its own CPU against a shared
 * file, and collects its report once the driver sets STOP.
 */
import { spawn } from 'node:child_process';
import { CTL_READY } from './layout.js';
import type { SharedNic } from './shm.js';

export interface Latency {
  samples: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

/** What the simulator saw during the driver's measured window (see nic-sim.c). */
export interface SimReport {
  windowNs: number;
  injected: number;
  /** Frames that came back on the transmit ring intact and in order. */
  forwarded: number;
  /** Frames that came back altered, duplicated or out of order. */
  bad: number;
  /** Frames that never came back (the driver dropped them). */
  gaps: number;
  /** Rate mode: frames lost because the receive ring had no free descriptor. */
  missed: number;
  /** Descriptor rings or buffer addresses outside the DMA area. */
  faults: number;
  /** Share of the window the simulator was doing work: near 1, it limited the rate. */
  simBusy: number;
  /** Share of the window the simulator was on its CPU: below ~0.95, another process competed for it. */
  simCpuShare: number;
  totalForwarded: number;
  totalBad: number;
  totalFaults: number;
  latency?: Latency;
}

export interface SimRun {
  /** Resolves when the simulator has preset the registers and polls. */
  ready: Promise<void>;
  /** Resolves with the report after STOP (the simulator exits then). */
  report: Promise<SimReport>;
}

export type SimMode = { kind: 'throughput' } | { kind: 'rate'; pps: number };

export function startSim(bin: string, nic: SharedNic, mode: SimMode, tscHz: number, cpu: number, timeoutS: number): SimRun {
  const args = ['run', nic.path, mode.kind, String(mode.kind === 'rate' ? mode.pps : 0), String(tscHz), String(cpu), String(timeoutS)];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code)); // 'close', not 'exit': after stdout is drained
  });
  const report = exited.then((code) => {
    if (code !== 0) throw new Error(`nic-sim exited with ${code}: ${err.trim()}`);
    return JSON.parse(out) as SimReport;
  });
  const ready = (async () => {
    const deadline = Date.now() + 5000;
    let gone = false;
    void exited.then(() => (gone = true));
    while (Atomics.load(nic.ctl, CTL_READY) !== 1) {
      if (gone) throw new Error(`nic-sim exited before it was ready: ${err.trim()}`);
      if (Date.now() > deadline) {
        child.kill();
        throw new Error('nic-sim did not become ready within 5 s');
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  })();
  report.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection here
  return { ready, report };
}
