/**
 * What every port driver shares, so a driver writes only its rings and registers: the
 * waiting (interrupt or poll, switchable at run time), link events, the counters and the
 * closed state.
 *
 * Waiting is adaptive, as Linux's NAPI: while frames keep coming the app polls with rxBurst
 * and no interrupt is armed; only when the ring is empty and the app calls waitRx does the
 * driver unmask the receive interrupt (armRxInterrupt) and the process sleep on its vector.
 * The vector is unref'd while nobody waits, so an idle port does not keep the process alive.
 */
import { EventEmitter } from 'node:events';
import { closedError } from '../errors.js';
import type { Device } from '../model/device.js';
import type { InterruptVector } from '../model/interrupts.js';
import { BufferOwner, type PacketPool } from './pool.js';
import type { DirectionStats, DriverStats, Port, PortEvents, PortStats, RxMode } from './port.js';
import { netError } from './errors.js';

/** An Ethernet header's bytes: the shortest frame a port sends, and the drivers' length checks. */
export const ETH_HEADER = 14;

function direction(): DirectionStats {
  return { frames: 0, bytes: 0, drops: 0, errors: 0 };
}

/** The counters a driver updates; PortBase.stats() snapshots them. */
export interface PortCounters {
  /** Receive direction. */
  rx: DirectionStats;
  /** Transmit direction. */
  tx: DirectionStats;
  /** Driver events. */
  driver: DriverStats;
}

/** A base for drivers: implement the abstract members, call the protected hooks. */
export abstract class PortBase<H extends object = Record<string, number>> extends EventEmitter<PortEvents> implements Port<H> {
  abstract readonly driver: string;
  readonly address: string;
  readonly device: Device;
  abstract readonly pool: PacketPool;
  abstract readonly mac: Uint8Array;
  abstract promiscuous: boolean;
  abstract readonly rxSize: number;
  abstract readonly txSize: number;
  abstract readonly maxFrame: number;
  abstract readonly interruptKind: 'msix' | 'msi' | 'none';
  abstract readonly speed: number;
  abstract readonly txInFlight: number;
  abstract rxBurst(ids: Uint32Array, max: number, start?: number): number;
  abstract txBurst(ids: Uint32Array, count: number, start?: number): number;
  abstract rxReady(): boolean;
  abstract close(): void;
  /** The NIC's counters, accumulated (read them, add, return the running totals). */
  protected abstract readHwStats(): H;
  /** Reads the link state from the NIC. */
  protected abstract readLink(): boolean;
  /** Unmasks the receive interrupt so the next frame signals the vector (called before sleeping). */
  protected abstract armRxInterrupt(): void;
  /** Masks the receive interrupt (switching to polling). */
  protected abstract disarmRxInterrupt(): void;

  /** The counters the driver updates. */
  protected readonly counters: PortCounters = {
    rx: direction(),
    tx: direction(),
    driver: { rxInterrupts: 0, rxWakeups: 0, rxTimeouts: 0, rxEmptyPolls: 0, rxPoolEmpty: 0, txRingFull: 0, linkChanges: 0 },
  };
  /** The vector receive interrupts arrive on (set by the driver when it has one). */
  protected rxVector: InterruptVector | null = null;
  #rxMode: RxMode = 'poll';
  #waiter: { promise: Promise<boolean>; finish: (woken: boolean) => void } | null = null;
  #linkUp = false;
  #closed = false;
  #ownsDevice = false;

  protected constructor(device: Device) {
    super();
    this.device = device;
    this.address = device.address;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get rxMode(): RxMode {
    return this.#rxMode;
  }

  get linkUp(): boolean {
    this.checkOpen('linkUp');
    return this.readLink();
  }

  /** Throws ERR_VFIO_CLOSED after close(). */
  protected checkOpen(op: string): void {
    if (this.#closed) throw closedError(`port ${this.address}`, `${this.constructor.name}.${op}`, this.address);
  }

  /** @internal openPort: the port opened its device, so its close() closes it too. */
  ownDevice(): void {
    this.#ownsDevice = true;
  }

  /** Closes the device if openPort opened it for this port: a driver's close() calls it last. */
  protected releaseDevice(): void {
    if (this.#ownsDevice && !this.device.closed) this.device.close();
  }

  /** Marks the port closed and wakes a pending waitRx (with false). Call first in close(). */
  protected markClosed(): void {
    this.#closed = true;
    this.#waiter?.finish(false);
  }

  /**
   * txBurst's refusal: ids[start+k] is not the app's or its length is outside
   * [ETH_HEADER, maxFrame]. Gives ids[start..start+k), already marked the NIC's, back to the app
   * (the driver has undone whatever it wrote for them and not told the NIC), counts a transmit
   * error and throws ERR_VFIO_NET_NOT_ALLOCATED/… (ownership) or ERR_VFIO_NET_FRAME_TOO_LARGE/_SHORT.
   */
  protected refuseTx(ids: Uint32Array, start: number, k: number): never {
    const pool = this.pool;
    for (let j = 0; j < k; j++) pool.owner[ids[start + j]!] = BufferOwner.APP;
    this.counters.tx.errors++;
    const id = ids[start + k]!;
    const op = `${this.constructor.name}.txBurst`;
    if (pool.owner[id] !== BufferOwner.APP) throw pool.ownershipError(id, op, this.address);
    const len = pool.length[id]!;
    throw netError(len > this.maxFrame ? 'ERR_VFIO_NET_FRAME_TOO_LARGE' : 'ERR_VFIO_NET_FRAME_TOO_SHORT', op, `buffer ${id} holds a ${len}-byte frame; frames must be ${ETH_HEADER}-${this.maxFrame} bytes`, {
      device: this.address,
      hint: 'set pool.length[id] to the frame length before sending',
    });
  }

  /** Call once interrupts are set up: checks and applies the initial mode. */
  protected initRxMode(mode: RxMode | undefined): void {
    this.setRxMode(mode ?? (this.interruptKind === 'none' ? 'poll' : 'interrupt'));
    this.#linkUp = this.readLink();
  }

  setRxMode(mode: RxMode): void {
    this.checkOpen('setRxMode');
    if (mode !== 'interrupt' && mode !== 'poll') throw new RangeError(`setRxMode: mode must be 'interrupt' or 'poll', got ${String(mode)}`);
    if (mode === 'interrupt' && this.interruptKind === 'none')
      throw netError('ERR_VFIO_NET_NO_INTERRUPTS', `${this.constructor.name}.setRxMode`, "interrupt mode needs MSI-X or MSI, and the port has none (interrupts 'none')", {
        device: this.address,
      });
    this.#rxMode = mode;
    if (mode === 'poll') {
      this.disarmRxInterrupt();
      this.#waiter?.finish(this.rxReady());
    }
  }

  /** The driver calls this from its receive vector's handler. */
  protected onRxInterrupt(): void {
    if (this.#closed) return;
    this.counters.driver.rxInterrupts++;
    this.#waiter?.finish(true);
  }

  /** The driver calls this when the link may have changed (a link interrupt, a failed send): emits 'link' on a change. */
  protected linkEvent(): void {
    const up = this.readLink();
    if (up === this.#linkUp) return;
    this.#linkUp = up;
    this.counters.driver.linkChanges++;
    this.emit('link', up);
  }

  waitRx(timeoutMs = 1000): Promise<boolean> {
    this.checkOpen('waitRx');
    if (this.rxReady()) return Promise.resolve(true);
    if (this.#rxMode === 'poll') return new Promise((resolve) => setImmediate(() => resolve(!this.#closed && this.rxReady())));
    if (this.#waiter) return this.#waiter.promise;
    this.armRxInterrupt();
    // A frame written back before the unmask raised no interrupt: look once more.
    if (this.rxReady()) return Promise.resolve(true);
    const vector = this.rxVector!;
    let resolve!: (woken: boolean) => void;
    const promise = new Promise<boolean>((r) => (resolve = r));
    const timer = setTimeout(() => finish(false), timeoutMs);
    const finish = (woken: boolean): void => {
      if (this.#waiter?.promise !== promise) return;
      clearTimeout(timer);
      this.#waiter = null;
      if (!vector.closed) vector.unref();
      if (woken) this.counters.driver.rxWakeups++;
      else this.counters.driver.rxTimeouts++;
      resolve(woken);
    };
    vector.ref();
    this.#waiter = { promise, finish };
    return promise;
  }

  async waitForLink(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.linkUp) {
        this.linkEvent();
        return true;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async flushTx(timeoutMs = 1000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && this.txInFlight > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 1));
    }
    return true;
  }

  stats(): PortStats<H> {
    const hw = this.readHwStats();
    const c = this.counters;
    return { rx: { ...c.rx }, tx: { ...c.tx }, driver: { ...c.driver }, hw: { ...hw } };
  }
}
