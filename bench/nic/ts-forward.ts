/**
 * The TypeScript side's measurement: the e1000e driver of vfio/net (src/net/e1000e) forwarding
 * what it receives (rxBurst, then txBurst of the same buffer ids: zero-copy, as
 * examples/e1000e/fwd.ts does with one pool), on the main thread, for a warm-up and then a
 * measured window. bench/c/nic-driver.c runs the same loop in C with the same zero-copy
 * scheme; the two report the same fields. The caller stops the simulator (CTL_STOP).
 *
 * Two-CPU mode: the simulator runs elsewhere and an empty ring is waited on (booked as idle).
 * Same-core mode (`sim` given): the simulator's step runs here before each burst, its cycles
 * counted apart (simCycles), and there is nothing to wait for.
 *
 * The loop's own clock reads go through the bench addon's clock, which allocates nothing:
 * performance.now() allocates on each call, and the GC events that caused would be counted
 * against the driver. It is read at the window's edges only, to match GC events to it.
 */
import type { Port } from '../../src/net/port.js';
import { CTL_MEASURE } from './layout.js';
import { addonClock, type NicAddon } from './addon.js';
import { mainThreadCpuNs } from './tools.js';

/** One measured window of a driver, TS or C (nic-driver.c prints the same fields). */
export interface DriverReport {
  /** Frames forwarded (taken by txBurst) in the window. */
  packets: number;
  /** Frames received but not sent: the transmit ring was full. */
  drops: number;
  bursts: number;
  emptyPolls: number;
  wallNs: number;
  /** The driver thread's CPU time in the window. */
  cpuNs: number;
  /** Time spent waiting on an empty receive ring (for the simulator), within the window. */
  idleNs: number;
  /** Same-core mode: TSC cycles the simulator's step took in the window (0 in two-CPU mode). */
  simCycles: number;
  /** TS only: the window on performance.now()'s clock, to pick its GC events. */
  windowMs?: [number, number];
}

export function forwardTs(port: Port, ctl: Uint32Array, batch: number, warmupMs: number, measureMs: number, addon: NicAddon, sameCore = false): DriverReport {
  const now = addonClock(addon);
  const sim = sameCore ? addon : undefined;
  const ids = new Uint32Array(batch);
  const pool = port.pool;
  let packets = 0;
  let drops = 0;
  let bursts = 0;
  let empty = 0;
  let idle = 0;
  const start = now();
  const giveUp = start + warmupMs + measureMs + 10_000;
  let phase = 0;
  let wall0 = 0;
  let cpu0 = 0;
  let sim0 = 0;
  let perf0 = 0;
  const step = sim?.step;
  const at = { packets: 0, drops: 0, bursts: 0, empty: 0, idle: 0 };
  for (let it = 1; ; it++) {
    if (step !== undefined) step();
    const n = port.rxBurst(ids, batch);
    if (n > 0) {
      const sent = port.txBurst(ids, n);
      if (sent < n) pool.free(ids, n - sent, sent);
      packets += sent;
      drops += n - sent;
      bursts++;
    } else if (step !== undefined) {
      empty++; // the next step brings frames
    } else {
      // The ring is empty: wait for the simulator, booked as idle, not as work per frame.
      empty++;
      const t0 = now();
      for (let spins = 0; !port.rxReady(); )
        if (++spins === 1 << 20) {
          spins = 0;
          if (now() > giveUp) throw new Error('bench nic: the simulator sent no frames for 10 s');
        }
      idle += now() - t0;
    }
    if ((it & 63) === 0) {
      const t = now();
      if (phase === 0 && t - start >= warmupMs) {
        phase = 1;
        Atomics.store(ctl, CTL_MEASURE, 1);
        wall0 = now();
        cpu0 = mainThreadCpuNs();
        sim0 = sim?.cycles() ?? 0;
        Object.assign(at, { packets, drops, bursts, empty, idle });
        perf0 = performance.now(); // the GC window: after the reads above, which allocate
      } else if (phase === 1 && t - wall0 >= measureMs) {
        const perf1 = performance.now(); // before the reads below, which allocate
        const cpu1 = mainThreadCpuNs();
        const wall1 = now();
        const sim1 = sim?.cycles() ?? 0;
        Atomics.store(ctl, CTL_MEASURE, 2);
        return {
          packets: packets - at.packets,
          drops: drops - at.drops,
          bursts: bursts - at.bursts,
          emptyPolls: empty - at.empty,
          wallNs: (wall1 - wall0) * 1e6,
          cpuNs: cpu1 - cpu0,
          idleNs: (idle - at.idle) * 1e6,
          simCycles: sim1 - sim0,
          windowMs: [perf0, perf1],
        };
      }
    }
  }
}
