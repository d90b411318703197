/**
 * The profiling run behind bench/nic/profile.ts (which compiles the sources so that lines
 * mean something, then starts this): the TS forwarding loop alone against the simulator,
 * under V8's sampling profiler (through node:inspector), printed as self time per function
 * and per line, with the line's code.
 */
import { Session } from 'node:inspector/promises';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { E1000ePort } from '../../src/net/e1000e/port.js';
import { CTL_STOP } from './layout.js';
import { createSharedNic } from './shm.js';
import { simDevice } from './sim-device.js';
import { startSim } from './sim.js';
import { buildNicTools } from './tools.js';
import { forwardTs } from './ts-forward.js';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount: number;
  positionTicks?: { line: number; ticks: number }[];
}

const args = process.argv.slice(2);
// --same-core: the simulator's step on this thread (bench addon), so no cross-CPU cache
// traffic lands on whichever line touches a shared cache line first; the step's own samples
// show as (program)/the addon and are left out of the driver's figure.
const sameCoreAt = args.indexOf('--same-core');
const sameCore = sameCoreAt >= 0 && args.splice(sameCoreAt, 1).length > 0;
const saveAt = args.indexOf('--save');
const save = saveAt >= 0 ? args.splice(saveAt, 2)[1] : undefined;
const batch = Number(args[0] ?? 32);
const seconds = Number(args[1] ?? 3);

const tools = buildNicTools({ sim: 1, driver: 0 });
const nic = createSharedNic();
const session = new Session();
session.connect();
try {
  const step = sameCore ? tools.addon : undefined;
  const sim = sameCore ? undefined : startSim(tools.sim, nic, { kind: 'throughput' }, tools.tscHz, 1, seconds + 30);
  if (step) {
    step.open(nic.path, tools.tscHz, seconds + 30);
    step.startThread(); // plays the hardware while open() sleeps through the reset
  }
  await sim?.ready;
  const port = E1000ePort.open(simDevice(nic), { interrupts: 'none', reset: false, promiscuous: true, rxDescriptors: 512, txDescriptors: 512 });
  step?.stopThread();
  tools.pin(process.pid, 0);
  forwardTs(port, nic.ctl, batch, 500, 300, tools.addon, sameCore); // JIT warm-up, outside the profile
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 50 });
  await session.post('Profiler.start');
  const r = forwardTs(port, nic.ctl, batch, 0, seconds * 1000, tools.addon, sameCore);
  const { profile } = (await session.post('Profiler.stop')) as { profile: { nodes: Node[] } };
  tools.pin(process.pid, -1);
  port.close();
  Atomics.store(nic.ctl, CTL_STOP, 1);
  if (step) step.report();
  await sim?.report;
  if (save) writeFileSync(save, JSON.stringify(profile));

  const total = profile.nodes.reduce((a, n) => a + n.hitCount, 0);
  const byFn = new Map<string, number>();
  const byLine = new Map<string, number>();
  const urls = new Map<string, string>();
  for (const n of profile.nodes) {
    const file = n.callFrame.url.replace(/^.*\/(examples|bench|src)\//, '$1/');
    urls.set(file, n.callFrame.url);
    const fn = `${n.callFrame.functionName || '(anonymous)'} ${file}:${n.callFrame.lineNumber + 1}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + n.hitCount);
    for (const t of n.positionTicks ?? []) byLine.set(`${file}:${t.line}`, (byLine.get(`${file}:${t.line}`) ?? 0) + t.ticks);
  }
  const top = (m: Map<string, number>, k: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k);
  const pc = (t: number) => `${((100 * t) / total).toFixed(1).padStart(5)}%`;
  const notOwn = (r.idleNs + r.simCycles / (tools.tscHz / 1e9)) / r.wallNs;
  const busy = (r.cpuNs * (1 - notOwn) * tools.tscHz) / 1e9 / r.packets;
  console.log(
    `batch ${batch}${sameCore ? ', same-core' : ''}: ${((r.packets / r.wallNs) * 1e3).toFixed(2)} Mpps, ${busy.toFixed(0)} cycles per packet (profiler on), ` +
      `not the driver's ${(100 * notOwn).toFixed(0)}% (waiting in forwardTs's rxReady loop, or the simulator's step), ${total} samples`,
  );
  console.log('\nself time by function (functions TurboFan inlined count as their caller):');
  for (const [name, t] of top(byFn, 12)) console.log(`${pc(t)}  ${name}`);
  console.log('\nself time by line:');
  const sources = new Map<string, string[]>();
  for (const [where, t] of top(byLine, 25)) {
    const [file, line] = [where.slice(0, where.lastIndexOf(':')), Number(where.slice(where.lastIndexOf(':') + 1))];
    let text = '';
    const url = urls.get(file);
    if (url?.startsWith('file:')) {
      if (!sources.has(url)) sources.set(url, readFileSync(fileURLToPath(url), 'utf8').split('\n'));
      text = sources.get(url)![line - 1]?.trim().slice(0, 110) ?? '';
    }
    console.log(`${pc(t)}  ${where.padEnd(34)} ${text}`);
  }
} finally {
  session.disconnect();
  nic.close();
  tools.dispose();
}
