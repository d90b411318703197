/**
 * The NIC benchmark's plumbing (bench/nic/): the e1000e driver of vfio/net, opened on the
 * shared-memory device, forwards the simulator's frames and every one comes back intact and
 * in order; and the C driver does the same against the same simulator, in both placements
 * (two-CPU, same-core). A check that the benchmark measures a working driver, not a speed test.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { E1000ePort } from '../../src/net/e1000e/port.js';
import { CTL_STOP } from '../../bench/nic/layout.js';
import { createSharedNic } from '../../bench/nic/shm.js';
import { simDevice } from '../../bench/nic/sim-device.js';
import { startSim } from '../../bench/nic/sim.js';
import { buildNicTools, type NicTools } from '../../bench/nic/tools.js';
import { forwardTs } from '../../bench/nic/ts-forward.js';
import { NicWindows } from '../../bench/nic/window.js';

function haveCc(): boolean {
  try {
    execFileSync('cc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// The simulator reads the TSC (x86intrin.h).
const runnable = process.arch === 'x64' && process.platform === 'linux' && haveCc();

describe.skipIf(!runnable)('NIC benchmark: simulator and drivers', () => {
  let tools: NicTools;

  it('builds the C side', () => {
    tools = buildNicTools({ sim: 1, driver: 0 });
    expect(tools.tscHz).toBeGreaterThan(1e8);
  }, 30_000);

  it('the TS driver forwards every frame intact, in order, within the DMA area', async () => {
    const nic = createSharedNic();
    try {
      // No pinning: the test shares the machine with the rest of the suite.
      const sim = startSim(tools.sim, nic, { kind: 'throughput' }, tools.tscHz, -1, 30);
      await sim.ready;
      const dev = simDevice(nic);
      const port = E1000ePort.open(dev, { interrupts: 'none', reset: false, rxDescriptors: 64, txDescriptors: 64 });
      expect(port.interruptKind).toBe('none');
      expect(port.linkUp).toBe(true);
      expect(Array.from(port.mac)).toEqual([2, 0, 0, 0, 0, 1]);
      let d;
      try {
        d = forwardTs(port, nic.ctl, 8, 20, 150, tools.addon);
      } finally {
        port.close();
        Atomics.store(nic.ctl, CTL_STOP, 1);
      }
      const s = await sim.report;
      expect(d.packets).toBeGreaterThan(100);
      expect(s.totalForwarded).toBeGreaterThan(100);
      expect(s.totalBad).toBe(0);
      expect(s.totalFaults).toBe(0);
      // Everything the driver forwarded came back, but for what was still in the transmit
      // ring (at most its 64 descriptors) when the simulator stopped.
      expect(s.totalForwarded).toBeGreaterThanOrEqual(d.packets - 64);
    } finally {
      nic.close();
    }
  }, 30_000);

  it('the C driver does the same against the same simulator', async () => {
    const nic = createSharedNic();
    try {
      const sim = startSim(tools.sim, nic, { kind: 'throughput' }, tools.tscHz, -1, 30);
      await sim.ready;
      const out = execFileSync(tools.driver, [nic.path, '8', '20', '150', '-1', '64', 'two-cpu', String(tools.tscHz)], { encoding: 'utf8' });
      Atomics.store(nic.ctl, CTL_STOP, 1);
      const d = JSON.parse(out) as { packets: number };
      const s = await sim.report;
      expect(d.packets).toBeGreaterThan(100);
      expect(s.totalBad).toBe(0);
      expect(s.totalFaults).toBe(0);
    } finally {
      nic.close();
    }
  }, 30_000);

  // Same-core: the simulator's step on the driver's own thread; both drivers through NicWindows,
  // as the benchmark runs them, each window checked by the simulator.
  it('same-core mode: both drivers forward intact, the step timed apart, GC counted for TS', async () => {
    const w = new NicWindows(tools, -1, -1, 64);
    try {
      for (const driver of ['c', 'ts'] as const) {
        const r = await w.once(driver, 'same-core', 8, { kind: 'throughput' }, 20, 150);
        expect(r.d.packets).toBeGreaterThan(100);
        expect(r.d.simCycles).toBeGreaterThan(0);
        expect(r.d.idleNs).toBe(0);
        expect(r.s.totalForwarded).toBeGreaterThanOrEqual(r.d.packets - 64);
        if (driver === 'ts') expect(r.gc?.count).toBeGreaterThanOrEqual(0);
      }
      expect(w.integrity.bad).toBe(0);
      expect(w.integrity.faults).toBe(0);
    } finally {
      w.dispose();
      tools.dispose();
    }
  }, 30_000);
});
