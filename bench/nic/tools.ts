/**
 * The C side of the NIC benchmark, built at run time with this machine's compiler (cc -O2)
 * into a temporary directory (the simulator, the C driver, and the bench addon), and the small jobs its simulator binary also does: TSC
 * calibration, the cache-line round trip between the two CPUs, thread pinning.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildC } from '../cbuild.js';
import { loadNicAddon, type NicAddon } from './addon.js';

export interface NicTools {
  readonly sim: string;
  readonly driver: string;
  /** TSC ticks per second, measured against CLOCK_MONOTONIC_RAW. */
  readonly tscHz: number;
  /** The bench addon: the simulator's step in this process (same-core mode), a clock that allocates nothing. */
  readonly addon: NicAddon;
  /** Cache-line round trip between the simulator's and the driver's CPU, ns (median of 3). */
  pingPongNs(): number;
  /** Binds thread `tid` to `cpu` (-1: every CPU). */
  pin(tid: number, cpu: number): void;
  dispose(): void;
}

export function buildNicTools(cpus: { sim: number; driver: number }): NicTools {
  const work = mkdtempSync(join(tmpdir(), 'vfio-bench-nic-'));
  try {
    const sim = join(work, 'nic-sim');
    const driver = join(work, 'nic-driver');
    buildC('nic-sim', sim, { pthread: true, with: ['nic-sim-step'] });
    buildC('nic-driver', driver, { with: ['nic-sim-step'] });
    const addon = loadNicAddon(work);
    const tscHz = Number(execFileSync(sim, ['calibrate'], { encoding: 'utf8' }).trim());
    if (!(tscHz > 1e8)) throw new Error(`nic-sim calibrate: implausible TSC frequency ${tscHz}`);
    return {
      sim,
      driver,
      tscHz,
      addon,
      pingPongNs() {
        const runs = [0, 1, 2].map(() => Number(execFileSync(sim, ['pingpong', String(cpus.driver), String(cpus.sim)], { encoding: 'utf8' }).trim()));
        return runs.sort((a, b) => a - b)[1]!;
      },
      pin(tid, cpu) {
        execFileSync(sim, ['pin', String(tid), String(cpu)]);
      },
      dispose() {
        rmSync(work, { recursive: true, force: true });
      },
    };
  } catch (e) {
    rmSync(work, { recursive: true, force: true });
    throw e;
  }
}

/**
 * CPU time of this process's main thread in ns, from the scheduler's own account
 * (/proc/<pid>/task/<pid>/schedstat, first field: time on a CPU). Node has no per-thread
 * CPU clock before v23, and the process clock would add the GC and compiler threads.
 */
export function mainThreadCpuNs(): number {
  const text = readFileSync(`/proc/${process.pid}/task/${process.pid}/schedstat`, 'utf8');
  return Number(text.split(' ')[0]);
}
