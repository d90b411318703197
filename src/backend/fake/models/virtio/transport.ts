// The device side of virtio over PCI for a model: BAR4's four structures (common
// configuration, ISR, device configuration, notifications), the device status and feature
// negotiation, MSI-X vectors per queue and for configuration changes (INTx when MSI-X is
// off), and QEMU's virtio_error (DEVICE_NEEDS_RESET, the device stops until reset). The
// device type supplies its configuration bytes and what a notification does.
import {
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_RING_RESET,
  VIRTIO_F_VERSION_1,
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_PCI_ISR_CONFIG,
  VIRTIO_PCI_ISR_QUEUE,
  VIRTIO_RING_F_EVENT_IDX,
} from '../../../../uapi/virtio.js';
import type { DeviceBus } from '../../model.js';
import { CommonConfig, type CommonHost } from './common-cfg.js';
import { COMMON_OFFSET, DEVICE_OFFSET, ISR_OFFSET, NOTIFY_OFF_MULTIPLIER, NOTIFY_OFFSET, STRUCTURE_SIZE } from './layout.js';
import { DeviceQueue, VirtioDeviceError } from './split-ring.js';

const bit = (n: number): bigint => 1n << BigInt(n);

/** What a virtio device type (net, ...) plugs into the transport. */
export interface VirtioDeviceType {
  /** The device-specific configuration as it reads now (QEMU's get_config); reads past it return all ones. */
  config(): Uint8Array;
  /** A write to the device configuration (most devices ignore them with VERSION_1). */
  writeConfig?(offset: number, width: number, value: number): void;
  /** The driver notified queue `index` (the transport checked that it exists and the device works). */
  notify(index: number): void;
  /** The features negotiated changed (each driver_feature write before FEATURES_OK, as QEMU's set_features). */
  featuresChanged?(features: bigint): void;
  /** device_status changed from `old` to `status` (DRIVER_OK set, and so on); not called for reset. */
  statusChanged?(old: number, status: number): void;
  /** Device reset (status 0 or FLR): the type's own state back to power-on. */
  reset(): void;
}

/** Options of VirtioPciDevice. */
export interface VirtioPciOptions {
  /** The features offered. */
  features: bigint;
  /** Each queue's size as offered (QEMU's num_default). */
  queueSizes: readonly number[];
  /** MSI-X table size. */
  msixVectors: number;
  /** Features that make the device refuse FEATURES_OK when the driver accepts them (a test hook). */
  refuseFeatures?: bigint;
}

/**
 * The transport half of a virtio PCI model. The model owns the PCI side (config space, BARs)
 * and hands BAR4 accesses here; the device type gets notifications and reset. Anything a
 * driver does wrong lands in `report`, never in an exception out of the model.
 */
export class VirtioPciDevice implements CommonHost {
  readonly deviceFeatures: bigint;
  readonly queues: readonly DeviceQueue[];
  readonly msixVectors: number;
  readonly refuseFeatures: bigint;
  readonly common: CommonConfig;
  /** device_status. */
  status = 0;
  /** config_generation (8 bits on the bus). */
  generation = 0;
  /** The ISR status byte; reading it clears it. */
  isr = 0;
  /** The features negotiated: what the driver wrote, less what is not offered (QEMU's guest_features). */
  driverFeatures = 0n;
  /** QEMU's vdev->broken: after a virtio_error the queues are dead until reset. */
  broken = false;
  #bus: DeviceBus | null = null;
  /** Bus Master as last seen (see syncBusMaster). */
  #master = false;
  readonly #type: VirtioDeviceType;
  readonly #report: (message: string) => void;

  constructor(options: VirtioPciOptions, type: VirtioDeviceType, report: (message: string) => void) {
    this.deviceFeatures = options.features;
    this.queues = options.queueSizes.map((s) => new DeviceQueue(s));
    this.msixVectors = options.msixVectors;
    this.refuseFeatures = options.refuseFeatures ?? 0n;
    this.#type = type;
    this.#report = report;
    this.common = new CommonConfig(this);
  }

  attach(bus: DeviceBus): void {
    this.#bus = bus;
  }

  get bus(): DeviceBus | null {
    return this.#bus;
  }

  report(message: string): void {
    this.#report(message);
  }

  has(feature: number): boolean {
    return (this.driverFeatures & bit(feature)) !== 0n;
  }

  /** DRIVER_OK is set, no error stopped the device, and it may master the bus. */
  get running(): boolean {
    return this.syncBusMaster() && (this.status & VIRTIO_CONFIG_S_DRIVER_OK) !== 0 && !this.broken;
  }

  /**
   * QEMU's virtio_write_config: clearing Bus Master disables the device (no queue work) and
   * clears DRIVER_OK; setting it again enables the device (DRIVER_OK stays clear). The fake
   * kernel does not tell models about config writes, so the change is noticed at the device's
   * next access or frame. Returns whether Bus Master is on.
   */
  syncBusMaster(): boolean {
    const now = this.#bus?.busMaster === true;
    if (this.#master && !now) this.status &= ~VIRTIO_CONFIG_S_DRIVER_OK;
    this.#master = now;
    return now;
  }

  // ---- reset ---------------------------------------------------------------------

  /** QEMU's virtio_reset + virtio_pci_reset (status 0): queues, vectors, ISR, features negotiated. */
  reset(): void {
    this.status = 0;
    this.isr = 0;
    this.driverFeatures = 0n;
    this.broken = false;
    this.common.reset();
    for (const q of this.queues) q.reset();
    this.#bus?.lowerIrq();
    this.#type.reset();
  }

  /** Function level reset: also the selectors and feature words QEMU keeps across a status reset. */
  functionReset(): void {
    this.reset();
    this.common.clear();
    this.generation = 0;
  }

  // ---- status and features -------------------------------------------------------

  writeFeatures(value: bigint): void {
    if (this.status & VIRTIO_CONFIG_S_FEATURES_OK) {
      this.report('driver_feature written after FEATURES_OK: ignored');
      return;
    }
    // QEMU's virtio_set_features_nocheck: what is not offered is silently dropped.
    this.driverFeatures = value & this.deviceFeatures;
    this.#type.featuresChanged?.(this.driverFeatures);
  }

  writeStatus(value: number): void {
    if (value === 0) {
      this.reset();
      return;
    }
    const old = this.status;
    if (!(old & VIRTIO_CONFIG_S_FEATURES_OK) && value & VIRTIO_CONFIG_S_FEATURES_OK && !this.#featuresAcceptable()) return;
    this.status = value;
    for (const q of this.queues) q.eventIdx = this.has(VIRTIO_RING_F_EVENT_IDX);
    if ((old & VIRTIO_CONFIG_S_DRIVER_OK) === 0 && value & VIRTIO_CONFIG_S_DRIVER_OK) {
      if (!(value & VIRTIO_CONFIG_S_FEATURES_OK)) this.report('DRIVER_OK without FEATURES_OK');
    }
    this.#guard(() => this.#type.statusChanged?.(old, value));
  }

  /**
   * FEATURES_OK: QEMU's virtio_validate_features refuses (the status write is dropped, so
   * FEATURES_OK reads back clear) when ACCESS_PLATFORM is offered but not accepted; the
   * model also refuses `refuseFeatures`.
   */
  #featuresAcceptable(): boolean {
    const written = (BigInt(this.common.guestFeatures[1]!) << 32n) | BigInt(this.common.guestFeatures[0]!);
    const notOffered = written & ~this.deviceFeatures;
    if (notOffered) this.report(`FEATURES_OK with features not offered (0x${notOffered.toString(16)}): QEMU drops them and accepts the rest`);
    if (!this.has(VIRTIO_F_VERSION_1)) this.report('FEATURES_OK without VERSION_1 on a modern-only device (QEMU accepts it)');
    if (this.deviceFeatures & bit(VIRTIO_F_ACCESS_PLATFORM) && !this.has(VIRTIO_F_ACCESS_PLATFORM)) {
      this.report('FEATURES_OK refused: ACCESS_PLATFORM is offered and was not accepted');
      return false;
    }
    const refused = this.driverFeatures & this.refuseFeatures;
    if (refused) {
      this.report(`FEATURES_OK refused: features 0x${refused.toString(16)} are refused by this device`);
      return false;
    }
    return true;
  }

  /** queue_reset = 1: QEMU resets the queue whether or not RING_RESET was negotiated. */
  resetQueue(index: number): void {
    if (!this.has(VIRTIO_F_RING_RESET)) this.report(`queue_reset for queue ${index} without RING_RESET negotiated (QEMU resets it anyway)`);
    this.queues[index]!.resetRing();
  }

  // ---- errors --------------------------------------------------------------------

  /**
   * QEMU's virtio_error: reported, DEVICE_NEEDS_RESET set with a configuration-change
   * interrupt (VERSION_1 only), and the device stops processing queues until reset.
   */
  fail(message: string): void {
    this.report(`virtio error: ${message}; the device needs reset`);
    if (this.has(VIRTIO_F_VERSION_1)) {
      this.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
      this.notifyConfig();
    }
    this.broken = true;
  }

  /** Runs `fn`, turning a VirtioDeviceError into fail() and anything else into a report. */
  #guard(fn: () => void): void {
    try {
      fn();
    } catch (e) {
      if (e instanceof VirtioDeviceError) this.fail(e.message);
      else this.report(`internal: ${(e as Error).message}`);
    }
  }

  /** For the device type: runs queue work with the same error handling. */
  guard(fn: () => void): void {
    this.#guard(fn);
  }

  // ---- interrupts ----------------------------------------------------------------

  /** QEMU's virtio_notify_vector: MSI-X vector `vector` when MSI-X is on, else INTx following ISR bit 0. */
  #signal(vector: number): void {
    const bus = this.#bus;
    if (!bus || this.broken) return;
    if (bus.irqType === 'msix') {
      if (vector !== VIRTIO_MSI_NO_VECTOR && vector < this.msixVectors) bus.raiseIrq(vector);
    } else if (this.isr & VIRTIO_PCI_ISR_QUEUE) {
      bus.raiseIrq(0);
    }
  }

  /** A used buffer: interrupts the driver for queue `index` if its suppression allows (virtio_notify). */
  notifyQueue(index: number): void {
    const q = this.queues[index]!;
    const bus = this.#bus;
    if (!bus || !q.shouldNotify(bus)) return;
    this.isr |= VIRTIO_PCI_ISR_QUEUE;
    this.#signal(q.vector);
  }

  /**
   * A configuration change (QEMU's virtio_notify_config): only once DRIVER_OK is set; ISR
   * gets both bits (QEMU sets 0x3, so INTx, which follows bit 0, fires too), the generation
   * moves on, and the config vector fires.
   */
  notifyConfig(): void {
    if (!(this.status & VIRTIO_CONFIG_S_DRIVER_OK)) return;
    this.isr |= VIRTIO_PCI_ISR_QUEUE | VIRTIO_PCI_ISR_CONFIG;
    this.generation = (this.generation + 1) & 0xff;
    this.#signal(this.common.configVector);
  }

  // ---- BAR4 ----------------------------------------------------------------------

  read(offset: number, width: number): number {
    this.syncBusMaster();
    const page = Math.floor(offset / STRUCTURE_SIZE) * STRUCTURE_SIZE;
    const at = offset - page;
    switch (page) {
      case COMMON_OFFSET:
        return this.common.read(at, width);
      case ISR_OFFSET: {
        // Any read of the ISR structure returns and clears it, and deasserts INTx.
        const v = this.isr;
        this.isr = 0;
        this.#bus?.lowerIrq();
        return v;
      }
      case DEVICE_OFFSET: {
        const cfg = this.#type.config();
        if (at + width > cfg.length) return width >= 4 ? 0xffffffff : (1 << (8 * width)) - 1;
        let v = 0;
        for (let i = 0; i < width; i++) v |= cfg[at + i]! << (8 * i);
        return v >>> 0;
      }
      default:
        return 0; // notifications read as 0
    }
  }

  write(offset: number, width: number, value: number): void {
    const master = this.syncBusMaster();
    const page = Math.floor(offset / STRUCTURE_SIZE) * STRUCTURE_SIZE;
    const at = offset - page;
    switch (page) {
      case COMMON_OFFSET:
        return this.common.write(at, width, value);
      case DEVICE_OFFSET:
        this.#type.writeConfig?.(at, width, value);
        return;
      case NOTIFY_OFFSET: {
        const index = Math.floor(at / NOTIFY_OFF_MULTIPLIER);
        const q = this.queues[index];
        // QEMU's virtio_queue_notify: nothing for a queue that is not set up or a broken device.
        if (!q) {
          this.report(`notify for queue ${index}: the device has ${this.queues.length} queues`);
          return;
        }
        if (!q.ready || this.broken || !master) return; // QEMU: a disabled device pops nothing
        this.#guard(() => this.#type.notify(index));
        return;
      }
      default:
        return; // ISR is read-only
    }
  }
}
