/**
 * One measured window: one driver (TS or C), one placement of the simulator, a fresh shared
 * file. Two-CPU: the simulator is its own process on the other CPU (bench/c/nic-sim.c).
 * Same-core: the simulator's step runs on the driver's thread between bursts, from
 * nic-driver.c directly or through the bench addon for TS (bench/nic/same-core.ts).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { E1000ePort } from '../../src/net/e1000e/port.js';
import { GcWatch, type GcFigures } from './gc.js';
import { CTL_READY, CTL_STOP } from './layout.js';
import { createSharedNic, type SharedNic } from './shm.js';
import { simDevice } from './sim-device.js';
import { startSim, type SimMode, type SimReport } from './sim.js';
import type { NicTools } from './tools.js';
import { forwardTs, type DriverReport } from './ts-forward.js';

const run = promisify(execFile);

export type Placement = 'two-cpu' | 'same-core';

export interface WindowResult {
  d: DriverReport;
  s: SimReport;
  /** TS only: the GC events of the measured window. */
  gc?: GcFigures;
}

export class NicWindows {
  integrity = { bad: 0, faults: 0, forwarded: 0 };
  readonly gc = new GcWatch();
  constructor(
    readonly tools: NicTools,
    readonly simCpu: number,
    readonly driverCpu: number,
    readonly ring: number,
  ) {}

  async once(driver: 'ts' | 'c', placement: Placement, batch: number, mode: SimMode, warmupMs: number, measureMs: number): Promise<WindowResult> {
    if (placement === 'same-core' && mode.kind !== 'throughput') throw new Error('bench nic: the same-core mode measures throughput only');
    const nic = createSharedNic();
    const timeoutS = (warmupMs + measureMs) / 1000 + 30;
    try {
      let r: WindowResult;
      if (placement === 'same-core' && driver === 'ts') r = this.#tsSameCore(nic, batch, warmupMs, measureMs, timeoutS);
      else if (placement === 'same-core') {
        const c = await this.#c(nic, batch, warmupMs, measureMs, 'same-core');
        if (!c.s) throw new Error('bench nic: the C driver printed no simulator report in same-core mode');
        r = { d: c.d, s: c.s };
      } else {
        const sim = startSim(this.tools.sim, nic, mode, this.tools.tscHz, this.simCpu, timeoutS);
        let d: DriverReport;
        try {
          await sim.ready;
          d = driver === 'ts' ? this.#ts(nic, batch, warmupMs, measureMs) : (await this.#c(nic, batch, warmupMs, measureMs, 'two-cpu')).d;
        } finally {
          Atomics.store(nic.ctl, CTL_STOP, 1); // also when the driver failed: the simulator exits
        }
        r = { d, s: await sim.report };
      }
      if (driver === 'ts') {
        await this.gc.settle();
        r.gc = this.gc.inWindow(r.d.windowMs!);
      }
      this.integrity.bad += r.s.totalBad;
      this.integrity.faults += r.s.totalFaults;
      this.integrity.forwarded += r.s.totalForwarded;
      return r;
    } finally {
      nic.close();
    }
  }

  /** The C driver; in same-core mode it prints the simulator's report on a second line. */
  async #c(nic: SharedNic, batch: number, warmupMs: number, measureMs: number, placement: Placement): Promise<{ d: DriverReport; s?: SimReport }> {
    const args = [nic.path, batch, warmupMs, measureMs, this.driverCpu, this.ring, placement, this.tools.tscHz].map(String);
    const { stdout } = await run(this.tools.driver, args, { timeout: (warmupMs + measureMs) * 2 + 20_000 });
    const [d, s] = stdout.trim().split('\n');
    return { d: JSON.parse(d!) as DriverReport, ...(s && { s: JSON.parse(s) as SimReport }) };
  }

  #open(nic: SharedNic): E1000ePort {
    return E1000ePort.open(simDevice(nic), { interrupts: 'none', reset: false, promiscuous: true, rxDescriptors: this.ring, txDescriptors: this.ring });
  }

  #ts(nic: SharedNic, batch: number, warmupMs: number, measureMs: number, sameCore = false): DriverReport {
    const port = sameCore ? this.#openStepping(nic, this.tools.addon) : this.#open(nic);
    try {
      // Only the main thread (tid = pid): Node's helper threads stay free to run anywhere.
      if (this.driverCpu >= 0) this.tools.pin(process.pid, this.driverCpu);
      return forwardTs(port, nic.ctl, batch, warmupMs, measureMs, this.tools.addon, sameCore);
    } finally {
      if (this.driverCpu >= 0) this.tools.pin(process.pid, -1);
      port.close();
    }
  }

  /** E1000ePort.open sleeps while the reset completes: the addon's helper thread plays the hardware meanwhile. */
  #openStepping(nic: SharedNic, sim: NicTools['addon']): E1000ePort {
    sim.startThread();
    try {
      return this.#open(nic);
    } finally {
      sim.stopThread();
    }
  }

  #tsSameCore(nic: SharedNic, batch: number, warmupMs: number, measureMs: number, timeoutS: number): WindowResult {
    const sim = this.tools.addon;
    sim.open(nic.path, this.tools.tscHz, timeoutS);
    let d: DriverReport | undefined;
    let report: string;
    try {
      if (Atomics.load(nic.ctl, CTL_READY) !== 1) throw new Error('bench nic: the in-process simulator did not set READY');
      d = this.#ts(nic, batch, warmupMs, measureMs, true);
    } finally {
      Atomics.store(nic.ctl, CTL_STOP, 1);
      report = sim.report(); // also after a failure: it unmaps, so the next window can open
    }
    return { d, s: JSON.parse(report) as SimReport };
  }

  dispose(): void {
    this.gc.dispose();
  }
}
