// Errors shaped exactly like the native addon's (and Node's) system errors.
import { constants } from 'node:os';

const errnos = constants.errno as Record<string, number>;
// Node's table names only what libuv knows: EBADFD (iommufd_ctx_from_fd's answer for another
// kind of file) is Linux's 77 on x86-64 and arm64, as the native shim reports it.
const LINUX_ONLY: Record<string, number> = { EBADFD: 77 };

export function errnoError(code: string, syscall: string, detail?: string): Error {
  const errno = errnos[code] ?? LINUX_ONLY[code] ?? 0;
  const e = new Error(`${syscall} failed: ${code}${detail ? `: ${detail}` : ''}`) as Error & { code: string; errno: number; syscall: string };
  e.code = code;
  e.errno = -errno; // negative, as Node's system errors and the native shim's
  e.syscall = syscall;
  return e;
}
