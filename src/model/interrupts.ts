import { EventEmitter } from 'node:events';
import type { Backend, EventPoller, FdHandle } from '../backend/backend.js';
import { VfioError, closedError, syscall, toVfioError } from '../errors.js';
import { VFIO_DEVICE_SET_IRQS } from '../uapi/ioctl.js';
import { VFIO_IRQ_SET_ACTION_TRIGGER, VFIO_IRQ_SET_ACTION_UNMASK, encodeIrqSet } from '../uapi/vfio-irq.js';
import {
  VFIO_PCI_ERR_IRQ_INDEX,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_REQ_IRQ_INDEX,
} from '../uapi/vfio-pci.js';

/** The interrupt types a PCI device can raise: legacy INTx, MSI, MSI-X. */
export type IrqKind = 'intx' | 'msi' | 'msix';
/** The device's interrupts plus vfio-pci's two notifiers: PCIe errors and release requests. */
export type IrqIndexName = IrqKind | 'err' | 'req';

export const IRQ_INDEX: Readonly<Record<IrqIndexName, number>> = {
  intx: VFIO_PCI_INTX_IRQ_INDEX,
  msi: VFIO_PCI_MSI_IRQ_INDEX,
  msix: VFIO_PCI_MSIX_IRQ_INDEX,
  err: VFIO_PCI_ERR_IRQ_INDEX,
  req: VFIO_PCI_REQ_IRQ_INDEX,
};

/** The events an InterruptVector emits (Node EventEmitter). */
export interface InterruptVectorEvents {
  /**
   * The device raised the vector: `count` is how many times since the last delivery
   * (the eventfd counter; interrupts that arrive together coalesce).
   */
  interrupt: [count: number];
  /**
   * Polling or reading the eventfd failed: a VfioError (`code` the errno name, or
   * ERR_VFIO_POLL; `op` 'poll eventfd (vector N)'; `device`; `hint`). As for any
   * EventEmitter, an 'error' nobody listens to is thrown, from the event loop: it ends the
   * process unless you listen.
   */
  error: [err: VfioError];
  /** The vector was closed (its InterruptSet disabled, or the device closed). */
  close: [];
}

interface Waiter {
  resolve: (count: number) => void;
  reject: (err: Error) => void;
  timer?: NodeJS.Timeout;
}

/**
 * One interrupt vector: the kernel signals its eventfd, and the backend's poller delivers
 * that on this thread's event loop as an 'interrupt' event (with the count) and to the
 * async iterator.
 */
export class InterruptVector extends EventEmitter<InterruptVectorEvents> {
  /** Its number within the InterruptSet (the MSI/MSI-X vector number; 0 for INTx). */
  readonly vector: number;
  #poller: EventPoller;
  #waiters: Waiter[] = [];
  #queues = new Set<{ counts: number[]; wake: (() => void) | null }>();
  #device: string;

  /** @internal created by Device.enableInterrupts */
  constructor(backend: Backend, eventfd: FdHandle, vector: number, device: string) {
    super();
    this.vector = vector;
    this.#device = device;
    this.#poller = backend.poll(eventfd, (err, count) => this.#deliver(err, count));
  }

  /** True once the vector is closed: no more events; wait() rejects. */
  get closed(): boolean {
    return this.#poller.closed;
  }

  /** Keeps the process alive while armed (the default). */
  ref(): this {
    this.#poller.ref();
    return this;
  }
  /** Lets the process exit while the vector is armed (as the Device's own notifiers do). */
  unref(): this {
    this.#poller.unref();
    return this;
  }

  /**
   * Resolves with the count of the next interrupt (interrupts before the call are not
   * counted). Rejects with a VfioError: ETIMEDOUT after `timeoutMs` milliseconds (when
   * given), ERR_VFIO_CLOSED if the vector is or gets closed first.
   */
  wait(timeoutMs?: number): Promise<number> {
    if (this.closed) return Promise.reject(closedError(`interrupt vector ${this.vector}`, 'InterruptVector.wait', this.#device));
    return new Promise((resolve, reject) => {
      const w: Waiter = { resolve, reject };
      if (timeoutMs !== undefined) {
        w.timer = setTimeout(() => {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          reject(
            new VfioError({
              code: 'ETIMEDOUT',
              op: 'InterruptVector.wait',
              device: this.#device,
              message: `no interrupt on vector ${this.vector} within ${timeoutMs} ms`,
              hint: 'is Bus Master enabled, and the device told to raise it?',
            }),
          );
        }, timeoutMs);
      }
      this.#waiters.push(w);
    });
  }

  /**
   * `for await (const count of vector)`: each interrupt's count, queued from the moment
   * the loop starts so none is missed between iterations; ends when the vector is closed.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<number, void, undefined> {
    const q: { counts: number[]; wake: (() => void) | null } = { counts: [], wake: null };
    this.#queues.add(q);
    try {
      for (;;) {
        const next = q.counts.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (this.closed) return;
        await new Promise<void>((r) => (q.wake = r));
        q.wake = null;
      }
    } finally {
      this.#queues.delete(q);
    }
  }

  #deliver(err: Error | null, count: number): void {
    if (err) {
      this.emit('error', this.#pollError(err));
      return;
    }
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const w of waiters) {
      if (w.timer) clearTimeout(w.timer);
      w.resolve(count);
    }
    for (const q of this.#queues) {
      q.counts.push(count);
      q.wake?.();
    }
    this.emit('interrupt', count);
  }

  #pollError(err: Error): VfioError {
    const op = `poll eventfd (vector ${this.vector})`;
    const hint = 'this vector may deliver nothing more: disable() its InterruptSet and enable interrupts again';
    const e = toVfioError(err, op, { device: this.#device, hint: () => hint });
    if (e instanceof VfioError) return e;
    return new VfioError({ code: 'ERR_VFIO_POLL', op, device: this.#device, message: err.message, hint, cause: err });
  }

  /** @internal InterruptSet.disable, after the kernel has let go of the eventfd. */
  close(): void {
    if (this.closed) return;
    this.#poller.close();
    for (const w of this.#waiters.splice(0)) {
      if (w.timer) clearTimeout(w.timer);
      w.reject(closedError(`interrupt vector ${this.vector}`, 'InterruptVector.wait', this.#device));
    }
    for (const q of this.#queues) q.wake?.();
    this.emit('close');
  }
}

/**
 * The vectors of one IRQ index (INTx, MSI, MSI-X, or a notifier) armed with eventfds
 * through VFIO_DEVICE_SET_IRQS.
 */
export class InterruptSet {
  /** The IRQ index the vectors belong to. */
  readonly kind: IrqIndexName;
  /** Every vector armed, in vector order. */
  readonly vectors: readonly InterruptVector[];
  #backend: Backend;
  #deviceFile: FdHandle;
  #device: string;
  #onDisable: () => void;
  #disabled = false;

  /** @internal use Device.enableInterrupts */
  constructor(backend: Backend, deviceFile: FdHandle, device: string, kind: IrqIndexName, count: number, onDisable: () => void) {
    this.kind = kind;
    this.#backend = backend;
    this.#deviceFile = deviceFile;
    this.#device = device;
    this.#onDisable = onDisable;
    const fds = new Int32Array(count);
    const vectors: InterruptVector[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const eventfd = syscall('eventfd', { device }, () => backend.eventfd());
        fds[i] = eventfd.fd;
        try {
          vectors.push(new InterruptVector(backend, eventfd, i, device));
        } catch (e) {
          // The poller never took it: it is still ours to close.
          backend.close(eventfd);
          throw e;
        }
      }
      const req = encodeIrqSet({ index: IRQ_INDEX[kind], start: 0, action: VFIO_IRQ_SET_ACTION_TRIGGER, data: fds });
      syscall(`VFIO_DEVICE_SET_IRQS (${kind}, ${count} vector${count === 1 ? '' : 's'})`, { device, hint: setIrqsHint(kind) }, () =>
        backend.ioctl(deviceFile, VFIO_DEVICE_SET_IRQS, req),
      );
    } catch (e) {
      for (const v of vectors) v.close();
      throw e;
    }
    this.vectors = vectors;
  }

  /** True after disable() (or the device's close()). */
  get disabled(): boolean {
    return this.#disabled;
  }

  /** Vector 0: the only one for INTx and single-vector MSI. */
  get vector(): InterruptVector {
    return this.vectors[0]!;
  }

  /** INTx is masked by the kernel on each interrupt; unmask once the device's cause is cleared. */
  unmask(): void {
    if (this.#disabled) throw closedError('the interrupt set', 'InterruptSet.unmask', this.#device);
    if (this.kind !== 'intx') throw new TypeError(`InterruptSet.unmask: only INTx is masked by the kernel, this is ${this.kind}`);
    const req = encodeIrqSet({ index: IRQ_INDEX.intx, start: 0, count: 1, action: VFIO_IRQ_SET_ACTION_UNMASK });
    syscall('VFIO_DEVICE_SET_IRQS (unmask INTx)', { device: this.#device }, () =>
      this.#backend.ioctl(this.#deviceFile, VFIO_DEVICE_SET_IRQS, req),
    );
  }

  /** Tears the index down in the kernel (which drops its eventfd references), then closes the vectors. */
  disable(): void {
    if (this.#disabled) return;
    this.#disabled = true;
    try {
      const req = encodeIrqSet({ index: IRQ_INDEX[this.kind], start: 0, count: 0, action: VFIO_IRQ_SET_ACTION_TRIGGER });
      syscall(`VFIO_DEVICE_SET_IRQS (disable ${this.kind})`, { device: this.#device }, () =>
        this.#backend.ioctl(this.#deviceFile, VFIO_DEVICE_SET_IRQS, req),
      );
    } finally {
      for (const v of this.vectors) v.close();
      this.#onDisable();
    }
  }
}

function setIrqsHint(kind: IrqIndexName): (code: string) => string | undefined {
  return (code) => {
    if (code === 'EINVAL')
      return `more vectors than the device offers for ${kind}, ${kind} not supported (see Device.irqInfo), or another interrupt type still enabled`;
    return undefined;
  };
}
