/**
 * C/TS pairs of one placement and batch, for before/after measurements of a driver change
 * without the whole benchmark:
 *
 *   npx tsx bench/nic/pairs.ts [same-core|two-cpu] [batch=32] [pairs=5] [measureMs=1000]
 *
 * Prints each pair (C, then TS) and the medians, as bench/nic.ts computes them.
 */
import { figures, median } from './figures.js';
import { buildNicTools } from './tools.js';
import { NicWindows, type Placement } from './window.js';

const placement = (process.argv[2] ?? 'same-core') as Placement;
const batch = Number(process.argv[3] ?? 32);
const pairs = Number(process.argv[4] ?? 5);
const measureMs = Number(process.argv[5] ?? 1000);
const tools = buildNicTools({ sim: 1, driver: 0 });
const w = new NicWindows(tools, 1, 0, 512);
try {
  const g = tools.tscHz / 1e9;
  const cs: number[] = [];
  const ts: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < pairs; i++) {
    const c = await w.once('c', placement, batch, { kind: 'throughput' }, 300, measureMs);
    const t = await w.once('ts', placement, batch, { kind: 'throughput' }, 300, measureMs);
    const fc = figures(c.d, c.s, g);
    const ft = figures(t.d, t.s, g);
    cs.push(fc.cyclesPerPacket);
    ts.push(ft.cyclesPerPacket);
    ratios.push(ft.cyclesPerPacket / fc.cyclesPerPacket);
    console.log(
      `${placement} batch ${batch} pair ${i + 1}: C ${fc.cyclesPerPacket.toFixed(1)}, TS ${ft.cyclesPerPacket.toFixed(1)} cycles per packet, ` +
        `TS/C ${ratios[i]!.toFixed(2)}; on CPU C ${(100 * fc.cpuShare).toFixed(0)}%, TS ${(100 * ft.cpuShare).toFixed(0)}%; GC ${t.gc!.count}`,
    );
  }
  console.log(`median: C ${median(cs).toFixed(1)}, TS ${median(ts).toFixed(1)}, TS/C ${median(ratios).toFixed(2)}`);
  if (w.integrity.bad || w.integrity.faults) throw new Error(`bench nic: ${w.integrity.bad} bad frame(s), ${w.integrity.faults} fault(s)`);
} finally {
  w.dispose();
  tools.dispose();
}
