/**
 * The virtio 1.x PCI transport (spec §4.1), driver side: the structures found by caps.ts,
 * reached through the device's BAR regions, and the steps of §3.1.1 "Driver Requirements:
 * Device Initialization" as methods. A device driver (src/net/virtio-net) runs them in order:
 *
 *   const t = VirtioPciTransport.open(device);        // caps, BARs; touches nothing
 *   t.reset();                                        // status 0, and wait for it to read 0
 *   t.addStatus(ACKNOWLEDGE | DRIVER);
 *   t.negotiate(wanted, required);                    // features, FEATURES_OK kept or FAILED
 *   t.setConfigVector(0); t.setupQueue(0, …); …       // MSI-X vectors, queues
 *   t.addStatus(DRIVER_OK);
 *
 * Register accesses go through Region accessors (one access of exactly the field's width,
 * ordered: an Atomics store on an mmapped BAR, pread/pwrite otherwise). The BAR regions are
 * the Device's (Device.region caches them and Device.close unmaps them), so close() only
 * drops this object's use of them.
 */
import type { Device } from '../model/device.js';
import type { Region } from '../model/region.js';
import {
  VIRTIO_CONFIG_S_FAILED,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_PCI_COMMON_CFGGENERATION,
  VIRTIO_PCI_COMMON_CFG_MIN_SIZEOF,
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
  VIRTIO_PCI_COMMON_Q_SELECT,
  VIRTIO_PCI_COMMON_Q_SIZE,
  VIRTIO_PCI_COMMON_Q_USEDHI,
  VIRTIO_PCI_COMMON_Q_USEDLO,
  VIRTIO_PCI_COMMON_STATUS,
} from '../uapi/virtio.js';
import { closedError } from '../errors.js';
import { findVirtioCaps, type VirtioCaps, type VirtioStructure } from './caps.js';
import { virtioError } from './errors.js';
import { featureNames, statusNames, virtioDeviceName, virtioDeviceType } from './names.js';

/** Sleeps the thread for `ms` without spinning (the reset wait). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const bit = (n: number): bigint => 1n << BigInt(n);

/** A queue's rings, as setupQueue writes them to the device. */
export interface QueueSetup {
  /** Entries (a power of two, at most queueMaxSize). */
  size: number;
  /** IOVA of the descriptor table. */
  desc: number;
  /** IOVA of the available (driver) ring. */
  avail: number;
  /** IOVA of the used (device) ring. */
  used: number;
  /** The MSI-X vector for its used-buffer notifications, or VIRTIO_MSI_NO_VECTOR (0xffff) for none. */
  vector?: number;
}

/** Where to notify a queue: a 16-bit write of the queue's index at `offset` of `region`. */
export interface QueueNotifier {
  /** The BAR holding the notification area. */
  readonly region: Region;
  /** The queue's notify address in that BAR. */
  readonly offset: number;
  /** The value to write: the queue's index (no NOTIFICATION_DATA). */
  readonly index: number;
}

/** A virtio 1.x PCI function's transport (see the module comment). */
export class VirtioPciTransport {
  /** The device. */
  readonly device: Device;
  /** Where its structures are. */
  readonly caps: VirtioCaps;
  /** The virtio device type (1 = net), from the PCI device id. */
  readonly deviceType: number;
  #common: Region;
  #notify: Region;
  #isr: Region;
  #cfg: Region | null;
  #closed = false;
  #features = 0n;

  /**
   * Finds the structures and takes the BARs they are in. Writes nothing to the device. Throws
   * ERR_VFIO_VIRTIO_NOT_MODERN (no modern interface, or not a virtio function at all) and
   * ERR_VFIO_VIRTIO_BAD_CAP (a structure outside its BAR).
   */
  static open(device: Device): VirtioPciTransport {
    return new VirtioPciTransport(device);
  }

  private constructor(device: Device) {
    this.device = device;
    const type = virtioDeviceType(device.config.vendorId, device.config.deviceId);
    if (type === undefined) {
      const hex4 = (n: number): string => n.toString(16).padStart(4, '0');
      throw virtioError('ERR_VFIO_VIRTIO_NOT_MODERN', 'VirtioPciTransport.open', `the device is ${hex4(device.config.vendorId)}:${hex4(device.config.deviceId)}, not a virtio PCI function (1af4:1000-107f)`, {
        device: device.address,
      });
    }
    this.deviceType = type;
    this.caps = findVirtioCaps(device);
    this.#common = this.#structure('common', this.caps.common, VIRTIO_PCI_COMMON_CFG_MIN_SIZEOF);
    this.#notify = this.#structure('notify', this.caps.notify, 2);
    this.#isr = this.#structure('ISR', this.caps.isr, 1);
    this.#cfg = this.caps.device ? this.#structure('device', this.caps.device, 0) : null;
  }

  #structure(name: string, s: VirtioStructure, min: number): Region {
    const region = this.device.region(s.bar);
    if (s.length < min || s.offset + s.length > region.size || s.offset + s.length > 2 ** 32)
      throw virtioError('ERR_VFIO_VIRTIO_BAD_CAP', 'VirtioPciTransport.open', `the ${name} structure (BAR${s.bar} +0x${s.offset.toString(16)}, ${s.length} bytes) does not fit its BAR (${region.size} bytes) or is too short (${min})`, {
        device: this.device.address,
      });
    return region;
  }

  #check(op: string): void {
    if (this.#closed) throw closedError('the virtio transport', `VirtioPciTransport.${op}`, this.device.address);
  }

  #c8(off: number): number {
    return this.#common.read8(this.caps.common.offset + off);
  }
  #c16(off: number): number {
    return this.#common.read16(this.caps.common.offset + off);
  }
  #c32(off: number): number {
    return this.#common.read32(this.caps.common.offset + off);
  }
  #w8(off: number, v: number): void {
    this.#common.write8(this.caps.common.offset + off, v);
  }
  #w16(off: number, v: number): void {
    this.#common.write16(this.caps.common.offset + off, v);
  }
  #w32(off: number, v: number): void {
    this.#common.write32(this.caps.common.offset + off, v >>> 0);
  }

  /** The device type's name ('net'). */
  get deviceName(): string {
    return virtioDeviceName(this.deviceType);
  }

  /** Queues the device has (num_queues). */
  get numQueues(): number {
    this.#check('numQueues');
    return this.#c16(VIRTIO_PCI_COMMON_NUMQ);
  }

  /** device_status, read now. */
  get status(): number {
    this.#check('status');
    return this.#c8(VIRTIO_PCI_COMMON_STATUS);
  }

  /** The device set DEVICE_NEEDS_RESET (one status read). */
  get needsReset(): boolean {
    return (this.status & VIRTIO_CONFIG_S_NEEDS_RESET) !== 0;
  }

  /** Sets `bits` in device_status (read, or, write), as §3.1.1 does step by step. */
  addStatus(bits: number): void {
    this.#check('addStatus');
    this.#w8(VIRTIO_PCI_COMMON_STATUS, (this.#c8(VIRTIO_PCI_COMMON_STATUS) | bits) & 0xff);
  }

  /** Sets FAILED: the driver gave up on the device (it stays so until a reset). */
  fail(): void {
    this.addStatus(VIRTIO_CONFIG_S_FAILED);
  }

  /**
   * Resets the device: writes 0 to device_status and waits for it to read 0 (spec §4.1.4.3.2:
   * a reset may take time), up to `timeoutMs`. The queues, features and vectors are gone
   * afterwards, and the device DMAs no more. Throws ERR_VFIO_VIRTIO_RESET_TIMEOUT.
   */
  reset(timeoutMs = 1000): void {
    this.#check('reset');
    this.#w8(VIRTIO_PCI_COMMON_STATUS, 0);
    const deadline = Date.now() + timeoutMs;
    while (this.#c8(VIRTIO_PCI_COMMON_STATUS) !== 0) {
      if (Date.now() >= deadline)
        throw virtioError('ERR_VFIO_VIRTIO_RESET_TIMEOUT', 'VirtioPciTransport.reset', `device_status did not read 0 within ${timeoutMs} ms of the reset`, {
          device: this.device.address,
          hint: 'the device may have gone away (a status of 0xff reads so); a function reset (Device.reset) may help',
        });
      sleepSync(1);
    }
    this.#features = 0n;
  }

  /** The 64 feature bits the device offers (two selected 32-bit reads; harmless at any time). */
  deviceFeatures(): bigint {
    this.#check('deviceFeatures');
    this.#w32(VIRTIO_PCI_COMMON_DFSELECT, 0);
    const lo = this.#c32(VIRTIO_PCI_COMMON_DF);
    this.#w32(VIRTIO_PCI_COMMON_DFSELECT, 1);
    const hi = this.#c32(VIRTIO_PCI_COMMON_DF);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** The features the driver wrote and the device kept (0 before negotiate). */
  get driverFeatures(): bigint {
    return this.#features;
  }

  /** Whether feature bit `n` was negotiated. */
  hasFeature(n: number): boolean {
    return (this.#features & bit(n)) !== 0n;
  }

  /**
   * Feature negotiation (§3.1.1 steps 4-6): takes `wanted` ∩ offered, refuses when a bit of
   * `required` is not offered, writes the result, sets FEATURES_OK and reads it back. Returns
   * the negotiated bits. Throws ERR_VFIO_VIRTIO_FEATURES (after setting FAILED) when a
   * required bit is missing or the device did not keep FEATURES_OK. Call after ACKNOWLEDGE
   * and DRIVER.
   */
  negotiate(wanted: bigint, required: bigint): bigint {
    this.#check('negotiate');
    const offered = this.deviceFeatures();
    const missing = required & ~offered;
    const op = 'VirtioPciTransport.negotiate';
    const device = this.device.address;
    if (missing) {
      this.fail();
      throw virtioError('ERR_VFIO_VIRTIO_FEATURES', op, `the device does not offer ${featureNames(missing, this.deviceType).join(', ')}, which this driver requires`, {
        device,
        hint: required & bit(33)
          ? 'behind an IOMMU the device must translate its DMA through it: VIRTIO_F_ACCESS_PLATFORM (QEMU: iommu_platform=on on the device)'
          : 'use a virtio 1.x (modern or transitional) device',
      });
    }
    const features = wanted & offered;
    this.#w32(VIRTIO_PCI_COMMON_GFSELECT, 0);
    this.#w32(VIRTIO_PCI_COMMON_GF, Number(features & 0xffffffffn));
    this.#w32(VIRTIO_PCI_COMMON_GFSELECT, 1);
    this.#w32(VIRTIO_PCI_COMMON_GF, Number(features >> 32n));
    this.addStatus(VIRTIO_CONFIG_S_FEATURES_OK);
    const status = this.status;
    if ((status & VIRTIO_CONFIG_S_FEATURES_OK) === 0) {
      this.fail();
      throw virtioError('ERR_VFIO_VIRTIO_FEATURES', op, `the device did not keep FEATURES_OK (status ${statusNames(status)}): it refuses the features ${featureNames(features, this.deviceType).join(', ')}`, {
        device,
        hint: 'the device status is FAILED; reset it (or reopen the port) before trying again with fewer features',
      });
    }
    this.#features = features;
    return features;
  }

  /**
   * Sets config_msix_vector (config-change interrupts) and reads it back; VIRTIO_MSI_NO_VECTOR
   * turns them off. Throws ERR_VFIO_VIRTIO_NO_VECTOR when the device refuses the vector.
   */
  setConfigVector(vector: number): void {
    this.#check('setConfigVector');
    this.#w16(VIRTIO_PCI_COMMON_MSIX, vector);
    const got = this.#c16(VIRTIO_PCI_COMMON_MSIX);
    if (got !== vector) throw this.#noVector('config changes', vector);
  }

  #noVector(what: string, vector: number) {
    return virtioError('ERR_VFIO_VIRTIO_NO_VECTOR', 'VirtioPciTransport', `the device refused MSI-X vector ${vector} for ${what} (read back NO_VECTOR)`, {
      device: this.device.address,
      hint: 'the device has fewer MSI-X vectors than asked for; enable MSI-X (Device.enableInterrupts) before assigning vectors',
    });
  }

  /** The largest size queue `index` offers (queue_size after selecting it); 0: no such queue. */
  queueMaxSize(index: number): number {
    this.#check('queueMaxSize');
    if (index >= this.#c16(VIRTIO_PCI_COMMON_NUMQ)) return 0;
    this.#w16(VIRTIO_PCI_COMMON_Q_SELECT, index);
    return this.#c16(VIRTIO_PCI_COMMON_Q_SIZE);
  }

  /**
   * Sets queue `index` up (§4.1.5.1.3): size, ring addresses, MSI-X vector (read back), then
   * queue_enable = 1. Returns where to notify it. Throws ERR_VFIO_VIRTIO_QUEUE_SIZE for a
   * queue the device lacks or a size it does not offer, ERR_VFIO_VIRTIO_NO_VECTOR for a
   * vector it refuses.
   */
  setupQueue(index: number, q: QueueSetup): QueueNotifier {
    this.#check('setupQueue');
    const max = this.queueMaxSize(index);
    if (max === 0 || q.size > max || (q.size & (q.size - 1)) !== 0 || q.size < 1)
      throw virtioError('ERR_VFIO_VIRTIO_QUEUE_SIZE', 'VirtioPciTransport.setupQueue', max === 0 ? `the device has no queue ${index}` : `queue ${index}: ${q.size} entries asked, the device offers at most ${max} (a power of two)`, {
        device: this.device.address,
        hint: max === 0 ? undefined : `ask for a power of two up to ${max} (QEMU: rx_queue_size/tx_queue_size raise it, up to 1024)`,
      });
    this.#w16(VIRTIO_PCI_COMMON_Q_SELECT, index);
    this.#w16(VIRTIO_PCI_COMMON_Q_SIZE, q.size);
    const lo = (a: number): number => a % 2 ** 32;
    const hi = (a: number): number => Math.floor(a / 2 ** 32);
    this.#w32(VIRTIO_PCI_COMMON_Q_DESCLO, lo(q.desc));
    this.#w32(VIRTIO_PCI_COMMON_Q_DESCHI, hi(q.desc));
    this.#w32(VIRTIO_PCI_COMMON_Q_AVAILLO, lo(q.avail));
    this.#w32(VIRTIO_PCI_COMMON_Q_AVAILHI, hi(q.avail));
    this.#w32(VIRTIO_PCI_COMMON_Q_USEDLO, lo(q.used));
    this.#w32(VIRTIO_PCI_COMMON_Q_USEDHI, hi(q.used));
    const vector = q.vector ?? VIRTIO_MSI_NO_VECTOR;
    this.#w16(VIRTIO_PCI_COMMON_Q_MSIX, vector);
    if (this.#c16(VIRTIO_PCI_COMMON_Q_MSIX) !== vector) throw this.#noVector(`queue ${index}`, vector);
    const off = this.#c16(VIRTIO_PCI_COMMON_Q_NOFF) * this.caps.notifyOffMultiplier;
    if (off + 2 > this.caps.notify.length)
      throw virtioError('ERR_VFIO_VIRTIO_BAD_CAP', 'VirtioPciTransport.setupQueue', `queue ${index}'s notify address (+0x${off.toString(16)}) is outside the ${this.caps.notify.length}-byte notify structure`, {
        device: this.device.address,
      });
    this.#w16(VIRTIO_PCI_COMMON_Q_ENABLE, 1);
    return { region: this.#notify, offset: this.caps.notify.offset + off, index };
  }

  /** Notifies queue `n` (one 16-bit MMIO write); the queue's kick() does this when needed. */
  notify(n: QueueNotifier): void {
    n.region.write16(n.offset, n.index);
  }

  /** Reads (and so clears) the ISR status byte: bit 0 a queue, bit 1 a configuration change. */
  readIsr(): number {
    this.#check('readIsr');
    return this.#isr.read8(this.caps.isr.offset);
  }

  /**
   * Reads device-specific configuration consistently (§4.1.4.3): runs `read` until
   * config_generation is the same before and after it (a multi-field read can otherwise mix
   * two versions). `read` gets 8/16/32-bit readers at offsets of the device structure.
   * Throws a RangeError when the device has no such structure or the offset is outside it.
   */
  readConfig<T>(read: (r: { u8(off: number): number; u16(off: number): number; u32(off: number): number }) => T): T {
    this.#check('readConfig');
    const cfg = this.#cfg;
    const s = this.caps.device;
    if (!cfg || !s) throw new RangeError('VirtioPciTransport.readConfig: the device has no device-specific configuration structure');
    const at = (off: number, w: number): number => {
      if (off < 0 || off + w > s.length) throw new RangeError(`VirtioPciTransport.readConfig: offset ${off} (+${w}) is outside the ${s.length}-byte device configuration`);
      return s.offset + off;
    };
    const r = { u8: (o: number) => cfg.read8(at(o, 1)), u16: (o: number) => cfg.read16(at(o, 2)), u32: (o: number) => cfg.read32(at(o, 4)) };
    for (;;) {
      const before = this.#c8(VIRTIO_PCI_COMMON_CFGGENERATION);
      const value = read(r);
      if (this.#c8(VIRTIO_PCI_COMMON_CFGGENERATION) === before) return value;
    }
  }

  /** Bytes of device-specific configuration (0 when there is none). */
  get configLength(): number {
    return this.caps.device?.length ?? 0;
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Drops this object's use of the BARs (they are the Device's: Device.close unmaps them).
   * Does not reset the device: call reset() first to stop it. Idempotent.
   */
  close(): void {
    this.#closed = true;
  }
}
