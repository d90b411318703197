/**
 * The NIC benchmark's addon, bench/addon/nic-sim-addon.c: the same-core mode's simulator
 * (the shared step of bench/c/nic-sim-step.c behind Node-API) and a clock that allocates
 * nothing. Built at bench time with cc into the caller's directory and loaded into this
 * process. Bench-only: nothing under bench/ is in the package.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { benchDir } from '../cbuild.js';

/** What the addon exports (see nic-sim-addon.c). */
export interface NicAddon {
  open(path: string, tscHz: number, timeoutS: number): void;
  startThread(): void;
  stopThread(): void;
  step(): void;
  cycles(): number;
  noop(): void;
  report(): string;
  clockBind(out: Float64Array): void;
  clock(): void;
}

/**
 * A monotonic clock in ms that allocates nothing: the addon writes into a Float64Array whose
 * memory is off the JS heap, the caller reads the element (an unboxed double in optimized
 * code). performance.now() allocates per call.
 */
export function addonClock(addon: NicAddon): () => number {
  const out = new Float64Array(new ArrayBuffer(8));
  addon.clockBind(out);
  const tick = addon.clock;
  return () => {
    tick();
    return out[0]!;
  };
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
export function loadNicAddon(work: string): NicAddon {
  const out = join(work, 'nic_sim.node');
  execFileSync('cc', [
    '-O2', '-shared', '-fPIC', '-pthread', '-DNODE_GYP_MODULE_NAME=nic_sim', '-DNAPI_VERSION=8', `-I${nodeHeaders()}`,
    '-o', out, join(benchDir, 'addon', 'nic-sim-addon.c'), join(benchDir, 'c', 'nic-sim-step.c'),
  ]);
  return createRequire(import.meta.url)(out) as NicAddon;
}
