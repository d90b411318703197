/**
 * Where the TypeScript driver's time goes, by line:
 *
 *   npx tsx bench/nic/profile.ts [batch=32] [seconds=3] [--same-core] [--save FILE.cpuprofile]
 *
 * tsx hands V8 each module's code on one line, which leaves a profile nothing finer than
 * functions (and TurboFan inlines the driver's into the loop). So this compiles src/,
 * examples/e1000e/ and bench/ to JavaScript one file at a time (esbuild, which tsx runs on;
 * no bundling, so modules keep their paths and imports), then runs profile-run.js from
 * there with the native addon this checkout built. Lines in the output are lines of that JS.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const out = mkdtempSync(join(tmpdir(), 'vfio-bench-nic-profile-'));

function compile(dir: string): void {
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = join(dir, e.name);
    if (e.isDirectory()) compile(rel);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
      const js = transformSync(readFileSync(join(root, rel), 'utf8'), { loader: 'ts', format: 'esm', target: 'es2022' }).code;
      mkdirSync(join(out, dir), { recursive: true });
      writeFileSync(join(out, rel.replace(/\.ts$/, '.js')), js);
    }
  }
}

try {
  for (const dir of ['src', 'examples/e1000e', 'bench']) compile(dir);
  cpSync(join(root, 'bench/c'), join(out, 'bench/c'), { recursive: true });
  cpSync(join(root, 'bench/addon'), join(out, 'bench/addon'), { recursive: true });
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  const r = spawnSync(process.execPath, [join(out, 'bench/nic/profile-run.js'), ...process.argv.slice(2)], {
    stdio: 'inherit',
    env: { ...process.env, VFIO_NATIVE_ADDON: join(root, 'build/Release/vfio.node') },
  });
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
