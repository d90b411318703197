import { ConfigBuilder } from '../config.js';
import type { BarSpec, DeviceBus, DeviceModel } from '../model.js';

const ID = 0x010000ed;
const STATUS_COMPUTING = 0x01;
const STATUS_IRQFACT = 0x80;
const IRQ_FACT = 0x001;
const IRQ_DMA = 0x100;
const DMA_RUN = 0x1;
const DMA_TO_RAM = 0x2;
const DMA_IRQ = 0x4;
const BUF_START = 0x40000;
const BUF_SIZE = 0x1000;

/** Options of EduModel. */
export interface EduOptions {
  /** QEMU's dma_mask property: address bits the engine keeps (default 28). */
  dmaBits?: number;
  /** Time a DMA takes, like QEMU's 100 ms timer (default 10 ms: tests stay quick). */
  dmaDelayMs?: number;
}

/**
 * A model of QEMU's edu device (1234:11e8; QEMU docs/specs/edu.rst): identification
 * and liveness registers, a factorial unit that may interrupt on completion, a
 * raise/ack interrupt pair, and a DMA engine with a 4 KiB buffer whose transfers go
 * through the IOMMU. Like QEMU's: MSI when the guest enabled it, else level INTx;
 * DMA addresses masked to 28 bits; a transfer completes after `dmaDelayMs`.
 */
export class EduModel implements DeviceModel {
  readonly config = new ConfigBuilder({ vendor: 0x1234, device: 0x11e8, classCode: 0x00ff00, revision: 0x10, interruptPin: 1 })
    .msi({ log2Vectors: 0, is64: true })
    .build();
  readonly bars: readonly (BarSpec | undefined)[] = [{ size: 1 << 20 }];
  /** Transfers the engine refused (out of the device buffer) or the IOMMU faulted. */
  readonly errors: string[] = [];
  #bus!: DeviceBus;
  #liveness = 0;
  #fact = 0;
  #status = 0;
  #irqStatus = 0;
  #dma = { src: 0, dst: 0, cnt: 0, cmd: 0 };
  #buffer = new Uint8Array(BUF_SIZE);
  #mask: number;
  #delay: number;
  #timers = new Set<NodeJS.Timeout | NodeJS.Immediate>();

  constructor(options: EduOptions = {}) {
    this.#mask = 2 ** Math.min(options.dmaBits ?? 28, 53) - 1;
    this.#delay = options.dmaDelayMs ?? 10;
  }

  attach(bus: DeviceBus): void {
    this.#bus = bus;
  }

  read(bar: number, offset: number, width: 1 | 2 | 4 | 8): number | bigint {
    const v = this.#read(offset, width);
    return width === 8 ? BigInt(v) : v;
  }

  #read(offset: number, width: number): number {
    if (offset < 0x80 ? width !== 4 : width !== 4 && width !== 8) return width === 8 ? Number.MAX_SAFE_INTEGER : 0xffffffff;
    switch (offset) {
      case 0x00:
        return ID;
      case 0x04:
        return this.#liveness;
      case 0x08:
        return this.#fact;
      case 0x20:
        return this.#status;
      case 0x24:
        return this.#irqStatus;
      case 0x80:
        return this.#dma.src;
      case 0x88:
        return this.#dma.dst;
      case 0x90:
        return this.#dma.cnt;
      case 0x98:
        return this.#dma.cmd;
      default:
        return 0xffffffff;
    }
  }

  write(bar: number, offset: number, width: 1 | 2 | 4 | 8, value: number | bigint): void {
    if (offset < 0x80 ? width !== 4 : width !== 4 && width !== 8) return;
    const v = Number(BigInt.asUintN(53, BigInt(value)));
    const v32 = v >>> 0;
    switch (offset) {
      case 0x04:
        this.#liveness = ~v32 >>> 0;
        break;
      case 0x08:
        if (this.#status & STATUS_COMPUTING) break;
        this.#fact = v32;
        this.#status |= STATUS_COMPUTING;
        this.#later(() => this.#factorialDone(), 0);
        break;
      case 0x20:
        this.#status = v32 & STATUS_IRQFACT ? this.#status | STATUS_IRQFACT : this.#status & ~STATUS_IRQFACT;
        break;
      case 0x60:
        this.#raise(v32);
        break;
      case 0x64:
        this.#lower(v32);
        break;
      case 0x80:
      case 0x88:
      case 0x90:
        if (this.#dma.cmd & DMA_RUN) break;
        this.#dma[offset === 0x80 ? 'src' : offset === 0x88 ? 'dst' : 'cnt'] = v;
        break;
      case 0x98:
        if (!(v & DMA_RUN) || this.#dma.cmd & DMA_RUN) break;
        this.#dma.cmd = v;
        this.#later(() => this.#dmaDone(), this.#delay);
        break;
    }
  }

  #factorialDone(): void {
    let n = this.#fact;
    let r = 1;
    while (n > 1) r = Math.imul(r, n--) >>> 0;
    this.#fact = r;
    this.#status &= ~STATUS_COMPUTING;
    if (this.#status & STATUS_IRQFACT) this.#raise(IRQ_FACT);
  }

  // QEMU 7.2's edu_check_range wants the transfer's end strictly inside the buffer (an
  // off-by-one: a transfer reaching the last byte fails) and aborts the whole VM with
  // hw_error otherwise. The model refuses the transfer and says so instead.
  #inBuffer(addr: number, cnt: number): boolean {
    const end = addr + cnt;
    return addr >= BUF_START && addr < BUF_START + BUF_SIZE && end > addr && end < BUF_START + BUF_SIZE;
  }

  #dmaDone(): void {
    const { src, dst, cnt, cmd } = this.#dma;
    if (cmd & DMA_TO_RAM) {
      if (!this.#inBuffer(src, cnt)) this.errors.push(`DMA source 0x${src.toString(16)}+${cnt} is outside the device buffer (QEMU 7.2 would abort the VM)`);
      else if (!this.#bus.dmaWrite(this.#dmaAddr(dst), this.#buffer.slice(src - BUF_START, src - BUF_START + cnt)))
        this.errors.push(`DMA write to IOVA 0x${this.#dmaAddr(dst).toString(16)} faulted`);
    } else if (!this.#inBuffer(dst, cnt)) {
      this.errors.push(`DMA destination 0x${dst.toString(16)}+${cnt} is outside the device buffer (QEMU 7.2 would abort the VM)`);
    } else {
      const data = this.#bus.dmaRead(this.#dmaAddr(src), cnt);
      if (data) this.#buffer.set(data, dst - BUF_START);
      else this.errors.push(`DMA read from IOVA 0x${this.#dmaAddr(src).toString(16)} faulted`);
    }
    this.#dma.cmd &= ~DMA_RUN;
    if (cmd & DMA_IRQ) this.#raise(IRQ_DMA);
  }

  // `&` would cut the mask to 32 bits; addresses are safe integers, so a modulo does.
  #dmaAddr(addr: number): number {
    return addr % (this.#mask + 1);
  }

  #raise(bits: number): void {
    this.#irqStatus = (this.#irqStatus | bits) >>> 0;
    if (this.#irqStatus) this.#bus.raiseIrq(0);
  }

  #lower(bits: number): void {
    this.#irqStatus = (this.#irqStatus & ~bits) >>> 0;
    if (!this.#irqStatus) this.#bus.lowerIrq();
  }

  #later(fn: () => void, ms: number): void {
    const t = ms > 0 ? setTimeout(() => (this.#timers.delete(t), fn()), ms) : setImmediate(() => (this.#timers.delete(t), fn()));
    this.#timers.add(t);
  }

  dispose(): void {
    for (const t of this.#timers) {
      clearTimeout(t as NodeJS.Timeout);
      clearImmediate(t as NodeJS.Immediate);
    }
    this.#timers.clear();
  }
}
