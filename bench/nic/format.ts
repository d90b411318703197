/** The NIC benchmark's printed report (bench/nic.ts runs it). */
import type { NicBenchResult, NicRow } from '../nic.js';

const f = (x: number, w: number, d = 1) => x.toFixed(d).padStart(w);
const pct = (a: number, b: number) => `${(100 * a).toFixed(0)}/${(100 * b).toFixed(0)}%`;

/** The issue's targets at batch 32; `met` is what this run measured (never asserted). */
export function nicTargets(r: NicBenchResult): { name: string; value: string; met: boolean }[] {
  const two = r.rows.find((x) => x.placement === 'two-cpu' && x.batch === 32);
  const same = r.rows.find((x) => x.placement === 'same-core' && x.batch === 32);
  const p99 = r.latency.ts.p99 / r.latency.c.p99;
  return [
    ...(two
      ? [
          { name: 'two-CPU: TS cycles per packet <= 200', value: two.ts.cyclesPerPacket.toFixed(0), met: two.ts.cyclesPerPacket <= 200 },
          { name: 'two-CPU: TS/C <= 1.5 (median)', value: two.ratio.toFixed(2), met: two.ratio <= 1.5 },
        ]
      : []),
    ...(same ? [{ name: 'same-core: TS/C <= 2 (median)', value: same.ratio.toFixed(2), met: same.ratio <= 2 }] : []),
    { name: `GC events in a ${r.gcWindow.measureMs / 1000} s window = 0`, value: String(r.gcWindow.gc.count), met: r.gcWindow.gc.count === 0 },
    { name: 'latency: TS p99 <= 3x C p99', value: p99.toFixed(2), met: p99 <= 3 },
  ];
}

function table(rows: NicRow[]): string[] {
  const lines = ['batch  TS Mpps  C Mpps  TS cyc/pkt  C cyc/pkt  TS/C median (range)  per-run TS/C              not own TS/C  on CPU drv TS/C  GC (TS)'];
  for (const row of rows) {
    const gcs = row.runs.reduce((a, x) => a + x.gc.count, 0);
    lines.push(
      `${f(row.batch, 5, 0)} ${f(row.ts.mpps, 8, 2)} ${f(row.c.mpps, 7, 2)} ${f(row.ts.cyclesPerPacket, 11)} ${f(row.c.cyclesPerPacket, 10)}  ` +
        `${row.ratio.toFixed(2)} (${row.ratioMin.toFixed(2)}-${row.ratioMax.toFixed(2)})`.padEnd(21) +
        row.runs.map((x) => x.ratio.toFixed(2)).join(' ').padEnd(26) +
        pct(row.ts.idle, row.c.idle).padStart(12) +
        pct(row.ts.cpuShare, row.c.cpuShare).padStart(17) +
        `  ${gcs}`,
    );
  }
  return lines;
}

export function formatNic(r: NicBenchResult): string {
  const m = r.machine;
  const p = r.params;
  const pp = r.rows.flatMap((row) => row.runs.flatMap((x) => (x.pingPongNs === undefined ? [] : [x.pingPongNs])));
  const lines = [
    `NIC hot path: e1000e forwarding zero-copy (rx burst -> tx burst of the same buffer ids), ${p.frameBytes}-byte frames, rings of ${p.ring}, against the 82574 ring simulator`,
    `${m.cpu}, ${m.cpus} CPUs, TSC ${m.tscGHz.toFixed(3)} GHz, Node ${m.node}; driver on CPU ${m.driverCpu}; /proc/loadavg at start: ${m.loadavg}`,
    `median of ${p.repeats} run(s) of ${p.measureMs} ms after ${p.warmupMs} ms warm-up, C and TS alternating`,
    '',
    `two-CPU (simulator process on CPU ${m.simCpu}; cache-line round trip between the CPUs ${pp.length ? `${f(Math.min(...pp), 0, 0)}-${f(Math.max(...pp), 0, 0)}` : '?'} ns over the runs):`,
    ...table(r.rows.filter((x) => x.placement === 'two-cpu')),
    '',
    `same-core (the simulator's step on the driver's thread before each burst, timed apart; TS pays ${r.stepCallNs.toFixed(1)} ns per call into the addon, in its figure):`,
    ...table(r.rows.filter((x) => x.placement === 'same-core')),
    'cyc/pkt: driver CPU time x share of the window that was its own work, x TSC rate, per packet (bench/nic/figures.ts).',
    'not own: share of the window spent waiting on an empty ring (two-CPU) or in the simulator\'s step (same-core). on CPU below ~95%: another process took the CPU.',
  ];
  const share = Math.min(...r.rows.flatMap((x) => [x.ts.cpuShare, x.c.cpuShare]));
  if (share < 0.9)
    lines.push(
      `WARNING: other processes held the driver's CPU (it ran ${(100 * share).toFixed(0)}% of the time in some rows): ` +
        'the figures above measure the contention as much as the code. Run again on a quiet machine.',
    );
  const g = r.gcWindow;
  lines.push(
    '',
    `GC: ${g.gc.count} event(s), ${g.gc.ms.toFixed(1)} ms in a ${g.measureMs / 1000} s TS forwarding window (two-CPU, batch ${g.batch}, ${g.mpps.toFixed(2)} Mpps, ${g.cyclesPerPacket.toFixed(0)} cycles per packet)`,
  );
  const l = r.latency;
  const us = (ns: number) => {
    const v = ns / 1000;
    return v.toFixed(v >= 1000 ? 0 : v >= 100 ? 1 : 2).padStart(9);
  };
  lines.push(
    '',
    `latency, injection -> frame back on the transmit ring, at ${(l.offeredPps / 1e6).toFixed(2)} Mpps offered, batch ${l.batch}, two-CPU (µs)`,
    '         p50      p90      p99    p99.9      max   samples   missed',
    `TS ${us(l.ts.p50)}${us(l.ts.p90)}${us(l.ts.p99)}${us(l.ts.p999)}${us(l.ts.max)} ${String(l.ts.samples).padStart(10)} ${String(l.tsMissed).padStart(8)}`,
    `C  ${us(l.c.p50)}${us(l.c.p90)}${us(l.c.p99)}${us(l.c.p999)}${us(l.c.max)} ${String(l.c.samples).padStart(10)} ${String(l.cMissed).padStart(8)}`,
    '',
    'targets at batch 32 (measured, not asserted):',
    ...nicTargets(r).map((t) => `  ${t.name}: ${t.value} (${t.met ? 'met' : 'missed'})`),
  );
  const i = r.integrity;
  lines.push(`frames checked by the simulator: ${i.forwarded.toLocaleString('en')} back intact and in order, ${i.bad} bad, ${i.faults} DMA faults`);
  return lines.join('\n');
}
