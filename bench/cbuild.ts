/** Builds a C baseline from bench/c/ with the host's compiler, as every benchmark does in the same run. */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = dirname(fileURLToPath(import.meta.url));

/** cc -O2 bench/c/<name>.c -o <out>; `static` for programs that run in the guest, whose initramfs
 * carries only the shared libraries node itself links; `pthread` for programs with threads;
 * `with`: more bench/c/ files (without .c) linked in. */
export function buildC(name: string, out: string, opts: { static?: boolean; pthread?: boolean; with?: string[] } = {}): string {
  const flags = [...(opts.static ? ['-static'] : []), ...(opts.pthread ? ['-pthread'] : [])];
  const sources = [name, ...(opts.with ?? [])].map((n) => join(benchDir, 'c', `${n}.c`));
  execFileSync('cc', ['-O2', ...flags, '-o', out, ...sources]);
  return out;
}
