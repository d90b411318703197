/**
 * The same-core mode's simulator for the TypeScript driver: bench/addon/nic-sim-addon.c (the
 * shared step of bench/c/nic-sim-step.c behind Node-API), built at bench time with cc into
 * the caller's directory and loaded into this process. Bench-only: nothing under bench/ is
 * in the package.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { benchDir } from '../cbuild.js';

/** What the addon exports (see nic-sim-addon.c). */
export interface SameCoreSim {
  open(path: string, tscHz: number, timeoutS: number): void;
  startThread(): void;
  stopThread(): void;
  step(): void;
  cycles(): number;
  noop(): void;
  report(): string;
}

/**
 * Node's C headers (node_api.h): next to the node binary in an official or distribution
 * install (<prefix>/include/node), else node-gyp's cache, which building the package's own
 * addon filled (npm ci runs node-gyp), else fetched now by node-gyp.
 */
function nodeHeaders(): string {
  const version = process.version.slice(1);
  const candidates = [
    join(dirname(dirname(process.execPath)), 'include', 'node'),
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'node-gyp', version, 'include', 'node'),
    join(homedir(), '.node-gyp', version, 'include', 'node'),
  ];
  const found = () => candidates.find((d) => existsSync(join(d, 'node_api.h')));
  let dir = found();
  if (!dir) {
    const gyp = createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js');
    execFileSync(process.execPath, [gyp, 'install', '--ensure'], { stdio: 'ignore' });
    dir = found();
  }
  if (!dir) throw new Error(`bench nic: Node's headers (node_api.h) not found in ${candidates.join(', ')}`);
  return dir;
}

/** Builds the addon into `work` (cc -O2 -shared) and loads it. */
export function loadSameCoreSim(work: string): SameCoreSim {
  const out = join(work, 'nic_sim.node');
  execFileSync('cc', [
    '-O2', '-shared', '-fPIC', '-pthread', '-DNODE_GYP_MODULE_NAME=nic_sim', '-DNAPI_VERSION=8', `-I${nodeHeaders()}`,
    '-o', out, join(benchDir, 'addon', 'nic-sim-addon.c'), join(benchDir, 'c', 'nic-sim-step.c'),
  ]);
  return createRequire(import.meta.url)(out) as SameCoreSim;
}
