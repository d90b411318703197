// Runs cmake-js against native/CMakeLists.txt: `node native/cmake-build.mjs [--sanitize]`.
// Output: build-cmake/ (with compile_commands.json), or build-asan/ for the
// ASan/UBSan build. cmake-js downloads Node's headers unless npm's nodedir points at
// installed ones; point it at the running node's headers when they exist, so the
// build works offline.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const sanitize = process.argv.includes('--sanitize');
const prefix = dirname(dirname(process.execPath));
const env = { ...process.env };
if (!env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node.h'))) env.npm_config_nodedir = prefix;
const cli = createRequire(import.meta.url).resolve('cmake-js/bin/cmake-js');
const args = ['build', '-d', 'native', '-O', sanitize ? 'build-asan' : 'build-cmake'];
if (sanitize) args.push('--CDVFIO_SANITIZE=ON', '-B', 'RelWithDebInfo');
const r = spawnSync(process.execPath, [cli, ...args], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
