/**
 * What the release quarantine costs (native/memory.cc, "The quarantine"; README "Safety model").
 *  1. C: ns per release of a populated mapping, munmap against the placeholder (mmap MAP_FIXED)
 *     plus its deferred munmap.
 *  2. The shim: 10k dmaAlloc(4 KiB)+dmaFree cycles (half with a live neighbour, so placeholders
 *     cannot all merge into one VMA): µs per cycle, /proc/self/maps lines and VmRSS before, after
 *     the cycles (quarantine full) and after drainQuarantine(); then the same after late writes
 *     dirty every page of 64 MiB of quarantined buffers (the RSS a quarantine can hold).
 * Run: npx tsx bench/release.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildC } from './cbuild.js';
import { loadAddon } from '../src/backend/native.js';

const a = loadAddon() as unknown as {
  dmaAlloc(n: number, huge: number): { buffer: ArrayBuffer };
  dmaFree(b: ArrayBuffer): void;
  drainQuarantine(): void;
};
const maps = () => readFileSync('/proc/self/maps', 'utf8').split('\n').length - 1;
const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
const state = (label: string) => console.log(`  ${label.padEnd(34)} maps ${String(maps()).padStart(6)}   VmRSS ${String(rssKiB()).padStart(8)} KiB`);

const dir = mkdtempSync(join(tmpdir(), 'vfio-bench-release-'));
try {
  const bin = buildC('release', join(dir, 'release'));
  console.log('C, ns per release (mean):');
  for (const size of [4096, 65536, 2 << 20]) {
    const n = size > 65536 ? 2000 : 20000;
    const r = JSON.parse(execFileSync(bin, [String(size), String(n)], { encoding: 'utf8' }));
    console.log(`  ${String(size).padStart(8)} B   munmap ${String(r.munmapNs).padStart(7)}   placeholder ${String(r.placeholderNs).padStart(7)}   + later munmap ${String(r.laterMunmapNs).padStart(7)}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

console.log('shim, 10k dmaAlloc(4096)+dmaFree cycles:');
a.drainQuarantine();
state('before');
const t0 = process.hrtime.bigint();
for (let i = 0; i < 10_000; i++) {
  const x = a.dmaAlloc(4096, 0).buffer;
  const keep = i % 2 ? a.dmaAlloc(4096, 0).buffer : undefined;
  a.dmaFree(x);
  if (keep) a.dmaFree(keep);
}
const us = Number(process.hrtime.bigint() - t0) / 1e3 / 15_000;
state('after (quarantine full)');
a.drainQuarantine();
state('after drainQuarantine()');
console.log(`  ${us.toFixed(2)} µs per alloc+free (15k of each)`);

console.log('late writes: crypto.randomFill on 64 x 1 MiB buffers, each freed while it runs:');
const { randomFill } = await import('node:crypto');
a.drainQuarantine();
state('before');
for (let i = 0; i < 64; i++) {
  const x = a.dmaAlloc(1 << 20, 0).buffer;
  const done = new Promise<void>((resolve) => randomFill(new Uint8Array(x), () => resolve()));
  a.dmaFree(x);
  await done;
}
state('after (late writes in placeholders)');
a.drainQuarantine();
state('after drainQuarantine()');
