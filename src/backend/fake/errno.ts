// Errors shaped exactly like the native addon's (and Node's) system errors.
import { constants } from 'node:os';

const errnos = constants.errno as Record<string, number>;

export function errnoError(code: string, syscall: string, detail?: string): Error {
  const errno = errnos[code] ?? 0;
  const e = new Error(`${syscall} failed: ${code}${detail ? `: ${detail}` : ''}`) as Error & { code: string; errno: number; syscall: string };
  e.code = code;
  e.errno = -errno; // negative, as Node's system errors and the native shim's
  e.syscall = syscall;
  return e;
}
