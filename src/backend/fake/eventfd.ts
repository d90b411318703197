// eventfds of the fake kernel: a counter, and pollers that are called on the
// event loop (setImmediate) after it becomes non-zero — the same shape as the
// native poller (callback(err, count), counter read and reset on delivery).
import type { EventCallback, EventPoller } from '../backend.js';

export class FakeEventfd {
  counter = 0n;
  poller: FakePoller | null = null;
  closed = false;

  signal(value = 1n): void {
    if (this.closed) return;
    this.counter += value;
    this.poller?.schedule();
  }

  read(): bigint | null {
    if (this.counter === 0n) return null;
    const v = this.counter;
    this.counter = 0n;
    return v;
  }
}

export class FakePoller implements EventPoller {
  #efd: FakeEventfd;
  #cb: EventCallback | null;
  #pending: NodeJS.Immediate | null = null;
  #refed = true;
  // An armed native poller is an active libuv handle: it keeps the process alive
  // until unref()/close(). A timer that never fires plays that part here.
  #keepAlive: NodeJS.Timeout = setInterval(() => {}, 2 ** 31 - 1);
  #onClose: () => void;

  constructor(efd: FakeEventfd, cb: EventCallback, onClose: () => void) {
    this.#efd = efd;
    this.#cb = cb;
    this.#onClose = onClose;
    efd.poller = this;
    if (efd.counter > 0n) this.schedule();
  }

  get closed(): boolean {
    return this.#cb === null;
  }

  schedule(): void {
    if (this.#pending || this.#cb === null) return;
    this.#pending = setImmediate(() => {
      this.#pending = null;
      const v = this.#efd.read();
      if (v !== null && this.#cb) this.#cb(null, Number(v));
    });
    if (!this.#refed) this.#pending.unref();
  }

  ref(): void {
    if (this.closed) return;
    this.#refed = true;
    this.#keepAlive.ref();
    this.#pending?.ref();
  }
  unref(): void {
    if (this.closed) return;
    this.#refed = false;
    this.#keepAlive.unref();
    this.#pending?.unref();
  }

  close(): void {
    if (this.#cb === null) return;
    this.#cb = null;
    clearInterval(this.#keepAlive);
    if (this.#pending) clearImmediate(this.#pending);
    this.#pending = null;
    this.#efd.poller = null;
    this.#onClose();
  }
}
