/**
 * A driver for virtio-net (virtio 1.x over PCI: QEMU's virtio-net-pci, modern or transitional)
 * on the packet pool: one receive and one transmit split virtqueue (queues 0 and 1; the
 * queue-pair layout leaves room for MQ later), MSI-X or polling, and the 12-byte header in
 * each buffer's headroom (headers.ts) so forwarding to and from other ports stays zero-copy.
 *
 * The hot path (rxBurst, txBurst, rxReady) allocates nothing and makes no native call per
 * frame: the rings are typed arrays over DMA memory (src/virtio/split-queue.ts), a
 * descriptor is four stores, and the device is notified at most once per burst, and only
 * when it asked to be (EVENT_IDX). Received buffers are replaced in the ring by fresh ones
 * from the pool; sent ones go back to the pool when the device has used them, reclaimed at
 * the next txBurst (the transmit queue raises no interrupts).
 *
 * Filtering: without CTRL_VQ/CTRL_RX (not negotiated) the device has no receive filter and
 * delivers every frame (QEMU starts promiscuous), so `promiscuous` is always true and setting
 * it is a no-op. Link state comes from VIRTIO_NET_F_STATUS through the config-change
 * interrupt ('link' events); DEVICE_NEEDS_RESET makes the port emit 'needs-reset' with an
 * ERR_VFIO_VIRTIO_NEEDS_RESET error, which rxBurst and txBurst then throw: close the port
 * (every buffer goes back to the pool) and open it again.
 */
import type { Device } from '../../model/device.js';
import type { InterruptSet } from '../../model/interrupts.js';
import type { VfioError } from '../../errors.js';
import { closeSteps } from '../../errors.js';
import { VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_NEEDS_RESET, VIRTIO_MSI_NO_VECTOR, VIRTIO_NET_HDR_V1_SIZEOF, VIRTIO_RING_F_EVENT_IDX, VRING_DESC_F_WRITE, virtioNetRxQueue, virtioNetTxQueue } from '../../uapi/virtio.js';
import { virtioError } from '../../virtio/errors.js';
import { SplitQueue } from '../../virtio/split-queue.js';
import { VirtioPciTransport } from '../../virtio/transport.js';
import { netError } from '../errors.js';
import { BufferOwner, PacketPool } from '../pool.js';
import { ETH_HEADER, PortBase } from '../port-base.js';
import type { InterruptChoice, PortOptions } from '../port.js';
import type { VirtioNetHwStats } from './counters.js';
import { HeaderViews } from './headers.js';
import { RX_VECTOR, enableVirtioInterrupts } from './interrupts.js';
import { checkBufferSize, checkPool, checkQueueSize, isVirtioNet, unsupported } from './options.js';
import { readLinkUp, readMac, resetAndNegotiate } from './setup.js';

const HDR = VIRTIO_NET_HDR_V1_SIZEOF;
const TWO32 = 2 ** 32;
/** In poll mode (no interrupts), the device status and link are read once per this many empty rxBursts. */
const POLL_CONFIG_EVERY = 1024;

/** A virtio-net port (see the module comment); open it with VirtioNetPort.open or openPort. */
export class VirtioNetPort extends PortBase<VirtioNetHwStats> {
  readonly driver = 'virtio-net';
  readonly pool: PacketPool;
  readonly mac: Uint8Array;
  readonly rxSize: number;
  readonly txSize: number;
  readonly maxFrame: number;
  readonly interruptKind: 'msix' | 'none';
  /** Written to `pool.port[id]` of received frames. */
  readonly portId: number;
  /** The transport (features, status, config), for inspection. */
  readonly transport: VirtioPciTransport;
  #ownsPool: boolean;
  #rxq: SplitQueue | null = null;
  #txq: SplitQueue | null = null;
  #irq: InterruptSet | null = null;
  #hdr: HeaderViews;
  #timestamps: boolean;
  #link = true;
  #broken: VfioError | null = null;
  #emptyPolls = 0;
  #configInterrupts = 0;
  #rxLens: Uint32Array;
  #refillIds: Uint32Array;
  #txDone: Uint32Array;

  /**
   * Initialises an opened virtio-net device (reset, features, queues full of pool buffers,
   * interrupts, DRIVER_OK). The caller keeps the Device and closes it after the port.
   * rxDescriptors/txDescriptors default to what the device offers (QEMU: 256) and must be a
   * power of two no larger; bufferSize at least 1518; a given pool needs a headroom of 12.
   * Throws a RangeError for bad options (before touching the device), and a VfioError:
   * ERR_VFIO_NET_UNSUPPORTED (not virtio-net), ERR_VFIO_VIRTIO_NOT_MODERN, ERR_VFIO_VIRTIO_FEATURES
   * (status FAILED), ERR_VFIO_VIRTIO_QUEUE_SIZE, ERR_VFIO_VIRTIO_NO_VECTOR,
   * ERR_VFIO_VIRTIO_RESET_TIMEOUT, ERR_VFIO_NET_POOL_TOO_SMALL, ERR_VFIO_NET_NO_INTERRUPTS.
   */
  static open(device: Device, options: PortOptions = {}): VirtioNetPort {
    return new VirtioNetPort(device, options);
  }

  private constructor(device: Device, options: PortOptions) {
    super(device);
    const askedRx = checkQueueSize('rxDescriptors', options.rxDescriptors);
    const askedTx = checkQueueSize('txDescriptors', options.txDescriptors);
    if (options.pool) checkPool(options.pool);
    const bufferSize = checkBufferSize(options.bufferSize ?? options.pool?.bufferSize ?? 2048);
    if (options.pool && bufferSize > options.pool.bufferSize) throw new RangeError(`VirtioNetPort: bufferSize ${bufferSize} exceeds the pool's ${options.pool.bufferSize}-byte buffers`);
    const interrupts: InterruptChoice = options.interrupts ?? 'auto';
    if (!['auto', 'msix', 'msi', 'none'].includes(interrupts)) throw new RangeError(`VirtioNetPort: interrupts must be 'auto', 'msix', 'msi' or 'none', got ${String(interrupts)}`);
    if (options.rxMode !== undefined && options.rxMode !== 'interrupt' && options.rxMode !== 'poll')
      throw new RangeError(`VirtioNetPort: rxMode must be 'interrupt' or 'poll', got ${String(options.rxMode)}`);
    if (options.rxMode === 'interrupt' && interrupts === 'none') throw new RangeError("VirtioNetPort: rxMode 'interrupt' needs interrupts, but they are 'none'");
    const portId = options.portId ?? 0;
    if (!Number.isInteger(portId) || portId < 0 || portId > 0xffff) throw new RangeError(`VirtioNetPort: portId must be an integer in [0, 65535], got ${portId}`);
    const vendor = device.config.vendorId;
    const id = device.config.deviceId;
    if (!isVirtioNet(vendor, id)) throw unsupported(device, vendor, id);
    this.transport = VirtioPciTransport.open(device);
    const t = this.transport;
    this.portId = portId;
    this.maxFrame = bufferSize;
    this.#timestamps = options.timestamps ?? false;
    this.#ownsPool = options.pool === undefined;
    let pool: PacketPool | null = options.pool ?? null;
    let irq: InterruptSet | null = null;
    try {
      const features = resetAndNegotiate(device, t, options.reset !== false);
      const eventIdx = (features & (1n << BigInt(VIRTIO_RING_F_EVENT_IDX))) !== 0n;
      const rxIndex = virtioNetRxQueue(0);
      const txIndex = virtioNetTxQueue(0);
      this.rxSize = askedRx ?? t.queueMaxSize(rxIndex);
      this.txSize = askedTx ?? t.queueMaxSize(txIndex);
      // Sizes the device does not offer fail here, before any memory is allocated.
      this.#checkOffer(rxIndex, this.rxSize);
      this.#checkOffer(txIndex, this.txSize);
      pool ??= PacketPool.create(device, { count: options.poolSize ?? 2 * (this.rxSize + this.txSize), bufferSize, headroom: HDR });
      this.pool = pool;
      if (pool.available < this.rxSize)
        throw netError('ERR_VFIO_NET_POOL_TOO_SMALL', 'VirtioNetPort.open', `the pool has ${pool.available} free buffers, the receive queue needs ${this.rxSize}`, {
          device: device.address,
          hint: 'give the pool more buffers than the rings of every port sharing it hold, plus what the app keeps',
        });
      this.#hdr = new HeaderViews(pool);
      const on = enableVirtioInterrupts(device, t, interrupts, () => this.#onConfigInterrupt(), () => this.#onRxVector());
      irq = on.set;
      this.#irq = irq;
      this.interruptKind = on.kind;
      this.rxVector = on.rx;
      const rxq = (this.#rxq = this.#queue(rxIndex, this.rxSize, eventIdx, on.kind === 'msix' ? RX_VECTOR : VIRTIO_MSI_NO_VECTOR));
      this.#txq = this.#queue(txIndex, this.txSize, eventIdx, VIRTIO_MSI_NO_VECTOR);
      this.#rxLens = new Uint32Array(this.rxSize);
      this.#refillIds = new Uint32Array(this.rxSize);
      this.#txDone = new Uint32Array(this.txSize);
      this.mac = readMac(t);
      this.#refill(false);
      t.addStatus(VIRTIO_CONFIG_S_DRIVER_OK);
      rxq.forceKick(); // the device may not look at the receive queue before this (§3.1.1: no notification before DRIVER_OK)
      this.#link = readLinkUp(t);
      this.initRxMode(options.rxMode);
    } catch (e) {
      // A device that refused the features stays FAILED (no queue was set up); any other is reset.
      const refused = (e as VfioError).code === 'ERR_VFIO_VIRTIO_FEATURES';
      try {
        if (!device.closed) {
          if (!refused) t.reset();
          device.config.setBusMaster(false);
        }
      } catch {
        // the original error is the one worth reporting
      }
      try {
        irq?.disable();
      } catch {
        // as above
      }
      for (const q of [this.#rxq, this.#txq]) {
        if (!q) continue;
        if (pool) this.#releaseAll(q);
        q.free();
      }
      if (this.#ownsPool) pool?.close();
      t.close();
      throw e;
    }
  }

  /** ERR_VFIO_VIRTIO_QUEUE_SIZE unless queue `index` exists and offers `size` entries. */
  #checkOffer(index: number, size: number): void {
    const max = this.transport.queueMaxSize(index);
    if (max === 0 || size > max)
      throw virtioError('ERR_VFIO_VIRTIO_QUEUE_SIZE', 'VirtioNetPort.open', max === 0 ? `the device has no queue ${index}` : `queue ${index} (${index % 2 ? 'transmit' : 'receive'}): ${size} entries asked, the device offers at most ${max}`, {
        device: this.address,
        ...(max > 0 && { hint: `ask for rxDescriptors/txDescriptors up to ${max} (QEMU: the device's rx_queue_size/tx_queue_size, up to 1024, raise it)` }),
      });
  }

  /** One queue: memory, setup in the device (which checks the size again), and its notifier. */
  #queue(index: number, size: number, eventIdx: boolean, vector: number): SplitQueue {
    const q = SplitQueue.allocate(this.device, size, eventIdx);
    try {
      const n = this.transport.setupQueue(index, { size, desc: q.descIova, avail: q.availIova, used: q.usedIova, vector });
      const region = n.region;
      const offset = n.offset;
      q.setNotifier(() => region.write16(offset, index));
    } catch (e) {
      q.free();
      throw e;
    }
    return q;
  }

  /** Always true: without CTRL_RX the device has no filter and delivers every frame. Setting it is a no-op. */
  get promiscuous(): boolean {
    return true;
  }

  set promiscuous(_on: boolean) {
    this.checkOpen('promiscuous');
  }

  /** 0: unknown (SPEED_DUPLEX is not negotiated; QEMU reports none either). */
  get speed(): number {
    return 0;
  }

  /** The error the port has failed with (DEVICE_NEEDS_RESET), or null. */
  get failure(): VfioError | null {
    return this.#broken;
  }

  protected readLink(): boolean {
    this.#link = readLinkUp(this.transport);
    return this.#link;
  }

  protected armRxInterrupt(): void {
    this.#rxq!.enableInterrupts();
  }

  protected disarmRxInterrupt(): void {
    this.#rxq?.disableInterrupts();
  }

  protected readHwStats(): VirtioNetHwStats {
    const rx = this.#rxq;
    const tx = this.#txq;
    return {
      badUsed: (rx?.badUsed ?? 0) + (tx?.badUsed ?? 0),
      rxNotifications: rx?.notifications ?? 0,
      txNotifications: tx?.notifications ?? 0,
      configInterrupts: this.#configInterrupts,
    };
  }

  /**
   * A receive interrupt: asks for no more (as NAPI does: the app polls from here on, and
   * waitRx asks again before it sleeps), then wakes the waiter. Without this, used_event
   * would stay where waitRx put it and the device would interrupt again when its index
   * wrapped round to it.
   */
  #onRxVector(): void {
    if (this.closed) return;
    this.#rxq?.disableInterrupts();
    this.onRxInterrupt();
  }

  // ---- configuration changes -------------------------------------------------------------

  #onConfigInterrupt(): void {
    if (this.closed) return;
    this.#configInterrupts++;
    this.#checkConfig();
  }

  /** Reads the status (DEVICE_NEEDS_RESET) and the link: on a config interrupt, or now and then while polling. */
  #checkConfig(): void {
    let status: number;
    try {
      status = this.transport.status;
    } catch {
      return; // a device gone away: the next access will say so
    }
    if (status & VIRTIO_CONFIG_S_NEEDS_RESET || (status & VIRTIO_CONFIG_S_DRIVER_OK) === 0) this.#fail(status);
    else if (this.#broken === null) this.linkEvent();
  }

  #fail(status: number): void {
    if (this.#broken !== null) return;
    const why = status & VIRTIO_CONFIG_S_NEEDS_RESET ? 'the device set DEVICE_NEEDS_RESET' : `the device left DRIVER_OK (status 0x${status.toString(16)})`;
    this.#broken = virtioError('ERR_VFIO_VIRTIO_NEEDS_RESET', 'VirtioNetPort', `${why}: it has stopped working on its queues`, {
      device: this.address,
      hint: 'close the port (its buffers go back to the pool) and open it again',
    });
    this.emit('needs-reset', this.#broken);
    this.onRxInterrupt(); // wake a waitRx: the next rxBurst reports it
  }

  // ---- receive -----------------------------------------------------------------------

  rxReady(): boolean {
    if (this.closed) return false;
    return this.#broken !== null || this.#rxq!.hasUsed();
  }

  rxBurst(ids: Uint32Array, max: number, start = 0): number {
    if (this.closed) this.checkOpen('rxBurst');
    if (this.#broken !== null) throw this.#broken;
    const rxq = this.#rxq!;
    if (!rxq.hasUsed()) {
      this.counters.driver.rxEmptyPolls++;
      if (rxq.freeCount !== 0) this.#refill(true);
      if (this.interruptKind === 'none' && ++this.#emptyPolls >= POLL_CONFIG_EVERY) {
        this.#emptyPolls = 0;
        this.#checkConfig();
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
    const lens = this.#rxLens;
    const got = rxq.takeUsed(ids, lens, lim < this.rxSize ? lim : this.rxSize, start);
    const owner = pool.owner;
    const length = pool.length;
    const port = pool.port;
    const queue = pool.queue;
    const stamps = pool.timestamp;
    const APP = BufferOwner.APP;
    const MIN = ETH_HEADER + HDR;
    const MAX = this.maxFrame + HDR;
    const portId = this.portId;
    const stamp = this.#timestamps ? performance.timeOrigin + performance.now() : 0;
    let n = 0;
    let bytes = 0;
    for (let k = 0; k < got; k++) {
      const id = ids[start + k]!;
      const len = lens[k]!;
      if (len < MIN || len > MAX) {
        // Shorter than a header and an Ethernet header, or longer than the buffer: not a frame.
        this.counters.rx.errors++;
        pool.releaseFromNic(id);
        continue;
      }
      owner[id] = APP;
      length[id] = len - HDR;
      port[id] = portId;
      queue[id] = 0;
      stamps[id] = stamp;
      ids[start + n++] = id;
      bytes += len - HDR;
    }
    if (got === lim && lim < limit && rxq.hasUsed()) this.counters.driver.rxPoolEmpty++;
    this.#refill(true);
    const rx = this.counters.rx;
    rx.frames += n;
    rx.bytes += bytes;
    return n;
  }

  /** Fills the receive queue's free descriptors from the pool (what it has), then publishes and kicks once. */
  #refill(kick: boolean): void {
    const rxq = this.#rxq!;
    const pool = this.pool;
    const ids = this.#refillIds;
    const k = pool.allocForNic(ids, rxq.freeCount);
    if (k === 0) return;
    const lo = pool.iovaLo;
    const hi = pool.iovaHi;
    const len = this.maxFrame + HDR;
    const WRITE = VRING_DESC_F_WRITE;
    for (let i = 0; i < k; i++) {
      const id = ids[i]!;
      // The descriptor starts at the header, 12 bytes before the frame (IOVA - 12, borrowing from the high half).
      let a = lo[id]! - HDR;
      let h = hi[id]!;
      if (a < 0) {
        a += TWO32;
        h--;
      }
      rxq.add(a, h, len, WRITE, id);
    }
    rxq.publish();
    if (kick) rxq.kick();
  }

  // ---- transmit ----------------------------------------------------------------------

  get txInFlight(): number {
    if (this.closed) return 0;
    this.#txReclaim();
    return this.#txq!.inFlight;
  }

  txBurst(ids: Uint32Array, count: number, start = 0): number {
    if (this.closed) this.checkOpen('txBurst');
    if (this.#broken !== null) throw this.#broken;
    if (!this.#link) {
      this.linkEvent();
      if (!this.#link) throw netError('ERR_VFIO_NET_LINK_DOWN', 'VirtioNetPort.txBurst', 'the link is down (virtio_net_config.status without LINK_UP); nothing was sent', { device: this.address });
    }
    this.#txReclaim();
    const txq = this.#txq!;
    const free = txq.freeCount;
    const want = Math.min(count, ids.length - start);
    const n = want < free ? want : free;
    if (n < want) {
      this.counters.driver.txRingFull++;
      this.counters.tx.drops += want - n;
    }
    const pool = this.pool;
    const owner = pool.owner;
    const length = pool.length;
    const lo = pool.iovaLo;
    const hi = pool.iovaHi;
    const hdr = this.#hdr;
    const APP = BufferOwner.APP;
    const NIC = BufferOwner.NIC;
    const MIN = ETH_HEADER;
    const max = this.maxFrame;
    let bytes = 0;
    for (let k = 0; k < n; k++) {
      const id = ids[start + k]!;
      const len = length[id]!;
      // The ownership check: one byte per id. Length next; either failing undoes the burst.
      if (owner[id] !== APP || len > max || len < MIN) this.#refuse(ids, start, k);
      owner[id] = NIC;
      hdr.clear(id);
      let a = lo[id]! - HDR;
      let h = hi[id]!;
      if (a < 0) {
        a += TWO32;
        h--;
      }
      txq.add(a, h, len + HDR, 0, id);
      bytes += len;
    }
    if (n > 0) {
      txq.publish();
      txq.kick();
      this.counters.tx.frames += n;
      this.counters.tx.bytes += bytes;
    }
    return n;
  }

  /** ids[start+k] cannot be sent: takes the k added back (nothing was published), then PortBase.refuseTx. */
  #refuse(ids: Uint32Array, start: number, k: number): never {
    this.#txq!.unadd(k);
    return this.refuseTx(ids, start, k);
  }

  /** Gives the buffers the device has sent back to the pool, in one run. */
  #txReclaim(): void {
    const n = this.#txq!.takeUsed(this.#txDone, null, this.txSize);
    if (n > 0) this.pool.releaseManyFromNic(this.#txDone, n);
  }

  /** Every buffer still in `q` back to the pool (the device is reset: it touches them no more). */
  #releaseAll(q: SplitQueue): void {
    const out = new Uint32Array(q.size);
    const n = q.drain(out);
    this.pool.releaseManyFromNic(out, n);
  }

  // ---- shutdown ------------------------------------------------------------------------

  /**
   * Resets the device (it stops using the queues and raises nothing more) and turns bus
   * mastering off, then gives every buffer of both queues back to the pool, disables the
   * vectors and frees the queues (and the pool, if the port made it). Works on a device that
   * needs a reset too. Closes the Device only if openPort opened it. Idempotent.
   */
  close(): void {
    if (this.closed) return;
    const device = this.device;
    if (!device.closed) {
      try {
        this.transport.reset();
      } catch {
        // a device that does not come out of reset: bus mastering off still stops its DMA
      }
      try {
        device.config.setBusMaster(false);
      } catch {
        // a device that went away: still release what we hold
      }
    }
    this.markClosed();
    for (const q of [this.#rxq!, this.#txq!]) this.#releaseAll(q);
    closeSteps(`VirtioNetPort.close (${this.address})`, [
      () => this.#irq?.disable(),
      () => this.#rxq!.free(),
      () => this.#txq!.free(),
      () => this.transport.close(),
      () => {
        if (this.#ownsPool) this.pool.close();
      },
      () => this.releaseDevice(),
    ]);
  }
}
