// Process limits that VFIO runs into, read from /proc (Node has no getrlimit).
import { readFileSync } from 'node:fs';

/** RLIMIT_MEMLOCK soft limit in bytes; Infinity for unlimited; undefined if unreadable. */
export function memlockLimit(procSelf = '/proc/self'): number | undefined {
  try {
    const line = readFileSync(`${procSelf}/limits`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('Max locked memory'));
    const soft = line?.slice('Max locked memory'.length).trim().split(/\s+/)[0];
    if (soft === undefined) return undefined;
    return soft === 'unlimited' ? Infinity : Number(soft);
  } catch {
    return undefined;
  }
}

export function formatBytes(n: number): string {
  if (n === Infinity) return 'unlimited';
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) {
    if (n >= size && n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} bytes`;
}
