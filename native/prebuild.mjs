// Builds the addons that ship prebuilt in the npm tarball (`npm run prebuilds`, run by
// prepack): prebuilds/linux-<arch>/vfio.glibc.node, which node-gyp-build finds at install
// and at load time. One Node-API build per architecture serves every Node version
// (binary.napi_versions in package.json). The libc tag keeps musl systems from picking a
// glibc binary: they build from source. Each binary's glibc/libstdc++ floor is then checked
// (check-symbols.mjs).
// Architectures: VFIO_PREBUILD_ARCHS=x64,arm64 builds exactly those and fails when a
// toolchain is missing (CI and releases set it, so the tarball does not depend on the packer's
// compilers). Unset, the host's architecture is built, plus arm64 on x64 when Debian's
// g++-aarch64-linux-gnu is there: prepack also runs for git installs, which must not need
// a cross compiler. An architecture left out is not broken, only built from source.
// Named `prebuilds`, not `prebuild`, which npm would run before every `npm run build`.
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const run = (cmd, args, env = process.env, cwd = undefined) => {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env, cwd });
  if (r.status !== 0) throw new Error(`prebuilds: ${cmd} ${args.join(' ')} exited with ${r.status}`);
};
const onPath = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

// Cross toolchains by target, from an x64 host (Debian package names).
const cross = {
  arm64: { prefix: 'aarch64-linux-gnu-', apt: 'g++-aarch64-linux-gnu' },
};

const require = createRequire(import.meta.url);
const prebuildify = require.resolve('prebuildify/bin.js');
const nodeGyp = require.resolve('node-gyp/bin/node-gyp.js');
const checkSymbols = fileURLToPath(new URL('check-symbols.mjs', import.meta.url));

// Against the running node's installed headers when it has them (Node-API's headers are the
// same for every architecture): node-gyp would otherwise download them, needing network.
const prefix = dirname(dirname(process.execPath));
const base = { ...process.env };
if (!base.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) base.npm_config_nodedir = prefix;

// prebuildify builds in build/ and moves the result out; a copy of the sources keeps the
// developer's own build/ (and what tests and benchmarks load from it) untouched.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'vfio-prebuilds-'));
for (const f of ['package.json', 'binding.gyp', 'native']) cpSync(join(root, f), join(work, f), { recursive: true });
symlinkSync(join(root, 'node_modules'), join(work, 'node_modules'));

// Only this run's binaries go into the tarball, never one left from an earlier run.
rmSync(join(root, 'prebuilds'), { recursive: true, force: true });

const strict = Boolean(process.env.VFIO_PREBUILD_ARCHS);
const archs = strict ? process.env.VFIO_PREBUILD_ARCHS.split(',').filter(Boolean) : [process.arch, 'arm64'];
try {
  for (const arch of new Set(archs)) {
    const env = { ...base };
    const args = ['--napi', '--strip', '--tag-libc', '--target', process.versions.node, '--node-gyp', nodeGyp];
    if (arch !== process.arch) {
      const tc = process.arch === 'x64' ? cross[arch] : undefined;
      if (!tc || !onPath(`${tc.prefix}g++`)) {
        const why = tc
          ? `prebuilds: ${tc.prefix}g++ not found (apt-get install ${tc.apt})`
          : `prebuilds: no cross toolchain known for ${arch} on ${process.arch}`;
        if (strict) throw new Error(why);
        console.warn(`${why}: no ${arch} prebuild; ${arch} installs will build from source`);
        continue;
      }
      Object.assign(env, { CC: `${tc.prefix}gcc`, CXX: `${tc.prefix}g++`, LINK: `${tc.prefix}g++` });
      args.push('--arch', arch, '--strip-bin', `${tc.prefix}strip`);
    }
    const dir = `linux-${arch}`;
    run(process.execPath, [prebuildify, ...args], env, work);
    cpSync(join(work, 'prebuilds', dir), join(root, 'prebuilds', dir), { recursive: true });
    const built = readdirSync(join(root, 'prebuilds', dir)).filter((f) => f.endsWith('.node'));
    run(process.execPath, [checkSymbols, ...built.map((f) => join('prebuilds', dir, f))], process.env, root);
  }
} catch (e) {
  console.error(e.message);
  process.exitCode = 1;
} finally {
  rmSync(work, { recursive: true, force: true });
}
