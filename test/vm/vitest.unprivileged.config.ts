import { mergeConfig } from 'vitest/config';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import base from './vitest.config.ts';

// The guest's second pass: node as uid 1000 with /dev/vfio/<edu group> granted and
// `ulimit -l 1024` (test/vm/commands/test.sh). Its own cache: root's is not writable.
// `include` is replaced, not merged: mergeConfig would append it to the root pass's.
const config = mergeConfig(base, { cacheDir: join(tmpdir(), 'vfio-vitest-cache-user') });
config.test = { ...config.test, include: ['test/vm/unprivileged/*.test.ts'] };
export default config;
