/**
 * A user-level driver for the Intel 82574 (e1000e) through VFIO: one port, legacy
 * descriptors, one receive and one transmit ring in DMA memory with a fixed pool of
 * packet buffers, MSI-X (or MSI) interrupts or polling, and the statistics registers.
 *
 *   const dev = openDevice('0000:00:03.0');
 *   const port = E1000e.open(dev, { promiscuous: true });
 *   await port.waitForLink(3000);
 *   port.txBurst([frame]);                       // copies into the ring, one doorbell per burst
 *   const rx: Frame[] = [];
 *   const n = port.rxBurst(rx, 32);              // rx[0..n) valid until the next rxBurst
 *   await port.waitRx(1000);                     // sleeps on the interrupt (or polls)
 *   port.close(); dev.close();
 *
 * The hot path (rxBurst, txBurst) allocates nothing and makes no native call per frame:
 * descriptors and buffers are plain typed arrays over the DMA buffer, and the only
 * device accesses are the tail doorbells (one Region.write32 per burst, an ordered
 * Atomics.store issued after the descriptor stores) and one STATUS read per txBurst.
 * Datasheet: Intel 82574 GbE Controller Family; sections are cited in regs.ts and below.
 */
import { EventEmitter } from 'node:events';
import type { Device, DmaBuffer, InterruptSet, InterruptVector, Region } from 'vfio';
import * as R from './regs.js';

export type InterruptChoice = 'auto' | 'msix' | 'msi' | 'none';
export type RxMode = 'interrupt' | 'poll';

export interface E1000eOptions {
  /** Receive descriptors: a multiple of 8 (the ring is a multiple of 128 bytes), 8-4096. Default 512. */
  rxDescriptors?: number;
  /** Transmit descriptors, same rule. Default 512. */
  txDescriptors?: number;
  /** Bytes per packet buffer: 256, 512, 1024, 2048 (default), 4096, 8192 or 16384 (RCTL.BSIZE/BSEX). */
  bufferSize?: number;
  /** Accept every unicast and multicast frame (RCTL.UPE/MPE). Default false. */
  promiscuous?: boolean;
  /** 'auto' (default) takes MSI-X, then MSI, else none; 'none' means polling only. */
  interrupts?: InterruptChoice;
  /** How waitRx() waits: on the interrupt (default when there is one) or by polling. */
  rxMode?: RxMode;
  /** Reset the function first through VFIO (FLR) when the device offers it. Default true. */
  reset?: boolean;
}

/** A received frame: `data` views the whole packet buffer, the frame is its first `length` bytes. */
export interface Frame {
  data: Uint8Array;
  length: number;
}

export type FrameLike = Uint8Array | Frame;

/**
 * A received frame as rxBurst hands it out: its buffer also seen as 32-bit words, for short
 * copies. `own` is the buffer's original view: a caller may point `data` elsewhere, and an
 * identity check is far cheaper on the hot path than comparing `.buffer`s.
 */
interface RxFrame extends Frame {
  readonly words: Uint32Array;
  readonly own: Uint8Array;
}

export class E1000eError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'E1000eError';
    this.code = code;
  }
}

/** Counters kept by the driver (frames it handed over) and read from the NIC (statistics registers, §10.2). */
export interface E1000eStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Frames written back with an error bit (CRC, symbol, sequence, ...), dropped. */
  rxErrors: number;
  /** Frames larger than one buffer (they span descriptors), dropped. */
  rxOversize: number;
  /** txBurst calls that could not take every frame because the ring was full. */
  txRingFull: number;
  /** Receive interrupts, waits woken by them, waits that timed out, polls that found nothing. */
  rxInterrupts: number;
  rxWakeups: number;
  rxTimeouts: number;
  rxEmptyPolls: number;
  linkChanges: number;
  /** The NIC's own counters, accumulated (they clear on read). */
  hw: {
    goodPacketsReceived: number; // GPRC
    goodPacketsTransmitted: number; // GPTC
    goodOctetsReceived: number; // GORC
    goodOctetsTransmitted: number; // GOTC
    totalPacketsReceived: number; // TPR
    totalPacketsTransmitted: number; // TPT
    missedPackets: number; // MPC
    receiveNoBuffers: number; // RNBC
    receiveUndersize: number; // RUC
    receiveOversize: number; // ROC
    crcErrors: number; // CRCERRS
    receiveErrors: number; // RXERRC
  };
}

const ETH_HEADER = 14;
const DEFAULT_RING = 512;
/** Packet buffers come in DMA buffers of at most this size: one 2 MiB hugepage (see the constructor). */
const POOL_CHUNK = 2 * 1024 * 1024;
const MAX_RING = 4096;

/** Sleeps the thread for `ms` without spinning (for the datasheet's short waits during init). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function checkRing(name: string, n: number): number {
  if (!Number.isInteger(n) || n < R.RING_ALIGN_DESCS || n > MAX_RING || n % R.RING_ALIGN_DESCS !== 0)
    throw new E1000eError(
      'ERR_RING_SIZE',
      `${name} must be a multiple of ${R.RING_ALIGN_DESCS} descriptors (the ring length is a multiple of 128 bytes, §10.2.5/§10.2.6) ` +
        `between ${R.RING_ALIGN_DESCS} and ${MAX_RING}, got ${n}`,
    );
  return n;
}

export class E1000e extends EventEmitter<{ link: [up: boolean] }> {
  readonly device: Device;
  readonly address: string;
  /** The station address from RAL0/RAH0 (§10.2.5), or from the NVM when RAH0 was not valid. */
  readonly mac: Uint8Array;
  readonly rxSize: number;
  readonly txSize: number;
  readonly bufferSize: number;
  readonly promiscuous: boolean;
  /** The interrupt type in use: 'none' means the port can only poll. */
  readonly interruptKind: 'msix' | 'msi' | 'none';
  #bar: Region;
  /** The rings, then the packet-buffer chunks. */
  #dma: DmaBuffer[];
  #irq: InterruptSet | null = null;
  #rxVector: InterruptVector | null = null;
  #rxMode: RxMode;
  #closed = false;
  // Receive ring: descriptors as bytes/halfwords, buffers, and the preallocated frames handed out.
  #rxD8: Uint8Array;
  #rxD16: Uint16Array;
  #rxBufs: Uint8Array[] = [];
  #rxFrames: RxFrame[] = [];
  #rxNext = 0;
  #rxHeld = 0;
  #rxDiscard = false;
  // Transmit ring.
  #txD8: Uint8Array;
  #txD16: Uint16Array;
  #txBufs: Uint8Array[] = [];
  #txWords: Uint32Array[] = [];
  #txTail = 0;
  #txClean = 0;
  #waiter: { promise: Promise<boolean>; finish: (woken: boolean) => void } | null = null;
  #linkUp = false;
  #stats: E1000eStats = {
    rxPackets: 0,
    rxBytes: 0,
    txPackets: 0,
    txBytes: 0,
    rxErrors: 0,
    rxOversize: 0,
    txRingFull: 0,
    rxInterrupts: 0,
    rxWakeups: 0,
    rxTimeouts: 0,
    rxEmptyPolls: 0,
    linkChanges: 0,
    hw: {
      goodPacketsReceived: 0,
      goodPacketsTransmitted: 0,
      goodOctetsReceived: 0,
      goodOctetsTransmitted: 0,
      totalPacketsReceived: 0,
      totalPacketsTransmitted: 0,
      missedPackets: 0,
      receiveNoBuffers: 0,
      receiveUndersize: 0,
      receiveOversize: 0,
      crcErrors: 0,
      receiveErrors: 0,
    },
  };

  /**
   * Initialises an opened 82574 (the caller keeps the Device and closes it after the port):
   * reset, link, station address, rings, receiver and transmitter on, interrupts.
   */
  static open(device: Device, options: E1000eOptions = {}): E1000e {
    return new E1000e(device, options);
  }

  private constructor(device: Device, options: E1000eOptions) {
    super();
    const rxSize = checkRing('rxDescriptors', options.rxDescriptors ?? DEFAULT_RING);
    const txSize = checkRing('txDescriptors', options.txDescriptors ?? DEFAULT_RING);
    const bufferSize = options.bufferSize ?? 2048;
    const bsize = R.rctlBufferSize(bufferSize);
    if (bsize === undefined)
      throw new E1000eError('ERR_BUFFER_SIZE', `bufferSize must be 256, 512, 1024, 2048, 4096, 8192 or 16384 (RCTL.BSIZE/BSEX), got ${bufferSize}`);
    const interrupts = options.interrupts ?? 'auto';
    if (!['auto', 'msix', 'msi', 'none'].includes(interrupts))
      throw new E1000eError('ERR_OPTION', `interrupts must be 'auto', 'msix', 'msi' or 'none', got ${String(interrupts)}`);
    if (options.rxMode !== undefined && options.rxMode !== 'interrupt' && options.rxMode !== 'poll')
      throw new E1000eError('ERR_OPTION', `rxMode must be 'interrupt' or 'poll', got ${String(options.rxMode)}`);

    this.device = device;
    this.address = device.address;
    this.rxSize = rxSize;
    this.txSize = txSize;
    this.bufferSize = bufferSize;
    this.promiscuous = options.promiscuous ?? false;

    const vendor = device.config.vendorId;
    const id = device.config.deviceId;
    if (vendor !== R.INTEL_VENDOR_ID || !R.E82574_DEVICE_IDS.includes(id)) {
      const classCode = device.config.read32(0x08) >>> 8;
      throw new E1000eError(
        'ERR_NOT_82574',
        `${device.address} is ${hex4(vendor)}:${hex4(id)} (class 0x${classCode.toString(16).padStart(6, '0')}), ` +
          `not an Intel 82574 (8086:10d3 or 8086:10f6)`,
      );
    }
    this.#bar = device.bar(0);
    if (this.#bar.size < 128 * 1024)
      throw new E1000eError('ERR_NOT_82574', `${device.address}: BAR0 is ${this.#bar.size} bytes, an 82574 has 128 KiB of registers`);

    // Everything the port allocates is released again if a later step fails.
    const dma: DmaBuffer[] = [];
    this.#dma = dma;
    try {
      this.#resetAndLink(options.reset !== false);
      this.mac = this.#readMac();

      // The rings in one DMA buffer (each 128-byte aligned), the packet buffers in chunks of
      // at most 2 MiB. With an IOMMU one buffer of any size would do; without one (no-IOMMU
      // mode, device.dmaTranslated false) a buffer must be physically contiguous, and a 2 MiB
      // hugepage is.
      const txRingAt = rxSize * R.DESC_SIZE;
      const ring = device.allocDma(rxSize * R.DESC_SIZE + txSize * R.DESC_SIZE);
      dma.push(ring);
      const mem = ring.buffer;
      const perChunk = Math.max(1, Math.floor(POOL_CHUNK / bufferSize));
      const total = rxSize + txSize;
      const slot = (k: number): { bytes: Uint8Array; iova: number } => {
        const c = Math.floor(k / perChunk);
        if (dma.length <= 1 + c) dma.push(device.allocDma(Math.min(perChunk, total - c * perChunk) * bufferSize));
        const chunk = dma[1 + c]!;
        const at = (k % perChunk) * bufferSize;
        return { bytes: new Uint8Array(chunk.buffer, at, bufferSize), iova: chunk.iova + at };
      };
      this.#rxD8 = new Uint8Array(mem, 0, rxSize * R.DESC_SIZE);
      this.#rxD16 = new Uint16Array(mem, 0, rxSize * 8);
      this.#txD8 = new Uint8Array(mem, txRingAt, txSize * R.DESC_SIZE);
      this.#txD16 = new Uint16Array(mem, txRingAt, txSize * 8);
      const rxD32 = new Uint32Array(mem, 0, rxSize * 4);
      const txD32 = new Uint32Array(mem, txRingAt, txSize * 4);
      for (let i = 0; i < rxSize; i++) {
        const { bytes: buf, iova } = slot(i);
        this.#rxBufs.push(buf);
        this.#rxFrames.push({ data: buf, length: 0, words: new Uint32Array(buf.buffer, buf.byteOffset, bufferSize >> 2), own: buf });
        setAddress(rxD32, i, iova);
      }
      for (let i = 0; i < txSize; i++) {
        const { bytes: buf, iova } = slot(rxSize + i);
        this.#txBufs.push(buf);
        this.#txWords.push(new Uint32Array(buf.buffer, buf.byteOffset, bufferSize >> 2));
        setAddress(txD32, i, iova);
        // Every frame is one descriptor: end of packet, insert the FCS, report status (§7.2).
        this.#txD8[i * R.DESC_SIZE + R.TXD_CMD] = R.TXD_CMD_EOP | R.TXD_CMD_IFCS | R.TXD_CMD_RS;
      }

      this.#initReceive(ring.iova, bsize);
      this.#initTransmit(ring.iova + txRingAt);
      this.interruptKind = this.#initInterrupts(interrupts);
      this.#rxMode = options.rxMode ?? (this.interruptKind === 'none' ? 'poll' : 'interrupt');
      if (this.#rxMode === 'interrupt' && this.interruptKind === 'none')
        throw new E1000eError('ERR_NO_INTERRUPTS', `${this.address}: rxMode 'interrupt' needs interrupts, but they are 'none'`);
      this.setRxMode(this.#rxMode);
      this.#linkUp = this.linkUp;
    } catch (e) {
      try {
        this.#quiesce();
        this.#irq?.disable();
        for (const b of dma) b.free();
      } catch {
        // the original error is the one worth reporting
      }
      throw e;
    }
  }

  // ---- initialisation (datasheet chapter 4, software initialization sequence) ----------------

  #resetAndLink(flr: boolean): void {
    const bar = this.#bar;
    if (flr && this.device.canReset) this.device.reset(); // function level reset through VFIO
    this.device.config.setBusMaster(true);
    bar.write32(R.IMC, R.ICR_ALL); // mask everything before the reset ...
    bar.write32(R.CTRL, bar.read32(R.CTRL) | R.CTRL_RST);
    sleepSync(1); // §10.2.2.1: wait ~1 ms before touching the device again
    for (let i = 0; bar.read32(R.CTRL) & R.CTRL_RST; i++) {
      if (i > 100) throw new E1000eError('ERR_RESET_TIMEOUT', `${this.address}: CTRL.RST did not clear within 100 ms`);
      sleepSync(1);
    }
    bar.write32(R.IMC, R.ICR_ALL); // ... and after it
    bar.read32(R.ICR);
    bar.write32(R.ICR, R.ICR_ALL);
    for (let i = 0; !(bar.read32(R.EEC) & R.EEC_AUTO_RD); i++) {
      if (i > 100) throw new E1000eError('ERR_NVM_TIMEOUT', `${this.address}: the NVM auto-read (EEC.AUTO_RD) did not complete`);
      sleepSync(1);
    }
    // Link (copper PHY with auto-negotiation): set link up, let the PHY negotiate speed and duplex.
    const ctrl = bar.read32(R.CTRL);
    bar.write32(R.CTRL, ((ctrl | R.CTRL_SLU) & ~(R.CTRL_FRCSPD | R.CTRL_FRCDPX | R.CTRL_PHY_RST | R.CTRL_GIO_MASTER_DISABLE | R.CTRL_VME)) >>> 0);
    // The multicast table is undefined after reset: clear it. Statistics: read to clear.
    for (let i = 0; i < R.MTA_ENTRIES; i++) bar.write32(R.MTA + 4 * i, 0);
    this.#readHwCounters(false);
  }

  #readMac(): Uint8Array {
    const bar = this.#bar;
    let low = bar.read32(R.RAL0);
    let high = bar.read32(R.RAH0);
    if (!(high & R.RAH_AV)) {
      // RAH0 not loaded: the address is in NVM words 0-2 (chapter 6, NVM map), read through EERD.
      const words = [0, 1, 2].map((w) => this.#readNvm(w));
      low = (words[0]! | (words[1]! << 16)) >>> 0;
      high = words[2]!;
      bar.write32(R.RAL0, low); // §10.2.5: write low, then high with Address Valid
      bar.write32(R.RAH0, (high | R.RAH_AV) >>> 0);
    }
    return Uint8Array.of(low & 0xff, (low >>> 8) & 0xff, (low >>> 16) & 0xff, low >>> 24, high & 0xff, (high >>> 8) & 0xff);
  }

  #readNvm(word: number): number {
    const bar = this.#bar;
    bar.write32(R.EERD, (word << R.EERD_ADDR_SHIFT) | R.EERD_START);
    for (let i = 0; i < 1000; i++) {
      const v = bar.read32(R.EERD);
      if (v & R.EERD_DONE) return v >>> R.EERD_DATA_SHIFT;
    }
    throw new E1000eError('ERR_NVM_TIMEOUT', `${this.address}: EERD read of NVM word ${word} did not complete`);
  }

  /** Receive initialization (chapter 4): ring registers, then RCTL, then the tail. */
  #initReceive(iova: number, bsize: number): void {
    const bar = this.#bar;
    bar.write32(R.RCTL, 0);
    bar.write32(R.RDTR, 0); // no receive interrupt delay
    bar.write32(R.RADV, 0);
    bar.write32(R.RFCTL, bar.read32(R.RFCTL) & ~R.RFCTL_EXTEN); // legacy descriptors
    bar.write32(R.RDBAL0, iova % 2 ** 32);
    bar.write32(R.RDBAH0, Math.floor(iova / 2 ** 32));
    bar.write32(R.RDLEN0, this.rxSize * R.DESC_SIZE);
    bar.write32(R.RDH0, 0);
    bar.write32(R.RDT0, 0);
    bar.write32(
      R.RCTL,
      R.RCTL_EN | R.RCTL_BAM | R.RCTL_SECRC | R.RCTL_LPE | R.RCTL_RDMTS_HALF | bsize | (this.promiscuous ? R.RCTL_UPE | R.RCTL_MPE : 0),
    );
    // Hand the hardware every descriptor but one: head == tail means "ring empty" (§7.1).
    bar.write32(R.RDT0, this.rxSize - 1);
  }

  /** Transmit initialization (chapter 4). */
  #initTransmit(iova: number): void {
    const bar = this.#bar;
    bar.write32(R.TCTL, 0);
    bar.write32(R.TIDV, 0);
    bar.write32(R.TADV, 0);
    bar.write32(R.TDBAL, iova % 2 ** 32);
    bar.write32(R.TDBAH, Math.floor(iova / 2 ** 32));
    bar.write32(R.TDLEN, this.txSize * R.DESC_SIZE);
    bar.write32(R.TDH, 0);
    bar.write32(R.TDT, 0);
    bar.write32(R.TARC0, bar.read32(R.TARC0) | R.TARC_ENABLE);
    bar.write32(R.TIPG, R.TIPG_DEFAULT);
    bar.write32(R.TCTL, R.TCTL_EN | R.TCTL_PSP | (0x0f << R.TCTL_CT_SHIFT) | (0x3f << R.TCTL_COLD_SHIFT) | R.TCTL_RTLC);
  }

  /**
   * MSI-X (chapter 7, interrupts): three vectors through IVAR, receive queue 0 → 0, transmit queue 0 → 1,
   * other causes (link) → 2, each auto-cleared in ICR (EIAC). MSI: one vector, ICR
   * acknowledged by writing it back. Receive causes are unmasked only while waiting.
   */
  #initInterrupts(choice: InterruptChoice): 'msix' | 'msi' | 'none' {
    const bar = this.#bar;
    const kinds = choice === 'auto' ? (['msix', 'msi'] as const) : choice === 'none' ? [] : [choice];
    const failures: unknown[] = [];
    for (const kind of kinds) {
      const offered = this.device.irqInfo(kind).count;
      const need = kind === 'msix' ? 3 : 1;
      if (offered < need) {
        failures.push(new E1000eError('ERR_NO_INTERRUPTS', `${kind}: ${offered} vector(s) offered, ${need} needed`));
        continue;
      }
      let set: InterruptSet;
      try {
        set = this.device.enableInterrupts(kind, need);
      } catch (e) {
        failures.push(e);
        continue;
      }
      this.#irq = set;
      const rx = set.vectors[0]!;
      rx.unref(); // an idle port does not keep the process alive; waitRx refs it while waiting
      this.#rxVector = rx;
      if (kind === 'msix') {
        bar.write32(
          R.IVAR,
          ((R.IVAR_VALID | 0) << R.IVAR_RXQ0_SHIFT) | ((R.IVAR_VALID | 1) << R.IVAR_TXQ0_SHIFT) | ((R.IVAR_VALID | 2) << R.IVAR_OTHER_SHIFT),
        );
        bar.write32(R.EIAC, R.ICR_RXQ0 | R.ICR_TXQ0 | R.ICR_OTHER);
        set.vectors[1]!.unref();
        const other = set.vectors[2]!;
        other.unref();
        rx.on('interrupt', () => this.#onRxInterrupt());
        other.on('interrupt', () => this.#onOtherInterrupt());
        bar.write32(R.IMS, R.ICR_OTHER | R.ICR_LSC);
      } else {
        rx.on('interrupt', () => {
          this.#acknowledgeMsi();
          this.#onRxInterrupt();
        });
        bar.write32(R.IMS, R.ICR_LSC);
      }
      return kind;
    }
    if (choice !== 'auto' && choice !== 'none') {
      const last = failures[failures.length - 1];
      throw new E1000eError('ERR_NO_INTERRUPTS', `${this.address}: could not enable ${choice}: ${last instanceof Error ? last.message : String(last)}`);
    }
    return 'none';
  }

  // ---- interrupts ------------------------------------------------------------------

  #onRxInterrupt(): void {
    if (this.#closed) return;
    this.#stats.rxInterrupts++;
    this.#waiter?.finish(true);
  }

  /** MSI-X "other" vector: link status changes. */
  #onOtherInterrupt(): void {
    if (this.#closed) return;
    const icr = this.#bar.read32(R.ICR);
    this.#bar.write32(R.ICR, icr & (R.ICR_LSC | R.ICR_OTHER));
    if (icr & R.ICR_LSC) this.#linkEvent();
    this.#bar.write32(R.IMS, R.ICR_OTHER | R.ICR_LSC); // auto-masked when it fired
  }

  /** MSI: read the causes and clear them, so the next cause sends a new message. */
  #acknowledgeMsi(): void {
    if (this.#closed) return;
    const icr = this.#bar.read32(R.ICR);
    if (icr) this.#bar.write32(R.ICR, icr);
    if (icr & R.ICR_LSC) this.#linkEvent();
  }

  #linkEvent(): void {
    const up = this.linkUp;
    if (up === this.#linkUp) return;
    this.#linkUp = up;
    this.#stats.linkChanges++;
    this.emit('link', up);
  }

  /**
   * Unmasks the receive cause so the next frame interrupts (MSI-X auto-masks it each time it
   * fires). A cause left over from frames software already took is cleared first, so it does
   * not fire at once; frames that arrive after the clear set it again. The caller checks the
   * ring after arming: descriptors are written back before the cause is raised.
   */
  #armRx(): void {
    if (this.interruptKind === 'msix') {
      this.#bar.write32(R.ICR, R.ICR_RXQ0);
      this.#bar.write32(R.IMS, R.ICR_RXQ0);
    } else if (this.interruptKind === 'msi') {
      this.#acknowledgeMsi();
      this.#bar.write32(R.IMS, R.ICR_RXT0 | R.ICR_LSC);
    }
  }

  get rxMode(): RxMode {
    return this.#rxMode;
  }

  /** Switches waitRx() between sleeping on the receive interrupt and polling the ring. */
  setRxMode(mode: RxMode): void {
    this.#check('setRxMode');
    if (mode !== 'interrupt' && mode !== 'poll') throw new E1000eError('ERR_OPTION', `rxMode must be 'interrupt' or 'poll', got ${String(mode)}`);
    if (mode === 'interrupt' && this.interruptKind === 'none')
      throw new E1000eError('ERR_NO_INTERRUPTS', `${this.address}: interrupt mode needs MSI-X or MSI, and the port has none`);
    this.#rxMode = mode;
    if (mode === 'poll') {
      this.#bar.write32(R.IMC, R.ICR_RXQ0 | R.ICR_RXT0 | R.ICR_RXDMT0);
      this.#waiter?.finish(this.rxReady());
    }
  }

  // ---- link --------------------------------------------------------------------------

  /** STATUS.LU (§10.2.2.2). */
  get linkUp(): boolean {
    this.#check('linkUp');
    return (this.#bar.read32(R.STATUS) & R.STATUS_LU) !== 0;
  }

  /** Link speed in Mb/s from STATUS (§10.2.2.2). */
  get speed(): number {
    const s = (this.#bar.read32(R.STATUS) & R.STATUS_SPEED_MASK) >>> R.STATUS_SPEED_SHIFT;
    return s === 0 ? 10 : s === 1 ? 100 : 1000;
  }

  /** Resolves true once the link is up, false after `timeoutMs`. */
  async waitForLink(timeoutMs = 5000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.linkUp) {
        this.#linkEvent();
        return true;
      }
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Restarts auto-negotiation through the PHY (MDIC, §10.2.2): the link goes down, then up again. */
  restartAutoNegotiation(): void {
    this.#check('restartAutoNegotiation');
    const ctrl = this.#phyRead(R.PHY_CTRL);
    this.#phyWrite(R.PHY_CTRL, ctrl | R.PHY_CTRL_AN_ENABLE | R.PHY_CTRL_RESTART_AN);
    this.#linkEvent(); // the link drops at once (no interrupt for that); LSC says when it is back
  }

  #mdic(value: number): number {
    this.#bar.write32(R.MDIC, value >>> 0);
    for (let i = 0; i < 1000; i++) {
      const v = this.#bar.read32(R.MDIC);
      if (v & R.MDIC_ERROR) throw new E1000eError('ERR_MDIC', `${this.address}: PHY access 0x${(value >>> 0).toString(16)} failed`);
      if (v & R.MDIC_READY) return v & R.MDIC_DATA_MASK;
    }
    throw new E1000eError('ERR_MDIC', `${this.address}: PHY access did not complete`);
  }
  #phyRead(reg: number): number {
    return this.#mdic((reg << R.MDIC_REG_SHIFT) | (R.PHY_ADDRESS << R.MDIC_PHY_SHIFT) | R.MDIC_OP_READ);
  }
  #phyWrite(reg: number, value: number): void {
    this.#mdic((value & 0xffff) | (reg << R.MDIC_REG_SHIFT) | (R.PHY_ADDRESS << R.MDIC_PHY_SHIFT) | R.MDIC_OP_WRITE);
  }

  // ---- receive -----------------------------------------------------------------------

  /** A frame is waiting in the ring (DD set on the next descriptor). */
  rxReady(): boolean {
    return !this.#closed && (this.#rxD8[this.#rxNext * R.DESC_SIZE + R.RXD_STATUS]! & R.RXD_STAT_DD) !== 0;
  }

  /**
   * Takes up to `max` received frames. With an array, out[0..n) are set to frames whose
   * buffers stay valid until the next rxBurst() call (they go back to the NIC then); with
   * a callback, each frame is passed as (buffer, length) and the buffers go back at once.
   * Frames larger than one buffer and frames with error bits are dropped and counted.
   */
  rxBurst(out: Frame[] | ((data: Uint8Array, length: number) => void), max?: number): number {
    this.#check('rxBurst');
    this.#rxGiveBack();
    const callback = typeof out === 'function' ? out : null;
    const limit = max ?? (callback ? 64 : (out as Frame[]).length);
    const d8 = this.#rxD8;
    const d16 = this.#rxD16;
    const size = this.rxSize;
    const stats = this.#stats;
    let i = this.#rxNext;
    let n = 0;
    let used = 0;
    while (n < limit && used < size) {
      const at = i * R.DESC_SIZE;
      const status = d8[at + R.RXD_STATUS]!;
      if ((status & R.RXD_STAT_DD) === 0) break;
      used++;
      const eop = (status & R.RXD_STAT_EOP) !== 0;
      if (this.#rxDiscard || !eop) {
        // Part of a frame that did not fit one buffer: drop every descriptor up to EOP.
        if (!this.#rxDiscard) stats.rxOversize++;
        this.#rxDiscard = !eop;
      } else if (d8[at + R.RXD_ERRORS]! & R.RXD_ERR_FRAME) {
        stats.rxErrors++;
      } else {
        const length = d16[(at >> 1) + (R.RXD_LENGTH >> 1)]!;
        stats.rxPackets++;
        stats.rxBytes += length;
        if (callback) callback(this.#rxBufs[i]!, length);
        else {
          const f = this.#rxFrames[i]!;
          f.length = length;
          (out as Frame[])[n] = f;
        }
        n++;
      }
      if (++i === size) i = 0;
    }
    this.#rxNext = i;
    this.#rxHeld += used;
    if (callback) this.#rxGiveBack();
    if (used === 0) stats.rxEmptyPolls++;
    return n;
  }

  /** Gives the descriptors software has finished with back to the NIC (§7.1: clear, then move RDT). */
  #rxGiveBack(): void {
    const held = this.#rxHeld;
    if (held === 0) return;
    const size = this.rxSize;
    const d8 = this.#rxD8;
    let j = this.#rxNext - held;
    if (j < 0) j += size;
    for (let k = 0; k < held; k++) {
      d8[j * R.DESC_SIZE + R.RXD_STATUS] = 0;
      if (++j === size) j = 0;
    }
    this.#rxHeld = 0;
    // The tail goes to the last descriptor software looked at: it stays out of the
    // hardware's hands (head == tail means empty), everything before it goes back. The
    // doorbell is an ordered store, after the status stores above.
    this.#bar.write32(R.RDT0, this.#rxNext === 0 ? size - 1 : this.#rxNext - 1);
  }

  /**
   * Waits until a frame is there: in interrupt mode on the receive interrupt (the process
   * sleeps), in poll mode by yielding to the event loop once. Resolves true when woken by
   * the interrupt or a frame, false on timeout. Concurrent callers share one wait.
   */
  waitRx(timeoutMs = 1000): Promise<boolean> {
    this.#check('waitRx');
    if (this.rxReady()) return Promise.resolve(true);
    if (this.#rxMode === 'poll') return new Promise((resolve) => setImmediate(() => resolve(this.rxReady())));
    if (this.#waiter) return this.#waiter.promise;
    this.#armRx();
    if (this.rxReady()) return Promise.resolve(true);
    const vector = this.#rxVector!;
    let resolve!: (woken: boolean) => void;
    const promise = new Promise<boolean>((r) => (resolve = r));
    const timer = setTimeout(() => finish(false), timeoutMs);
    const finish = (woken: boolean) => {
      if (this.#waiter?.promise !== promise) return;
      clearTimeout(timer);
      this.#waiter = null;
      if (!vector.closed) vector.unref();
      if (woken) this.#stats.rxWakeups++;
      else this.#stats.rxTimeouts++;
      resolve(woken);
    };
    vector.ref();
    this.#waiter = { promise, finish };
    return promise;
  }

  // ---- transmit ----------------------------------------------------------------------

  /** Descriptors the NIC has not finished yet. */
  get txInFlight(): number {
    this.#txReclaim();
    const d = this.#txTail - this.#txClean;
    return d < 0 ? d + this.txSize : d;
  }

  /**
   * Queues frames[start .. start+count) for transmission: each is copied into a packet
   * buffer of the transmit ring, then one TDT write (the doorbell, ordered after the
   * descriptor stores) hands the burst to the NIC. Returns how many were taken: fewer
   * than `count` when the ring is full (call again). Throws, before queueing any, when
   * the link is down or a frame does not fit a buffer.
   */
  txBurst(frames: ArrayLike<FrameLike>, count?: number, start = 0): number {
    this.#check('txBurst');
    if (!(this.#bar.read32(R.STATUS) & R.STATUS_LU)) {
      this.#linkEvent();
      throw new E1000eError('ERR_LINK_DOWN', `${this.address}: the link is down (STATUS.LU = 0); nothing was sent`);
    }
    const end = Math.min(start + (count ?? frames.length - start), frames.length);
    const max = this.bufferSize;
    for (let k = start; k < end; k++) {
      const f = frames[k]!;
      const len = f.length;
      if (len > max || len < ETH_HEADER || !Number.isInteger(len))
        throw new E1000eError(
          len > max ? 'ERR_FRAME_TOO_LARGE' : 'ERR_FRAME_TOO_SHORT',
          `${this.address}: frame ${k} is ${len} bytes; frames must be ${ETH_HEADER}-${max} bytes (the packet buffer size)`,
        );
    }
    this.#txReclaim();
    let free = this.#txClean - this.#txTail - 1;
    if (free < 0) free += this.txSize;
    const n = Math.min(end - start, free);
    if (n < end - start) this.#stats.txRingFull++;
    const d8 = this.#txD8;
    const d16 = this.#txD16;
    const size = this.txSize;
    let tail = this.#txTail;
    let bytes = 0;
    for (let k = 0; k < n; k++) {
      const f = frames[start + k]!;
      const buf = this.#txBufs[tail]!;
      let len: number;
      if (f instanceof Uint8Array) {
        len = f.length;
        buf.set(f);
      } else {
        len = f.length;
        // A short frame received by a port of this driver (forwarding) is copied as words; the
        // rest in one native copy. Neither allocates.
        const r = f as Partial<RxFrame>;
        if (len <= SHORT_COPY && r.own !== undefined && r.own === f.data) copyWords(this.#txWords[tail]!, r.words!, (len + 3) >> 2);
        else copyPrefix(buf, f.data, len);
      }
      const at = tail * R.DESC_SIZE;
      d16[(at + R.TXD_LENGTH) >> 1] = len;
      d8[at + R.TXD_STATUS] = 0;
      bytes += len;
      if (++tail === size) tail = 0;
    }
    if (n > 0) {
      this.#txTail = tail;
      this.#bar.write32(R.TDT, tail); // the doorbell: after every descriptor store above
      this.#stats.txPackets += n;
      this.#stats.txBytes += bytes;
    }
    return n;
  }

  /** Moves the clean index over descriptors the NIC wrote back (DD). */
  #txReclaim(): void {
    const d8 = this.#txD8;
    const size = this.txSize;
    let c = this.#txClean;
    while (c !== this.#txTail && d8[c * R.DESC_SIZE + R.TXD_STATUS]! & R.TXD_STAT_DD) if (++c === size) c = 0;
    this.#txClean = c;
  }

  /** Resolves once every queued frame is out (true), or false after `timeoutMs`. */
  async flushTx(timeoutMs = 1000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#closed && this.txInFlight > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 1));
    }
    return true;
  }

  // ---- statistics ----------------------------------------------------------------------

  #readHwCounters(keep: boolean): void {
    const bar = this.#bar;
    const hw = this.#stats.hw;
    // QEMU 7.2 copies TPT/TOT into GPTC/GOTC after every frame: read (and clear) those first,
    // so GPTC/GOTC hold only what was sent since the last read, as on the real part.
    const tpt = bar.read32(R.TPT);
    bar.read32(R.TOTL);
    bar.read32(R.TOTH);
    const tpr = bar.read32(R.TPR);
    const gprc = bar.read32(R.GPRC);
    const gptc = bar.read32(R.GPTC);
    const gorc = bar.read32(R.GORCL) + bar.read32(R.GORCH) * 2 ** 32; // low first: reading high clears both
    const gotc = bar.read32(R.GOTCL) + bar.read32(R.GOTCH) * 2 ** 32;
    const mpc = bar.read32(R.MPC);
    const rnbc = bar.read32(R.RNBC);
    const ruc = bar.read32(R.RUC);
    const roc = bar.read32(R.ROC);
    const crc = bar.read32(R.CRCERRS);
    const rxerr = bar.read32(R.RXERRC);
    if (!keep) return;
    hw.totalPacketsTransmitted += tpt;
    hw.totalPacketsReceived += tpr;
    hw.goodPacketsReceived += gprc;
    hw.goodPacketsTransmitted += gptc;
    hw.goodOctetsReceived += gorc;
    hw.goodOctetsTransmitted += gotc;
    hw.missedPackets += mpc;
    hw.receiveNoBuffers += rnbc;
    hw.receiveUndersize += ruc;
    hw.receiveOversize += roc;
    hw.crcErrors += crc;
    hw.receiveErrors += rxerr;
  }

  /** A snapshot of every counter; reads (and so clears) the NIC's statistics registers. */
  stats(): E1000eStats {
    if (!this.#closed) this.#readHwCounters(true);
    return { ...this.#stats, hw: { ...this.#stats.hw } };
  }

  // ---- shutdown ------------------------------------------------------------------------

  get closed(): boolean {
    return this.#closed;
  }

  #quiesce(): void {
    const bar = this.#bar;
    bar.write32(R.IMC, R.ICR_ALL);
    bar.write32(R.RCTL, 0);
    bar.write32(R.TCTL, 0);
    this.device.config.setBusMaster(false); // no DMA and no MSI from here on
  }

  /**
   * Stops the receiver and transmitter, masks interrupts and turns off bus mastering
   * (the NIC no longer touches memory), then disables the vectors and frees the DMA
   * memory. The Device stays open: close it after. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    if (!this.device.closed) {
      try {
        this.#readHwCounters(true);
        this.#quiesce();
      } catch {
        // a device that went away: still release what we hold
      }
    }
    this.#closed = true;
    this.#waiter?.finish(false);
    const errors: unknown[] = [];
    try {
      this.#irq?.disable();
    } catch (e) {
      errors.push(e);
    }
    for (const b of this.#dma) {
      try {
        b.free();
      } catch (e) {
        errors.push(e);
      }
    }
    if (errors.length) throw errors[0];
  }

  #check(op: string): void {
    if (this.#closed) throw new E1000eError('ERR_CLOSED', `${this.address}: ${op} on a closed port`);
  }
}

function setAddress(d32: Uint32Array, index: number, iova: number): void {
  d32[index * 4] = iova % 2 ** 32;
  d32[index * 4 + 1] = Math.floor(iova / 2 ** 32);
}

/**
 * Frames up to this many bytes are copied as 32-bit words in JS: for a 64-byte frame that
 * beats one native copy of the whole 2 KiB buffer by about 2x (and copying only `length`
 * bytes natively would allocate a subarray per frame).
 */
const SHORT_COPY = 256;

function copyWords(dst: Uint32Array, src: Uint32Array, words: number): void {
  for (let i = 0; i < words; i++) dst[i] = src[i]!;
}

/** Copies src[0..length) into dst without allocating. */
function copyPrefix(dst: Uint8Array, src: Uint8Array, length: number): void {
  if (src.length <= dst.length) {
    dst.set(src); // one native copy; bytes past `length` are don't-care
    return;
  }
  for (let i = 0; i < length; i++) dst[i] = src[i]!;
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, '0');
}
