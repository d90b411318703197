// Fails when a built addon needs a newer glibc or C++ runtime than the oldest distribution
// the prebuilt addon promises to load on: glibc 2.28 (Node 20's own floor; RHEL 8, Debian 10),
// libstdc++ 3.4.25 / CXXABI 1.3.11 (GCC 8, as RHEL 8 and Debian 10 ship).
//   node native/check-symbols.mjs [file.node ...]   (default: build/Release/vfio.node)
// Prints the symbol versions each file needs, from `objdump -T` (binutils).
import { execFileSync } from 'node:child_process';

const floor = { GLIBC: '2.28', GLIBCXX: '3.4.25', CXXABI: '1.3.11' };

const cmp = (a, b) => {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d) return d;
  }
  return 0;
};

const files = process.argv.slice(2);
if (!files.length) files.push('build/Release/vfio.node');
let bad = 0;
for (const file of files) {
  let dump;
  try {
    dump = execFileSync('objdump', ['-T', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    console.error(`${file}: objdump -T failed: ${e.stderr?.toString().trim() || e.message}`);
    bad++;
    continue;
  }
  // Only undefined symbols are needs; a version the file defines itself is no requirement.
  const needed = new Map();
  for (const line of dump.split('\n')) {
    const m = /\*UND\*\s+\S+\s+\(?([A-Z]+)_([0-9.]+)\)?\s/.exec(line);
    if (m) needed.set(`${m[1]}_${m[2]}`, [m[1], m[2]]);
  }
  const sorted = [...needed.values()].sort(([p, a], [q, b]) => p.localeCompare(q) || cmp(a, b));
  const over = sorted.filter(([lib, v]) => floor[lib] && cmp(v, floor[lib]) > 0);
  console.log(`${file}: ${sorted.map(([lib, v]) => `${lib}_${v}`).join(' ') || '(no versioned symbols)'}`);
  for (const [lib, v] of over) {
    const syms = dump.split('\n').filter((l) => l.includes(`(${lib}_${v})`)).map((l) => l.trim().split(/\s+/).pop());
    console.error(`  ${lib}_${v} is above the floor ${lib}_${floor[lib]}: ${syms.join(', ')}`);
  }
  bad += over.length;
}
process.exit(bad ? 1 : 0);
