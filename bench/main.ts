/**
 * `npm run bench`: every benchmark with its C baseline from the same run, as a table and as
 * JSON under bench/results/. `npm run bench -- --smoke`: a short run that only checks that
 * they still work (CI runs it).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerBench } from './registers.js';
import { interruptBench } from './interrupts.js';

const smoke = process.argv.includes('--smoke');
const accesses = smoke ? 200_000 : 20_000_000;
const rounds = smoke ? 200 : 20_000;

const reg = registerBench(accesses);
console.log(`register access, ${accesses.toLocaleString('en')} accesses each (memory-backed mapping; C built with cc -O2)`);
console.log('op       JS ns   C ns   JS/C   JS overhead ns   overhead / 500 ns MMIO');
for (const r of reg.rows)
  console.log(
    `${r.op.padEnd(8)} ${r.jsNs.toFixed(2).padStart(5)} ${r.cNs.toFixed(2).padStart(6)} ${r.ratio.toFixed(2).padStart(6)} ${r.overheadNs.toFixed(2).padStart(16)} ${(100 * r.ofMmio500ns).toFixed(1).padStart(20)}%`,
  );
console.log(`(write32 is compared with a fenced C store; a plain one takes ${reg.cPlainWriteNs.toFixed(2)} ns)`);

const irq = await interruptBench(rounds);
const us = (ns: number) => (ns / 1000).toFixed(1).padStart(8);
console.log(`\ninterrupt delivery, eventfd from another process -> handler, ${rounds.toLocaleString('en')} events (µs)`);
console.log('          p50     p99   p99.9      max');
console.log(`JS   ${us(irq.js.p50)}${us(irq.js.p99)}${us(irq.js.p999)}${us(irq.js.max)}`);
console.log(`C    ${us(irq.c.p50)}${us(irq.c.p99)}${us(irq.c.p999)}${us(irq.c.max)}`);
console.log(`JS/C p50: ${(irq.js.p50 / irq.c.p50).toFixed(2)}`);

if (!smoke) {
  const dir = join(dirname(fileURLToPath(import.meta.url)), 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'latest.json'),
    JSON.stringify({ date: new Date().toISOString(), node: process.version, registers: { accesses, ...reg }, interrupts: { rounds, ...irq } }, null, 2) + '\n',
  );
}
