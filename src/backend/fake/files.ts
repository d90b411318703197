// The fake kernel's file table: fd numbers as the kernel keeps them (SET_CONTAINER,
// BIND_IOMMUFD and SET_IRQS name files by number), and the handles the Backend hands out
// for them. Numbers are never reused, so a stale number names no file rather than another.
import { FakeHandle, newHandle, ownHandle } from './handle.js';
import type { FdEntry, OpenFile } from './objects.js';

export class FileTable {
  #fds = new Map<number, FdEntry>();
  #nextFd = 100;
  #owner: object;
  #release: (e: FdEntry) => void;
  // A handle collected unclosed closes its fd, as the native addon's finalizer does.
  #collected = new FinalizationRegistry<number>((fd) => {
    const e = this.#fds.get(fd);
    if (!e) return;
    this.#fds.delete(fd);
    try {
      this.#release(e);
    } catch {
      // Nobody is left to tell; the fd is gone from the table either way.
    }
  });

  /** `owner`: the kernel whose handles these are. `release`: what closing a file does after it left the table. */
  constructor(owner: object, release: (e: FdEntry) => void) {
    this.#owner = owner;
    this.#release = release;
  }

  get size(): number {
    return this.#fds.size;
  }

  /** The file behind `fd`, if it is open. */
  get(fd: number): FdEntry | undefined {
    return this.#fds.get(fd);
  }

  values(): IterableIterator<FdEntry> {
    return this.#fds.values();
  }

  /** Installs a new open file; returns its fd. */
  install(entry: FdEntry): number {
    const fd = this.#nextFd++;
    this.#fds.set(fd, entry);
    return fd;
  }

  /** A new handle for an installed fd. */
  handle(fd: number): FakeHandle {
    const h = newHandle(this.#owner, fd, this.#fds.get(fd)!.kind);
    this.#collected.register(h, fd, h);
    return h;
  }

  /** The open file behind argument `position` of call `fn`, which must be an open handle of this table's kernel. */
  file(h: unknown, fn: string, syscall: string, position = 1): OpenFile & { h: FakeHandle } {
    const own = ownHandle(h, this.#owner, fn, position, syscall);
    return { h: own, fd: own.fd, e: this.#fds.get(own.fd)! };
  }

  /** Closes the handle's fd: the handle reads as closed, then the file is released. */
  close(h: FakeHandle): void {
    const e = this.#fds.get(h.fd)!;
    this.#fds.delete(h.fd);
    FakeHandle.markClosed(h);
    this.#collected.unregister(h);
    this.#release(e);
  }
}
