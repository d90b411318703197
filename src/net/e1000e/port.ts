/**
 * A driver for the Intel 82574 (e1000e) on the packet pool: one port, legacy descriptors,
 * one receive and one transmit ring, MSI-X (or MSI) interrupts or polling, the statistics
 * registers. Datasheet: Intel 82574 GbE Controller Family; sections are cited in regs.ts.
 *
 * The hot path (rxBurst, txBurst) allocates nothing and makes no native call per frame: the
 * descriptors are plain typed arrays over a DMA buffer, a descriptor's address is two
 * Uint32 stores from the pool's iovaLo/iovaHi, and the only device accesses are one tail
 * doorbell per burst (Region.write32, an ordered Atomics.store issued after the descriptor
 * stores) and one STATUS read per txBurst (it refuses to send while the link is down).
 * Received buffers are replaced in the ring by fresh ones from the pool (zero-copy: the
 * frame's buffer goes to the app); sent ones go back to the pool once the NIC wrote their
 * descriptor back, reclaimed at the next txBurst.
 */
import type { Device } from '../../model/device.js';
import type { DmaBuffer } from '../../model/dma.js';
import type { InterruptSet } from '../../model/interrupts.js';
import type { Region } from '../../model/region.js';
import { closeSteps } from '../../errors.js';
import { netError } from '../errors.js';
import { BufferOwner, PacketPool } from '../pool.js';
import { ETH_HEADER, PortBase } from '../port-base.js';
import type { InterruptChoice, PortOptions } from '../port.js';
import { emptyHwStats, readHwCounters, type E1000eHwStats } from './counters.js';
import { armRx, disarmRx, enableE1000eInterrupts, type InterruptHandlers } from './interrupts.js';
import { checkRing, isE1000e, rxBufferSize, unsupported } from './options.js';
import * as R from '../../hw/e82574.js';
import { initReceive, initTransmit, quiesce, rctl, readMac, resetAndLink, restartAutoNegotiation } from './setup.js';

/** Transmit word 2's CMD byte: every frame is one descriptor: end of packet, insert the FCS, report status (§7.2). */
const TX_CMD = (R.TXD_CMD_EOP | R.TXD_CMD_IFCS | R.TXD_CMD_RS) << 24;
const DEFAULT_RING = 512;

/** An 82574 port (see the module comment); open it with E1000ePort.open or openPort. */
export class E1000ePort extends PortBase<E1000eHwStats> {
  readonly driver = 'e1000e';
  readonly pool: PacketPool;
  readonly mac: Uint8Array;
  readonly rxSize: number;
  readonly txSize: number;
  readonly maxFrame: number;
  readonly interruptKind: 'msix' | 'msi' | 'none';
  /** Written to `pool.port[id]` of received frames. */
  readonly portId: number;
  #bar: Region;
  #ownsPool: boolean;
  #ring: DmaBuffer | null = null;
  #irq: InterruptSet | null = null;
  #handlers: InterruptHandlers;
  #promiscuous: boolean;
  #rctl = 0;
  #timestamps: boolean;
  #hw = emptyHwStats();
  // Receive ring: descriptors (4 words each), the id in each, the next to look at.
  #rxD: Uint32Array;
  #rxIds: Uint32Array;
  #rxNext = 0;
  #rxDiscard = false;
  // Transmit ring: descriptors (4 words each), the id in each, the tail and the oldest not reclaimed.
  #txD: Uint32Array;
  #txIds: Uint32Array;
  #txTail = 0;
  #txClean = 0;

  /**
   * Initialises an opened 82574 (reset, link, station address, rings full of pool buffers,
   * receiver and transmitter on, interrupts). The caller keeps the Device and closes it after
   * the port. Throws a RangeError for bad options (before touching the device), and a
   * VfioError: ERR_VFIO_NET_UNSUPPORTED (not an 82574), ERR_VFIO_NET_POOL_TOO_SMALL,
   * ERR_VFIO_NET_NO_INTERRUPTS, ERR_VFIO_NET_RESET_TIMEOUT, ERR_VFIO_NET_NVM_TIMEOUT.
   */
  static open(device: Device, options: PortOptions = {}): E1000ePort {
    return new E1000ePort(device, options);
  }

  private constructor(device: Device, options: PortOptions) {
    super(device);
    const rxSize = checkRing('rxDescriptors', options.rxDescriptors ?? DEFAULT_RING);
    const txSize = checkRing('txDescriptors', options.txDescriptors ?? DEFAULT_RING);
    const bufferSize = rxBufferSize(options.bufferSize, options.pool);
    const interrupts: InterruptChoice = options.interrupts ?? 'auto';
    if (!['auto', 'msix', 'msi', 'none'].includes(interrupts)) throw new RangeError(`E1000ePort: interrupts must be 'auto', 'msix', 'msi' or 'none', got ${String(interrupts)}`);
    if (options.rxMode !== undefined && options.rxMode !== 'interrupt' && options.rxMode !== 'poll')
      throw new RangeError(`E1000ePort: rxMode must be 'interrupt' or 'poll', got ${String(options.rxMode)}`);
    if (options.rxMode === 'interrupt' && interrupts === 'none') throw new RangeError("E1000ePort: rxMode 'interrupt' needs interrupts, but they are 'none'");
    const portId = options.portId ?? 0;
    if (!Number.isInteger(portId) || portId < 0 || portId > 0xffff) throw new RangeError(`E1000ePort: portId must be an integer in [0, 65535], got ${portId}`);
    const vendor = device.config.vendorId;
    const id = device.config.deviceId;
    if (!isE1000e(vendor, id)) throw unsupported(device, vendor, id);
    this.rxSize = rxSize;
    this.txSize = txSize;
    this.maxFrame = bufferSize;
    this.portId = portId;
    this.#promiscuous = options.promiscuous ?? false;
    this.#timestamps = options.timestamps ?? false;
    this.#bar = device.bar(0);
    if (this.#bar.size < 128 * 1024) throw unsupported(device, vendor, id, `BAR0 is ${this.#bar.size} bytes, an 82574 has 128 KiB of registers`);
    this.#handlers = { rx: () => this.onRxInterrupt(), link: () => this.linkEvent(), closed: () => this.closed };
    this.#ownsPool = options.pool === undefined;
    this.pool = options.pool ?? PacketPool.create(device, { count: options.poolSize ?? 2 * (rxSize + txSize), bufferSize });
    this.#rxIds = new Uint32Array(rxSize);
    this.#txIds = new Uint32Array(txSize);
    let filled = 0;
    try {
      if (this.pool.available < rxSize)
        throw netError('ERR_VFIO_NET_POOL_TOO_SMALL', 'E1000ePort.open', `the pool has ${this.pool.available} free buffers, the receive ring needs ${rxSize}`, {
          device: device.address,
          hint: 'give the pool more buffers than the rings of every port sharing it hold, plus what the app keeps',
        });
      resetAndLink(device, this.#bar, options.reset !== false);
      readHwCounters(this.#bar, null); // clear-on-read: start from zero
      this.mac = readMac(device, this.#bar);
      const ring = device.allocDma((rxSize + txSize) * R.DESC_SIZE);
      this.#ring = ring;
      const mem = ring.buffer;
      const txAt = rxSize * R.DESC_SIZE; // a multiple of 128 bytes, as the ring base must be
      this.#rxD = new Uint32Array(mem, 0, rxSize * R.DESC_WORDS);
      this.#txD = new Uint32Array(mem, txAt, txSize * R.DESC_WORDS);
      filled = this.pool.allocForNic(this.#rxIds, rxSize);
      for (let i = 0; i < rxSize; i++) this.#setRxBuffer(i, this.#rxIds[i]!);
      for (let i = 0; i < txSize; i++) this.#txD[i * R.DESC_WORDS + R.TXW_LENGTH_CMD] = TX_CMD;
      this.#rctl = rctl(R.rctlBufferSize(bufferSize)!, this.#promiscuous);
      initReceive(this.#bar, ring.iova, rxSize, this.#rctl);
      initTransmit(this.#bar, ring.iova + txAt, txSize);
      const irq = enableE1000eInterrupts(device, this.#bar, interrupts, this.#handlers);
      this.#irq = irq.set;
      this.rxVector = irq.rx;
      this.interruptKind = irq.kind;
      this.initRxMode(options.rxMode);
    } catch (e) {
      try {
        if (!device.closed) quiesce(device, this.#bar);
        this.#irq?.disable();
      } catch {
        // the original error is the one worth reporting
      }
      for (let i = 0; i < filled; i++) this.pool.releaseFromNic(this.#rxIds[i]!);
      this.#ring?.free();
      if (this.#ownsPool) this.pool.close();
      throw e;
    }
  }

  #setRxBuffer(i: number, id: number): void {
    const q = i * R.DESC_WORDS;
    this.#rxD[q] = this.pool.iovaLo[id]!;
    this.#rxD[q + 1] = this.pool.iovaHi[id]!;
    this.#rxD[q + R.RXW_STATUS] = 0;
  }

  get promiscuous(): boolean {
    return this.#promiscuous;
  }

  set promiscuous(on: boolean) {
    this.checkOpen('promiscuous');
    this.#promiscuous = on;
    this.#rctl = on ? this.#rctl | R.RCTL_UPE | R.RCTL_MPE : this.#rctl & ~(R.RCTL_UPE | R.RCTL_MPE);
    this.#bar.write32(R.RCTL, this.#rctl >>> 0);
  }

  /** Link speed in Mb/s from STATUS (§10.2.2.2). */
  get speed(): number {
    const s = (this.#bar.read32(R.STATUS) & R.STATUS_SPEED_MASK) >>> R.STATUS_SPEED_SHIFT;
    return s === 0 ? 10 : s === 1 ? 100 : 1000;
  }

  /** Restarts auto-negotiation through the PHY (MDIC): the link goes down at once, then up again ('link' events). */
  restartAutoNegotiation(): void {
    this.checkOpen('restartAutoNegotiation');
    restartAutoNegotiation(this.device, this.#bar);
    this.linkEvent(); // the drop raises no interrupt; LSC says when it is back
  }

  protected readLink(): boolean {
    return (this.#bar.read32(R.STATUS) & R.STATUS_LU) !== 0;
  }

  protected armRxInterrupt(): void {
    armRx(this.#bar, this.interruptKind, this.#handlers);
  }

  protected disarmRxInterrupt(): void {
    disarmRx(this.#bar);
  }

  protected readHwStats(): E1000eHwStats {
    if (!this.closed) readHwCounters(this.#bar, this.#hw);
    return this.#hw;
  }

  // ---- receive -----------------------------------------------------------------------

  rxReady(): boolean {
    return !this.closed && (this.#rxD[this.#rxNext * R.DESC_WORDS + R.RXW_STATUS]! & R.RXD_STAT_DD) !== 0;
  }

  rxBurst(ids: Uint32Array, max: number, start = 0): number {
    if (this.closed) this.checkOpen('rxBurst');
    // Constants as locals: an imported binding is loaded (and checked) on every use in a loop.
    const RXW_STATUS = R.RXW_STATUS, RXW_LENGTH = R.RXW_LENGTH, DD = R.RXD_STAT_DD, GOOD = R.RXW_GOOD, GOOD_MASK = R.RXW_GOOD_MASK, APP = BufferOwner.APP;
    const d = this.#rxD;
    const first = this.#rxNext;
    if ((d[(first << 2) + RXW_STATUS]! & DD) === 0) {
      this.counters.driver.rxEmptyPolls++;
      return 0;
    }
    const pool = this.pool;
    const limit = Math.min(max, ids.length - start);
    // Each frame handed out is replaced by a fresh buffer: no more than the pool has. Sent
    // buffers may be waiting to go back to it.
    let room = pool.available;
    if (room < limit) {
      this.#txReclaim();
      room = pool.available;
    }
    const lim = limit < room ? limit : room;
    const rxIds = this.#rxIds;
    const owner = pool.owner;
    const length = pool.length;
    const port = pool.port;
    const queue = pool.queue;
    const stamps = pool.timestamp;
    const portId = this.portId;
    const size = this.rxSize;
    const stamp = this.#timestamps ? performance.timeOrigin + performance.now() : 0;
    let i = first;
    let n = 0;
    let used = 0;
    let bytes = 0;
    while (n < lim && used < size) {
      const q = i << 2;
      const w = d[q + RXW_STATUS]!;
      if ((w & DD) === 0) break;
      const id = rxIds[i]!;
      if ((w & GOOD_MASK) !== GOOD || this.#rxDiscard) {
        // Dropped: part of a frame that spanned descriptors (up to its EOP), or a frame the
        // NIC flagged. Its buffer goes back to the pool, and the refill below replaces it.
        const eop = (w & R.RXD_STAT_EOP) !== 0;
        if (this.#rxDiscard || !eop) {
          if (!this.#rxDiscard) this.counters.rx.drops++;
          this.#rxDiscard = !eop;
        } else this.counters.rx.errors++;
        pool.releaseFromNic(id);
      } else {
        const len = d[q + RXW_LENGTH]! & 0xffff;
        owner[id] = APP;
        length[id] = len;
        port[id] = portId;
        queue[id] = 0;
        stamps[id] = stamp;
        ids[start + n++] = id;
        bytes += len;
      }
      used++;
      if (++i === size) i = 0;
    }
    if (n === lim && lim < limit && (d[(i << 2) + RXW_STATUS]! & DD) !== 0) {
      // No buffer to put in its place: the frame stays in the ring until the app frees some.
      this.counters.driver.rxPoolEmpty++;
      if (used === 0) return 0;
    }
    // Refill every descriptor looked at from the pool's stack in one go (two runs where the
    // ring wraps; the room checked above covers them), then their addresses and status.
    const run = used < size - first ? used : size - first;
    let got = pool.allocForNic(rxIds, run, first);
    if (run < used) got += pool.allocForNic(rxIds, used - run, 0);
    if (got !== used) throw new Error(`E1000ePort.rxBurst: internal error, ${got} of ${used} receive buffers refilled`);
    const lo = pool.iovaLo;
    const hi = pool.iovaHi;
    for (let j = first, left = used; left > 0; left--) {
      const id = rxIds[j]!;
      const q = j << 2;
      d[q] = lo[id]!;
      d[q + 1] = hi[id]!;
      d[q + RXW_STATUS] = 0;
      if (++j === size) j = 0;
    }
    this.#rxNext = i;
    const rx = this.counters.rx;
    rx.frames += n;
    rx.bytes += bytes;
    // The tail goes to the last descriptor looked at: it stays with software (head == tail
    // means empty), everything before it goes back. An ordered store, after those above.
    this.#bar.write32(R.RDT0, i === 0 ? size - 1 : i - 1);
    return n;
  }

  // ---- transmit ----------------------------------------------------------------------

  get txInFlight(): number {
    if (!this.closed) this.#txReclaim();
    const d = this.#txTail - this.#txClean;
    return d < 0 ? d + this.txSize : d;
  }

  txBurst(ids: Uint32Array, count: number, start = 0): number {
    if (this.closed) this.checkOpen('txBurst');
    // Constants as locals: an imported binding is loaded (and checked) on every use in a loop.
    const TXW_LENGTH_CMD = R.TXW_LENGTH_CMD, TXW_STATUS = R.TXW_STATUS, APP = BufferOwner.APP, NIC = BufferOwner.NIC, CMD = TX_CMD, MIN = ETH_HEADER;
    if (!(this.#bar.read32(R.STATUS) & R.STATUS_LU)) {
      this.linkEvent();
      throw netError('ERR_VFIO_NET_LINK_DOWN', 'E1000ePort.txBurst', 'the link is down (STATUS.LU = 0); nothing was sent', { device: this.address });
    }
    this.#txReclaim();
    const size = this.txSize;
    let free = this.#txClean - this.#txTail - 1;
    if (free < 0) free += size;
    const want = Math.min(count, ids.length - start);
    const n = want < free ? want : free;
    if (n < want) {
      this.counters.driver.txRingFull++;
      this.counters.tx.drops += want - n;
    }
    const d = this.#txD;
    const txIds = this.#txIds;
    const pool = this.pool;
    const owner = pool.owner;
    const length = pool.length;
    const lo = pool.iovaLo;
    const hi = pool.iovaHi;
    const max = this.maxFrame;
    let tail = this.#txTail;
    let bytes = 0;
    for (let k = 0; k < n; k++) {
      const id = ids[start + k]!;
      const len = length[id]!;
      // The ownership check: one byte per id. Length next; either failing undoes the burst.
      if (owner[id] !== APP || len > max || len < MIN) this.refuseTx(ids, start, k);
      owner[id] = NIC;
      txIds[tail] = id;
      const q = tail << 2;
      d[q] = lo[id]!;
      d[q + 1] = hi[id]!;
      d[q + TXW_LENGTH_CMD] = len | CMD;
      d[q + TXW_STATUS] = 0;
      bytes += len;
      if (++tail === size) tail = 0;
    }
    if (n > 0) {
      this.#txTail = tail;
      this.#bar.write32(R.TDT, tail); // the doorbell: after every descriptor store above
      this.counters.tx.frames += n;
      this.counters.tx.bytes += bytes;
    }
    return n;
  }


  /** Gives the buffers of descriptors the NIC wrote back (DD) to the pool, in one or two runs. */
  #txReclaim(): void {
    // Constants as locals: an imported binding is loaded (and checked) on every use in a loop.
    const TXD_DD = R.TXD_STAT_DD, TXW_STATUS = R.TXW_STATUS;
    const d = this.#txD;
    const size = this.txSize;
    const tail = this.#txTail;
    const c0 = this.#txClean;
    let c = c0;
    while (c !== tail && d[(c << 2) + TXW_STATUS]! & TXD_DD) if (++c === size) c = 0;
    if (c === c0) return;
    if (c > c0) this.pool.releaseManyFromNic(this.#txIds, c - c0, c0);
    else {
      this.pool.releaseManyFromNic(this.#txIds, size - c0, c0);
      this.pool.releaseManyFromNic(this.#txIds, c, 0);
    }
    this.#txClean = c;
  }

  // ---- shutdown ------------------------------------------------------------------------

  /**
   * Stops the receiver and transmitter, masks interrupts and turns bus mastering off (the NIC
   * touches memory no more), then gives every ring buffer back to the pool, disables the
   * vectors and frees the rings (and the pool, if the port made it). Closes the Device only
   * if openPort opened it. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    const device = this.device;
    if (!device.closed) {
      try {
        readHwCounters(this.#bar, this.#hw);
        quiesce(device, this.#bar);
      } catch {
        // a device that went away: still release what we hold
      }
    }
    this.markClosed();
    // The NIC is stopped: the buffers in both rings are the pool's again.
    for (let i = 0; i < this.rxSize; i++) this.pool.releaseFromNic(this.#rxIds[i]!);
    for (let c = this.#txClean; c !== this.#txTail; c = c + 1 === this.txSize ? 0 : c + 1) this.pool.releaseFromNic(this.#txIds[c]!);
    this.#txClean = this.#txTail;
    closeSteps(`E1000ePort.close (${this.address})`, [
      () => this.#irq?.disable(),
      () => this.#ring?.free(),
      () => {
        if (this.#ownsPool) this.pool.close();
      },
      () => this.releaseDevice(),
    ]);
  }
}
