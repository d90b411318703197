// The fake kernel's FdHandle. Only this module can make one (the constructor wants a token no
// other module holds), so a handle cannot be forged around a chosen fd number, and each
// remembers its kernel, so one kernel refuses another's.
import type { FdHandle, FileKind } from '../backend.js';
import { errnoError } from './errno.js';

const TOKEN = Symbol('FakeHandle');

/** An open file of one FakeKernel: its fd in that kernel's table, until closed. */
export class FakeHandle implements FdHandle {
  #fd: number;
  readonly #kind: FileKind;
  readonly #owner: object;

  constructor(token: symbol, owner: object, fd: number, kind: FileKind) {
    if (token !== TOKEN) throw new TypeError('FakeHandle: handles are made by FakeKernel.open, groupDeviceFd and eventfd');
    this.#owner = owner;
    this.#fd = fd;
    this.#kind = kind;
  }

  get fd(): number {
    return this.#fd;
  }
  get kind(): FileKind {
    return this.#kind;
  }
  get closed(): boolean {
    return this.#fd === -1;
  }

  /** Whether `v` is a handle `owner` made; a brand check, so no object can pass for one. */
  static ownedBy(v: unknown, owner: object): v is FakeHandle {
    return typeof v === 'object' && v !== null && #owner in v && v.#owner === owner;
  }

  /** The fd is gone from the table: the handle reads as closed from now on. */
  static markClosed(h: FakeHandle): void {
    h.#fd = -1;
  }
}

/** A new handle of `owner` for `fd`. */
export function newHandle(owner: object, fd: number, kind: FileKind): FakeHandle {
  return new FakeHandle(TOKEN, owner, fd, kind);
}

/**
 * The open handle `v` of `owner`, as every Backend call takes its file: anything else is a
 * TypeError naming call `fn` and argument `position` (the shim's wording); a closed handle
 * is EBADF from `syscall`.
 */
export function ownHandle(v: unknown, owner: object, fn: string, position: number, syscall: string): FakeHandle {
  if (!FakeHandle.ownedBy(v, owner)) {
    const why = typeof v === 'number' ? ' (fd numbers are not accepted)' : '';
    throw new TypeError(`${fn}: argument ${position} must be a handle from open(), groupDeviceFd() or eventfd() of this backend${why}`);
  }
  if (v.closed) throw errnoError('EBADF', syscall, 'the handle is closed');
  return v;
}
