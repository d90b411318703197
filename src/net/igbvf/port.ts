/**
 * A driver for the Intel 82576 virtual function (igbvf, 8086:10ca) on the packet pool: the
 * VF an SR-IOV 82576 (or QEMU's `-device igb`) hands out while the PF stays with the kernel's
 * igb driver. One receive and one transmit queue with advanced descriptors, MSI-X or polling,
 * the VF's statistics, and the PF-VF mailbox for what only the PF can do: reset handshake,
 * station address, largest frame, multicast promiscuous mode.
 *
 * The hot path (rxBurst, txBurst, rxReady) allocates nothing and makes no native call per
 * frame: descriptors are typed arrays over a DMA buffer, a descriptor's address two Uint32
 * stores from the pool's iovaLo/iovaHi, and the only device accesses are one tail doorbell per
 * burst (an ordered store after the descriptor stores) and one STATUS read per txBurst (it
 * refuses to send while the PF's link is down). Received buffers are replaced in the ring by
 * fresh ones from the pool; sent ones go back to the pool once the NIC wrote their descriptor
 * back, reclaimed at the next txBurst.
 *
 * The PF can take the VF away: when its driver resets (a ping without clear-to-send, or the
 * reset indication), the port emits 'needs-reset' with ERR_VFIO_NET_PF_RESET, which rxBurst
 * and txBurst throw from then on: close the port and open it again once the PF is back.
 */
import type { Device } from '../../model/device.js';
import type { DmaBuffer } from '../../model/dma.js';
import type { InterruptSet } from '../../model/interrupts.js';
import type { Region } from '../../model/region.js';
import { closeSteps, type VfioError } from '../../errors.js';
import { netError } from '../errors.js';
import { BufferOwner, PacketPool } from '../pool.js';
import { ETH_HEADER, PortBase } from '../port-base.js';
import type { InterruptChoice } from '../port.js';
import { VfCounters, type IgbvfHwStats } from './counters.js';
import { armRx, disarmRx, enableIgbvfInterrupts, type IgbvfHandlers } from './interrupts.js';
import { VfMailbox } from './mailbox.js';
import { checkMacOption, checkMailboxTimeout, checkRing, isIgbvf, rxBufferSize, unsupported, type IgbvfPortOptions } from './options.js';
import { MAX_FRAME_WITH_FCS, chooseMac, initReceive, initTransmit, quiesce, resetVf, setAllMulticast, setMaxFrame } from './setup.js';
import * as R from '../../hw/e82576vf.js';
import { MSG_CTS, MSG_ID_MASK, MSG_NACK, PF_CONTROL_MSG } from '../../hw/e82576vf-mailbox.js';

/** cmd_type_len of every frame: one advanced data descriptor, end of packet, insert the FCS, report status. */
const TX_CMD = R.ADVTXD_DTYP_DATA | R.ADVTXD_DCMD_DEXT | R.ADVTXD_DCMD_EOP | R.ADVTXD_DCMD_IFCS | R.ADVTXD_DCMD_RS;
const DEFAULT_RING = 512;
/** In poll mode (no interrupts), the mailbox is looked at once per this many empty rxBursts. */
const POLL_MAILBOX_EVERY = 1024;
/**
 * The mailbox and the link are also looked at every this many ms, as Linux's igbvf watchdog
 * does (igbvf_watchdog, every 2 s: e1000_check_for_link_vf sees RSTI/RSTD): no interrupt
 * tells the VF that the PF reset. (QEMU 10, the PF's igb going down: igb_reset pings the VF
 * without CTS, then CTRL.RST resets the whole register file, the VF's EIMS and IVAR_MISC
 * included, and V2PMAILBOX to RSTI; the ping's interrupt was not seen by the VF.)
 */
const WATCHDOG_MS = 2000;

/** IgbvfPort.mailboxStats. */
export interface IgbvfMailboxStats {
  /** Messages posted to the PF. */
  sent: number;
  /** Messages read from the PF (answers and pings). */
  received: number;
  /** PF_CONTROL_MSG pings among them (link changes). */
  pings: number;
}

/** An 82576 VF port (see the module comment); open it with IgbvfPort.open or openPort. */
export class IgbvfPort extends PortBase<IgbvfHwStats> {
  readonly driver = 'igbvf';
  readonly pool: PacketPool;
  readonly mac: Uint8Array;
  readonly rxSize: number;
  readonly txSize: number;
  readonly maxFrame: number;
  readonly interruptKind: 'msix' | 'none';
  /** Written to `pool.port[id]` of received frames. */
  readonly portId: number;
  /** The MAC address the PF assigned (null: none; the port chose `mac`). */
  readonly pfMac: Uint8Array | null;
  #bar: Region;
  #mbx: VfMailbox;
  #ownsPool: boolean;
  #ring: DmaBuffer | null = null;
  #irq: InterruptSet | null = null;
  #allMulticast = false;
  #timestamps: boolean;
  #counters = new VfCounters();
  #broken: VfioError | null = null;
  #emptyPolls = 0;
  #pfMessages = 0;
  #watchdog: ReturnType<typeof setInterval> | null = null;
  // Receive ring: descriptors (4 words each), the id in each, the next to look at.
  #rxD: Uint32Array;
  #rxIds: Uint32Array;
  #rxNext = 0;
  #rxDiscard = false;
  // Transmit ring: descriptors, the id in each, the tail and the oldest not reclaimed.
  #txD: Uint32Array;
  #txIds: Uint32Array;
  #txTail = 0;
  #txClean = 0;

  /**
   * Initialises an opened 82576 VF: reset and the reset handshake with the PF, the station
   * address, the largest frame, rings full of pool buffers, queues on, interrupts. The caller
   * keeps the Device and closes it after the port. Throws a RangeError for bad options (before
   * touching the device), and a VfioError: ERR_VFIO_NET_UNSUPPORTED (not an 82576 VF),
   * ERR_VFIO_NET_MBX_TIMEOUT (the PF does not answer), ERR_VFIO_NET_PF_REFUSED (it NACKed a
   * request), ERR_VFIO_NET_NO_MAC (mac 'pf' and none assigned), ERR_VFIO_NET_POOL_TOO_SMALL,
   * ERR_VFIO_NET_NO_INTERRUPTS.
   */
  static open(device: Device, options: IgbvfPortOptions = {}): IgbvfPort {
    return new IgbvfPort(device, options);
  }

  private constructor(device: Device, options: IgbvfPortOptions) {
    super(device);
    const rxSize = checkRing('rxDescriptors', options.rxDescriptors ?? DEFAULT_RING);
    const txSize = checkRing('txDescriptors', options.txDescriptors ?? DEFAULT_RING);
    const bufferSize = rxBufferSize(options.bufferSize, options.pool);
    const wantedMac = checkMacOption(options.mac);
    const timeoutMs = checkMailboxTimeout(options.mailboxTimeoutMs);
    const interrupts: InterruptChoice = options.interrupts ?? 'auto';
    if (!['auto', 'msix', 'msi', 'none'].includes(interrupts)) throw new RangeError(`IgbvfPort: interrupts must be 'auto', 'msix', 'msi' or 'none', got ${String(interrupts)}`);
    if (options.rxMode !== undefined && options.rxMode !== 'interrupt' && options.rxMode !== 'poll')
      throw new RangeError(`IgbvfPort: rxMode must be 'interrupt' or 'poll', got ${String(options.rxMode)}`);
    if (options.rxMode === 'interrupt' && interrupts === 'none') throw new RangeError("IgbvfPort: rxMode 'interrupt' needs interrupts, but they are 'none'");
    const portId = options.portId ?? 0;
    if (!Number.isInteger(portId) || portId < 0 || portId > 0xffff) throw new RangeError(`IgbvfPort: portId must be an integer in [0, 65535], got ${portId}`);
    const vendor = device.config.vendorId;
    const id = device.config.deviceId;
    if (!isIgbvf(vendor, id)) throw unsupported(device, vendor, id);
    this.#bar = device.bar(R.MMIO_BAR);
    if (this.#bar.size < R.MMIO_SIZE) throw unsupported(device, vendor, id, `BAR0 is ${this.#bar.size} bytes, an 82576 VF has ${R.MMIO_SIZE / 1024} KiB of registers`);
    this.rxSize = rxSize;
    this.txSize = txSize;
    this.maxFrame = Math.min(bufferSize, MAX_FRAME_WITH_FCS - 4);
    this.portId = portId;
    this.#timestamps = options.timestamps ?? false;
    this.#mbx = new VfMailbox(this.#bar, device.address, timeoutMs, 'IgbvfPort.open');
    this.#ownsPool = options.pool === undefined;
    this.pool = options.pool ?? PacketPool.create(device, { count: options.poolSize ?? 2 * (rxSize + txSize), bufferSize });
    this.#rxIds = new Uint32Array(rxSize);
    this.#txIds = new Uint32Array(txSize);
    let filled = 0;
    try {
      if (this.pool.available < rxSize)
        throw netError('ERR_VFIO_NET_POOL_TOO_SMALL', 'IgbvfPort.open', `the pool has ${this.pool.available} free buffers, the receive ring needs ${rxSize}`, {
          device: device.address,
          hint: 'give the pool more buffers than the rings of every port sharing it hold, plus what the app keeps',
        });
      const { pfMac } = resetVf(device, this.#bar, this.#mbx, options.reset !== false);
      this.pfMac = pfMac;
      this.mac = chooseMac(device.address, this.#mbx, pfMac, wantedMac);
      setMaxFrame(device.address, this.#mbx, MAX_FRAME_WITH_FCS);
      if (options.promiscuous) {
        setAllMulticast(device.address, 'IgbvfPort.open', this.#mbx, true);
        this.#allMulticast = true;
      }
      this.#counters.start(this.#bar);
      const ring = device.allocDma((rxSize + txSize) * R.DESC_SIZE);
      this.#ring = ring;
      const txAt = rxSize * R.DESC_SIZE; // a multiple of 128 bytes, as the ring base must be
      this.#rxD = new Uint32Array(ring.buffer, 0, rxSize * R.DESC_WORDS);
      this.#txD = new Uint32Array(ring.buffer, txAt, txSize * R.DESC_WORDS);
      filled = this.pool.allocForNic(this.#rxIds, rxSize);
      for (let i = 0; i < rxSize; i++) this.#setRxBuffer(i, this.#rxIds[i]!);
      initReceive(this.#bar, ring.iova, rxSize, bufferSize);
      initTransmit(this.#bar, ring.iova + txAt, txSize);
      const handlers: IgbvfHandlers = { rx: () => this.onRxInterrupt(), mailbox: () => this.#checkMailbox(), closed: () => this.closed };
      const irq = enableIgbvfInterrupts(device, this.#bar, interrupts, handlers);
      this.#irq = irq.set;
      this.rxVector = irq.rx;
      this.interruptKind = irq.kind;
      this.initRxMode(options.rxMode);
      this.#watchdog = setInterval(() => this.#checkMailbox(), WATCHDOG_MS);
      this.#watchdog.unref(); // an idle port does not keep the process alive
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

  /** A descriptor in read format: the buffer's address, no header buffer (which also clears the write-back's status and length). */
  #setRxBuffer(i: number, id: number): void {
    const q = i * R.DESC_WORDS;
    const d = this.#rxD;
    d[q] = this.pool.iovaLo[id]!;
    d[q + 1] = this.pool.iovaHi[id]!;
    d[q + 2] = 0;
    d[q + 3] = 0;
  }

  /**
   * Multicast promiscuous: true once the PF accepted it. An 82576 VF cannot receive other
   * stations' unicast frames (the PF's igb refuses unicast promiscuous for VFs): it receives
   * its own address, broadcast, and with this every multicast frame. Setting it asks the PF
   * (a mailbox round trip); ERR_VFIO_NET_PF_REFUSED or ERR_VFIO_NET_MBX_TIMEOUT on failure.
   */
  get promiscuous(): boolean {
    return this.#allMulticast;
  }

  set promiscuous(on: boolean) {
    this.checkOpen('promiscuous');
    setAllMulticast(this.address, 'IgbvfPort.promiscuous', this.#mbx, on);
    this.#allMulticast = on;
  }

  /** Link speed in Mb/s from the PF's STATUS. */
  get speed(): number {
    const s = (this.#bar.read32(R.STATUS) & R.STATUS_SPEED_MASK) >>> R.STATUS_SPEED_SHIFT;
    return s === 0 ? 10 : s === 1 ? 100 : 1000;
  }

  /** The error the port has failed with (the PF reset), or null. */
  get failure(): VfioError | null {
    return this.#broken;
  }

  protected readLink(): boolean {
    return this.#broken === null && (this.#bar.read32(R.STATUS) & R.STATUS_LU) !== 0;
  }

  protected armRxInterrupt(): void {
    armRx(this.#bar);
  }

  protected disarmRxInterrupt(): void {
    disarmRx(this.#bar);
  }

  protected readHwStats(): IgbvfHwStats {
    if (!this.closed) this.#counters.update(this.#bar);
    return this.#counters.totals;
  }

  /** The mailbox's traffic since open. */
  get mailboxStats(): IgbvfMailboxStats {
    return { sent: this.#mbx.sent, received: this.#mbx.received, pings: this.#pfMessages };
  }

  // ---- the PF's messages -----------------------------------------------------------------

  /** The mailbox vector fired (or, polling, now and then): the PF's reset indication, or its message (a link change, or a reset without clear-to-send). */
  #checkMailbox(): void {
    if (this.closed || this.#broken) return;
    let bits: number;
    try {
      bits = this.#mbx.bits();
      if (bits & R.V2P_RSTI || this.#mbx.check(R.V2P_RSTD)) return this.#fail('the PF is resetting (V2PMAILBOX reset indication)');
      if (this.#mbx.check(R.V2P_PFSTS)) {
        const w0 = this.#mbx.readMessage(1, PF_CONTROL_MSG).words[0]!;
        this.#pfMessages++;
        if ((w0 & MSG_ID_MASK) === PF_CONTROL_MSG && !(w0 & MSG_CTS)) return this.#fail('the PF reset and no longer takes requests from this VF (PF_CONTROL_MSG without CTS)');
        if (w0 & MSG_NACK && !(w0 & MSG_CTS)) return this.#fail('the PF NACKed the VF as not clear to send');
      }
    } catch {
      return; // a device gone away: the next access says so
    }
    this.linkEvent();
  }

  #fail(why: string): void {
    this.#broken = netError('ERR_VFIO_NET_PF_RESET', 'IgbvfPort', `${why}: the VF's queues are stopped`, {
      device: this.address,
      hint: "close the port (its buffers go back to the pool) and open it again once the PF's interface is up",
    });
    this.emit('needs-reset', this.#broken);
    this.linkEvent();
    this.onRxInterrupt(); // wake a waitRx: the next rxBurst reports it
  }

  // ---- receive -----------------------------------------------------------------------

  rxReady(): boolean {
    if (this.closed) return false;
    return this.#broken !== null || (this.#rxD[this.#rxNext * R.DESC_WORDS + R.RXW_STATUS]! & R.RXD_STAT_DD) !== 0;
  }

  rxBurst(ids: Uint32Array, max: number, start = 0): number {
    if (this.closed) this.checkOpen('rxBurst');
    if (this.#broken !== null) throw this.#broken;
    // Constants as locals: an imported binding is loaded (and checked) on every use in a loop.
    const RXW_STATUS = R.RXW_STATUS, RXW_LENGTH = R.RXW_LENGTH, DD = R.RXD_STAT_DD, GOOD = R.RXW_GOOD, GOOD_MASK = R.RXW_GOOD_MASK, APP = BufferOwner.APP;
    const d = this.#rxD;
    const first = this.#rxNext;
    if ((d[(first << 2) + RXW_STATUS]! & DD) === 0) {
      this.counters.driver.rxEmptyPolls++;
      if (this.interruptKind === 'none' && ++this.#emptyPolls >= POLL_MAILBOX_EVERY) {
        this.#emptyPolls = 0;
        this.#checkMailbox();
      }
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
    // ring wraps; the room checked above covers them), then their addresses.
    const run = used < size - first ? used : size - first;
    let got = pool.allocForNic(rxIds, run, first);
    if (run < used) got += pool.allocForNic(rxIds, used - run, 0);
    if (got !== used) throw new Error(`IgbvfPort.rxBurst: internal error, ${got} of ${used} receive buffers refilled`);
    const lo = pool.iovaLo;
    const hi = pool.iovaHi;
    for (let j = first, left = used; left > 0; left--) {
      const id = rxIds[j]!;
      const q = j << 2;
      d[q] = lo[id]!;
      d[q + 1] = hi[id]!;
      d[q + 2] = 0; // header address 0: also clears DD
      d[q + 3] = 0;
      if (++j === size) j = 0;
    }
    this.#rxNext = i;
    const rx = this.counters.rx;
    rx.frames += n;
    rx.bytes += bytes;
    // The tail goes to the last descriptor looked at: it stays with software (head == tail
    // means empty), everything before it goes back. An ordered store, after those above.
    this.#bar.write32(R.RDT, i === 0 ? size - 1 : i - 1);
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
    if (this.#broken !== null) throw this.#broken;
    // Constants as locals: an imported binding is loaded (and checked) on every use in a loop.
    const TXW_CMD = R.TXW_CMD_TYPE_LEN, TXW_OLINFO = R.TXW_OLINFO_STATUS, PAYLEN = R.ADVTXD_PAYLEN_SHIFT, APP = BufferOwner.APP, NIC = BufferOwner.NIC, CMD = TX_CMD, MIN = ETH_HEADER;
    if (!(this.#bar.read32(R.STATUS) & R.STATUS_LU)) {
      this.linkEvent();
      throw netError('ERR_VFIO_NET_LINK_DOWN', 'IgbvfPort.txBurst', "the PF's link is down (STATUS.LU = 0); nothing was sent", { device: this.address });
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
      d[q + TXW_CMD] = len | CMD;
      d[q + TXW_OLINFO] = len << PAYLEN; // also clears the previous write-back's DD
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
    const TXD_DD = R.TXD_STAT_DD, TXW_OLINFO = R.TXW_OLINFO_STATUS;
    const d = this.#txD;
    const size = this.txSize;
    const tail = this.#txTail;
    const c0 = this.#txClean;
    let c = c0;
    while (c !== tail && d[(c << 2) + TXW_OLINFO]! & TXD_DD) if (++c === size) c = 0;
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
   * Masks the interrupts, turns both queues off and bus mastering off (the VF touches memory
   * no more), then gives every ring buffer back to the pool, disables the vectors and frees
   * the rings (and the pool, if the port made it). The address stays with the PF until the
   * VF's next reset. Closes the Device only if openPort opened it. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    const device = this.device;
    if (!device.closed) {
      try {
        this.#counters.update(this.#bar);
        quiesce(device, this.#bar);
      } catch {
        // a device that went away: still release what we hold
      }
    }
    if (this.#watchdog) clearInterval(this.#watchdog);
    this.#watchdog = null;
    this.markClosed();
    for (let i = 0; i < this.rxSize; i++) this.pool.releaseFromNic(this.#rxIds[i]!);
    for (let c = this.#txClean; c !== this.#txTail; c = c + 1 === this.txSize ? 0 : c + 1) this.pool.releaseFromNic(this.#txIds[c]!);
    this.#txClean = this.#txTail;
    closeSteps(`IgbvfPort.close (${this.address})`, [
      () => this.#irq?.disable(),
      () => this.#ring?.free(),
      () => {
        if (this.#ownsPool) this.pool.close();
      },
      () => this.releaseDevice(),
    ]);
  }
}
