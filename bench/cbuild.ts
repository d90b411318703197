/** Builds a C baseline from bench/c/ with the host's compiler, as every benchmark does in the same run. */
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const benchDir = dirname(fileURLToPath(import.meta.url));

/** cc -O2 bench/c/<name>.c -o <out>; `static` for programs that run in the guest, whose initramfs
 * carries only the shared libraries node itself links; `pthread` for programs with threads. */
export function buildC(name: string, out: string, opts: { static?: boolean; pthread?: boolean } = {}): string {
  const flags = [...(opts.static ? ['-static'] : []), ...(opts.pthread ? ['-pthread'] : [])];
  execFileSync('cc', ['-O2', ...flags, '-o', out, join(benchDir, 'c', `${name}.c`)]);
  return out;
}
