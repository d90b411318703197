/**
 * From one driver window (DriverReport) and the simulator's report to the figures the NIC
 * benchmark prints; medians over runs.
 *
 * Cycles per packet: the driver thread's CPU time × the share of the window it spent on its
 * own work × the TSC rate, ÷ packets forwarded. Not its own work: in two-CPU mode, waiting
 * on an empty receive ring (the simulator set that pace); in same-core mode, the simulator's
 * step, which runs on the same thread (timed inside the step with the TSC). A share rather
 * than a difference because other processes take the CPU during both alike.
 */
import type { SimReport } from './sim.js';
import type { DriverReport } from './ts-forward.js';

export interface DriverFigures {
  mpps: number;
  /** The driver's own cycles per packet (see above). */
  cyclesPerPacket: number;
  /** CPU time per packet, waiting (or the simulator's step) included. */
  grossCyclesPerPacket: number;
  /** Share of the window not the driver's own work: waiting (two-CPU) or the simulator's step (same-core). */
  idle: number;
  /** Share of the window the simulator was busy. */
  simBusy: number;
  /** Share of the window the driver thread, and the simulator, were on their CPUs. */
  cpuShare: number;
  simCpuShare: number;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function figures(d: DriverReport, s: SimReport, tscGHz: number): DriverFigures {
  if (d.packets <= 0) throw new Error('bench nic: a driver forwarded nothing in its window');
  const notOwn = Math.min(1, (d.idleNs + d.simCycles / tscGHz) / d.wallNs);
  return {
    mpps: (d.packets / d.wallNs) * 1e3,
    cyclesPerPacket: (d.cpuNs * (1 - notOwn) * tscGHz) / d.packets,
    grossCyclesPerPacket: (d.cpuNs * tscGHz) / d.packets,
    idle: notOwn,
    simBusy: s.simBusy,
    cpuShare: d.cpuNs / d.wallNs,
    simCpuShare: s.simCpuShare,
  };
}

export function medianFigures(fs: DriverFigures[]): DriverFigures {
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
