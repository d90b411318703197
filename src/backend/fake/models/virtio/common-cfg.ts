// The common configuration structure (struct virtio_pci_common_cfg) as a register file, with
// QEMU 7.2's virtio_pci_common_read/write semantics: each access is dispatched on its offset
// alone (a 4-byte read at device_status returns just the status), unknown offsets read 0 and
// ignore writes, and out-of-range values are clamped the way QEMU does rather than refused.
import {
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_PCI_COMMON_CFGGENERATION,
  VIRTIO_PCI_COMMON_DF,
  VIRTIO_PCI_COMMON_DFSELECT,
  VIRTIO_PCI_COMMON_GF,
  VIRTIO_PCI_COMMON_GFSELECT,
  VIRTIO_PCI_COMMON_MSIX,
  VIRTIO_PCI_COMMON_NUMQ,
  VIRTIO_PCI_COMMON_Q_AVAILHI,
  VIRTIO_PCI_COMMON_Q_AVAILLO,
  VIRTIO_PCI_COMMON_Q_DESCHI,
  VIRTIO_PCI_COMMON_Q_DESCLO,
  VIRTIO_PCI_COMMON_Q_ENABLE,
  VIRTIO_PCI_COMMON_Q_MSIX,
  VIRTIO_PCI_COMMON_Q_NOFF,
  VIRTIO_PCI_COMMON_Q_RESET,
  VIRTIO_PCI_COMMON_Q_SELECT,
  VIRTIO_PCI_COMMON_Q_SIZE,
  VIRTIO_PCI_COMMON_Q_USEDHI,
  VIRTIO_PCI_COMMON_Q_USEDLO,
  VIRTIO_PCI_COMMON_STATUS,
} from '../../../../uapi/virtio.js';
import { QEMU_VIRTIO_QUEUE_MAX } from './layout.js';
import type { DeviceQueue } from './split-ring.js';

/** What the register file needs of the device around it. */
export interface CommonHost {
  /** The features the device offers (device_feature). */
  readonly deviceFeatures: bigint;
  /** The device's queues; queue_select beyond them reads size 0. */
  readonly queues: readonly DeviceQueue[];
  /** MSI-X table size: a vector at or beyond it reads back as NO_VECTOR (QEMU's msix_vector_use failing). */
  readonly msixVectors: number;
  /** device_status as the device holds it. */
  readonly status: number;
  /** config_generation. */
  readonly generation: number;
  /** The driver wrote device_status. */
  writeStatus(value: number): void;
  /** The driver wrote driver_feature (the 64 bits as they stand now). */
  writeFeatures(value: bigint): void;
  /** queue_reset = 1 for a queue (RING_RESET). */
  resetQueue(index: number): void;
  /** Something to record in the model's errors. */
  report(message: string): void;
  /** What QEMU answers with virtio_error: DEVICE_NEEDS_RESET, the device stops. */
  fail(message: string): void;
}

/** The registers of struct virtio_pci_common_cfg that are not the device's status or a queue's. */
export class CommonConfig {
  readonly #host: CommonHost;
  dfselect = 0;
  gfselect = 0;
  /** driver_feature as written, per select (QEMU keeps the raw words, also across reset). */
  readonly guestFeatures = new Uint32Array(2);
  queueSelect = 0;
  configVector = VIRTIO_MSI_NO_VECTOR;

  constructor(host: CommonHost) {
    this.#host = host;
  }

  /** Device reset (status 0): QEMU's virtio_reset clears queue_select and the config vector, not the feature words. */
  reset(): void {
    this.queueSelect = 0;
    this.configVector = VIRTIO_MSI_NO_VECTOR;
  }

  /** Function reset (FLR): everything. */
  clear(): void {
    this.reset();
    this.dfselect = this.gfselect = 0;
    this.guestFeatures.fill(0);
  }

  #queue(): DeviceQueue | undefined {
    return this.#host.queues[this.queueSelect];
  }

  #vector(v: number): number {
    return v < this.#host.msixVectors ? v : VIRTIO_MSI_NO_VECTOR;
  }

  read(offset: number, width: number): number {
    const mask = width >= 4 ? 0xffffffff : (1 << (8 * width)) - 1;
    return (this.#read(offset) & mask) >>> 0;
  }

  #read(offset: number): number {
    const h = this.#host;
    const q = this.#queue();
    switch (offset) {
      case VIRTIO_PCI_COMMON_DFSELECT:
        return this.dfselect;
      case VIRTIO_PCI_COMMON_DF:
        return this.dfselect <= 1 ? Number(BigInt.asUintN(32, h.deviceFeatures >> BigInt(32 * this.dfselect))) : 0;
      case VIRTIO_PCI_COMMON_GFSELECT:
        return this.gfselect;
      case VIRTIO_PCI_COMMON_GF:
        return this.gfselect <= 1 ? this.guestFeatures[this.gfselect]! : 0;
      case VIRTIO_PCI_COMMON_MSIX:
        return this.configVector;
      case VIRTIO_PCI_COMMON_NUMQ:
        return h.queues.length;
      case VIRTIO_PCI_COMMON_STATUS:
        return h.status;
      case VIRTIO_PCI_COMMON_CFGGENERATION:
        return h.generation & 0xff;
      case VIRTIO_PCI_COMMON_Q_SELECT:
        return this.queueSelect;
      case VIRTIO_PCI_COMMON_Q_SIZE:
        return q?.size ?? 0;
      case VIRTIO_PCI_COMMON_Q_MSIX:
        return q?.vector ?? VIRTIO_MSI_NO_VECTOR;
      case VIRTIO_PCI_COMMON_Q_ENABLE:
        return q?.enabled ? 1 : 0;
      case VIRTIO_PCI_COMMON_Q_NOFF:
        return this.queueSelect; // QEMU: queue n is notified at n * multiplier
      case VIRTIO_PCI_COMMON_Q_DESCLO:
        return lo(q?.desc);
      case VIRTIO_PCI_COMMON_Q_DESCHI:
        return hi(q?.desc);
      case VIRTIO_PCI_COMMON_Q_AVAILLO:
        return lo(q?.avail);
      case VIRTIO_PCI_COMMON_Q_AVAILHI:
        return hi(q?.avail);
      case VIRTIO_PCI_COMMON_Q_USEDLO:
        return lo(q?.used);
      case VIRTIO_PCI_COMMON_Q_USEDHI:
        return hi(q?.used);
      case VIRTIO_PCI_COMMON_Q_RESET:
        return 0; // QEMU resets the queue within the write: never seen in progress
      default:
        return 0;
    }
  }

  write(offset: number, width: number, value: number): void {
    const h = this.#host;
    const q = this.#queue();
    const v = value >>> 0;
    switch (offset) {
      case VIRTIO_PCI_COMMON_DFSELECT:
        this.dfselect = v;
        return;
      case VIRTIO_PCI_COMMON_GFSELECT:
        this.gfselect = v;
        return;
      case VIRTIO_PCI_COMMON_GF:
        if (this.gfselect > 1) return;
        this.guestFeatures[this.gfselect] = v;
        h.writeFeatures((BigInt(this.guestFeatures[1]!) << 32n) | BigInt(this.guestFeatures[0]!));
        return;
      case VIRTIO_PCI_COMMON_MSIX:
        if (v !== VIRTIO_MSI_NO_VECTOR && v >= h.msixVectors) h.report(`config_msix_vector ${v}: the device has ${h.msixVectors} MSI-X vectors; reads back as NO_VECTOR`);
        this.configVector = this.#vector(v & 0xffff);
        return;
      case VIRTIO_PCI_COMMON_STATUS:
        h.writeStatus(v & 0xff);
        return;
      case VIRTIO_PCI_COMMON_Q_SELECT:
        if (v < QEMU_VIRTIO_QUEUE_MAX) this.queueSelect = v & 0xffff;
        return;
      case VIRTIO_PCI_COMMON_Q_SIZE:
        if (!q) return;
        // QEMU's virtio_queue_set_num: any non-zero size up to 1024 is taken (even one larger
        // than offered, or not a power of two, which the spec forbids for split rings).
        if (v === 0 || v > QEMU_VIRTIO_QUEUE_MAX) {
          h.report(`queue_size ${v} for queue ${this.queueSelect}: ignored (QEMU takes 1..${QEMU_VIRTIO_QUEUE_MAX})`);
          return;
        }
        if (v > q.maxSize || (v & (v - 1)) !== 0) h.report(`queue_size ${v} for queue ${this.queueSelect}: not a power of two at most ${q.maxSize}, as the spec requires (QEMU takes it)`);
        q.size = v;
        return;
      case VIRTIO_PCI_COMMON_Q_MSIX:
        if (v !== VIRTIO_MSI_NO_VECTOR && v >= h.msixVectors) h.report(`queue_msix_vector ${v} for queue ${this.queueSelect}: the device has ${h.msixVectors} MSI-X vectors; reads back as NO_VECTOR`);
        if (q) q.vector = this.#vector(v & 0xffff);
        return;
      case VIRTIO_PCI_COMMON_Q_ENABLE:
        if (!q) return;
        // QEMU: anything but 1 is "wrong value for queue_enable" (virtio_error).
        if (v === 1) q.enable();
        else h.fail(`wrong value for queue_enable ${v.toString(16)} (queue ${this.queueSelect})`);
        return;
      case VIRTIO_PCI_COMMON_Q_DESCLO:
        if (q) q.desc = setLo(q.desc, v);
        return;
      case VIRTIO_PCI_COMMON_Q_DESCHI:
        if (q) q.desc = setHi(q.desc, v);
        return;
      case VIRTIO_PCI_COMMON_Q_AVAILLO:
        if (q) q.avail = setLo(q.avail, v);
        return;
      case VIRTIO_PCI_COMMON_Q_AVAILHI:
        if (q) q.avail = setHi(q.avail, v);
        return;
      case VIRTIO_PCI_COMMON_Q_USEDLO:
        if (q) q.used = setLo(q.used, v);
        return;
      case VIRTIO_PCI_COMMON_Q_USEDHI:
        if (q) q.used = setHi(q.used, v);
        return;
      case VIRTIO_PCI_COMMON_Q_RESET:
        if (v === 1 && q) h.resetQueue(this.queueSelect);
        return;
      default:
        // device_feature, num_queues, config_generation, queue_notify_off: read-only.
        return;
    }
  }
}

function lo(a: number | undefined): number {
  return (a ?? 0) % 2 ** 32;
}
function hi(a: number | undefined): number {
  return Math.floor((a ?? 0) / 2 ** 32);
}
function setLo(a: number, v: number): number {
  return hi(a) * 2 ** 32 + v;
}
function setHi(a: number, v: number): number {
  // IOVAs above 2^53 cannot be held exactly; the high word keeps 21 bits.
  return (v & 0x1fffff) * 2 ** 32 + lo(a);
}
