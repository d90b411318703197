import { mergeConfig } from 'vitest/config';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import base from './vitest.config.ts';

// The SR-IOV guest's unprivileged passes (test/vm/commands/sriov.sh): node as uid 1000 owning
// the nodes of the devices root set up for one flow, `ulimit -l 1024`; one file per pass, named
// on the command line. `include` is replaced, not merged (see vitest.unprivileged.config.ts).
const config = mergeConfig(base, { cacheDir: join(tmpdir(), 'vfio-vitest-cache-user') });
config.test = { ...config.test, include: ['test/vm/unprivileged/sriov/*.test.ts'], exclude: [] };
export default config;
