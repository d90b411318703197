/** What a VfioError is made from: its fields, and the message text before decoration. */
export interface VfioErrorInit {
  /** errno name from the kernel ('EINVAL'), or an ERR_VFIO_* code for our own checks. */
  code: string;
  /** The step that failed: 'VFIO_GROUP_SET_CONTAINER', 'open /dev/vfio/7', 'mmap BAR0', … */
  op: string;
  /** What went wrong; the error's message prefixes `op` and the device or group. */
  message: string;
  /** The kernel's errno number, where a syscall failed. */
  errno?: number;
  /** PCI address (`0000:00:03.0`) of the device concerned, if any. */
  device?: string;
  /** IOMMU group number concerned, if any (used when no device is named). */
  group?: number;
  /** What usually causes this and what to do about it. */
  hint?: string;
  /** The underlying error (a backend's system error), kept as the Error `cause`. */
  cause?: unknown;
}

/**
 * Every failure the library reports is a VfioError: which step failed, on which
 * device or group, the kernel's errno where there is one, and a hint for the
 * usual causes. Argument mistakes stay TypeError/RangeError with a named call.
 *
 * Branch on `code`: an errno name (`'EBUSY'`, `'EPERM'`, …) when the kernel refused, or
 * one of the library's own `ERR_VFIO_*` codes, e.g. `ERR_VFIO_CLOSED` (the object was
 * closed), `ERR_VFIO_GROUP_NOT_VIABLE`, `ERR_VFIO_NOT_BOUND`, `ERR_VFIO_NO_IOMMU`.
 * The message is `op (device): message`; the hint is its own field, which toString() and
 * `stack` (what an uncaught error prints) add on a `hint:` line.
 */
export class VfioError extends Error {
  /** errno name from the kernel ('EINVAL'), or an ERR_VFIO_* code for the library's own checks. */
  readonly code: string;
  /** The step that failed: an ioctl name, 'open /dev/vfio/7', 'mmap BAR0', a method name, … */
  readonly op: string;
  /** The kernel's errno number; undefined for the library's own checks. */
  readonly errno: number | undefined;
  /** PCI address of the device concerned, if any. */
  readonly device: string | undefined;
  /** IOMMU group number concerned, if any. */
  readonly group: number | undefined;
  /** The usual cause and remedy (not part of `message`; toString() and `stack` show it); undefined if none is known. */
  readonly hint: string | undefined;

  readonly #init: VfioErrorInit;

  /** `VfioError: op (device): message`, and the hint on a second line when there is one. */
  override toString(): string {
    return `${this.name}: ${this.message}` + (this.hint ? `\n  hint: ${this.hint}` : '');
  }

  constructor(init: VfioErrorInit) {
    const who = init.device ? ` (${init.device})` : init.group !== undefined ? ` (group ${init.group})` : '';
    super(`${init.op}${who}: ${init.message}`, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'VfioError';
    // An uncaught error prints its stack: the hint goes there (and into toString()), not into
    // the message, so code that prints message and hint shows the hint once.
    if (init.hint && this.stack !== undefined) {
      const head = `${this.name}: ${this.message}`;
      const at = this.stack.startsWith(head) ? head.length : this.stack.indexOf('\n');
      this.stack = `${head}\n  hint: ${init.hint}` + (at < 0 ? '' : this.stack.slice(at));
    }
    this.code = init.code;
    this.op = init.op;
    this.errno = init.errno;
    this.device = init.device;
    this.group = init.group;
    this.hint = init.hint;
    this.#init = init;
  }

  /**
   * @internal The same failure naming a device or group it did not name yet: a close step
   * of a shared object (the container) fails on behalf of the device being closed.
   */
  withContext(ctx: { device?: string; group?: number }): VfioError {
    const device = this.device ?? ctx.device;
    const group = this.group ?? ctx.group;
    if (device === this.device && group === this.group) return this;
    const e = new VfioError({ ...this.#init, ...(device !== undefined && { device }), ...(group !== undefined && { group }) });
    e.stack = e.stack?.split('\n')[0] + '\n' + (this.stack?.split('\n').slice(1).join('\n') ?? '');
    return e;
  }
}

/** Adds `ctx` to a VfioError that lacks it, and to each VfioError of an AggregateError. */
export function withContext(e: unknown, ctx: { device?: string; group?: number }): unknown {
  if (e instanceof VfioError) return e.withContext(ctx);
  if (e instanceof AggregateError) return new AggregateError(e.errors.map((x) => withContext(x, ctx)), e.message);
  return e;
}

/** The shape of a failed syscall as the backends throw it (like Node's system errors). */
export interface SystemErrorLike {
  code: string;
  /** Negative, as Node's (-22 for EINVAL); VfioError.errno is the kernel's positive number. */
  errno: number;
  syscall?: string;
  message: string;
}

export function isSystemError(e: unknown): e is SystemErrorLike {
  return (
    e instanceof Error &&
    typeof (e as Partial<SystemErrorLike>).code === 'string' &&
    typeof (e as Partial<SystemErrorLike>).errno === 'number'
  );
}

export interface ErrorContext {
  device?: string;
  group?: number;
  /** Computes a hint from the errno name; return undefined for none. */
  hint?: (code: string) => string | undefined;
}

/**
 * Runs one backend call; a failed syscall becomes a VfioError naming `op`.
 * Anything else (a TypeError from argument checks) passes through unchanged.
 */
export function syscall<T>(op: string, ctx: ErrorContext, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    throw toVfioError(e, op, ctx);
  }
}

export function toVfioError(e: unknown, op: string, ctx: ErrorContext): unknown {
  if (!isSystemError(e)) return e;
  const hint = ctx.hint?.(e.code);
  return new VfioError({
    code: e.code,
    errno: Math.abs(e.errno),
    op,
    message: e.message,
    cause: e,
    ...(ctx.device !== undefined && { device: ctx.device }),
    ...(ctx.group !== undefined && { group: ctx.group }),
    ...(hint !== undefined && { hint }),
  });
}

/** Thrown by every method of an object after its close(); `hint` replaces the advice to open it again. */
export function closedError(what: string, op: string, device?: string, hint = 'open it again; objects cannot be used after close()'): VfioError {
  return new VfioError({
    code: 'ERR_VFIO_CLOSED',
    op,
    message: `${what} is closed`,
    ...(device !== undefined && { device }),
    hint,
  });
}

/**
 * Runs every step of a close() even when one fails, then rethrows: the one error, or an
 * AggregateError naming `what` when several steps failed.
 */
export function closeSteps(what: string, steps: readonly (() => void)[]): void {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      step();
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${what}: several steps failed`);
}
