/** The named-error check the SR-IOV suites (fake and guest) share. */
import { expect } from 'vitest';
import { VfioError } from '../../src/index.js';

/**
 * Runs `fn`, which must throw a VfioError with `code` (and `errno`, when given), and returns
 * it for further checks. Anything else it throws is rethrown as it is, so the failure shows
 * the real error; returning is a failure too.
 */
export function refused(fn: () => unknown, code: string, errno?: number): VfioError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof VfioError) || e.code !== code) throw e;
    if (errno !== undefined) expect(e.errno, `${code}'s errno`).toBe(errno);
    return e;
  }
  throw new Error(`expected ${code}, but it worked`);
}
