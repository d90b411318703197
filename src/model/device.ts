import { EventEmitter } from 'node:events';
import { VfioError, closeSteps, closedError, syscall, withContext } from '../errors.js';
import type { FdHandle } from '../backend/backend.js';
import type { DmaOptions, IommuApi } from './dma-space.js';
import type { DeviceHost, KnownDeviceHost } from './device-host.js';
import { VFIO_PCI_HOT_RESET_FLAG_DEV_ID } from '../uapi/iommufd.js';
import type { DmaBuffer } from './dma.js';
import { Region, regionName } from './region.js';
import { queryWithCaps } from './query.js';
import { ConfigSpace } from './config.js';
import { IRQ_INDEX, InterruptSet, type IrqIndexName, type IrqKind } from './interrupts.js';
import {
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_DEVICE_RESET,
} from '../uapi/ioctl.js';
import { VFIO_DEVICE_FEATURE } from '../uapi/ioctl.js';
import { encodeSetVfToken, uuidBytes } from '../uapi/vfio-feature.js';
import { VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_RESET, decodeDeviceInfo, encodeDeviceInfoQuery, type DeviceInfo } from '../uapi/vfio-device.js';
import { decodeRegionInfo, encodeRegionInfoQuery, type RegionInfo } from '../uapi/vfio-region.js';
import { decodeIrqInfo, encodeIrqInfoQuery, type IrqInfo } from '../uapi/vfio-irq.js';
import {
  VFIO_PCI_CONFIG_REGION_INDEX,
  decodeHotResetInfo,
  encodeHotReset,
  encodeHotResetInfoQuery,
} from '../uapi/vfio-pci.js';

/**
 * The events a Device emits (Node EventEmitter), each without arguments. Both come from
 * kernel notifiers armed at open when the device offers them; unheard, they become process
 * warnings (VFIO_RELEASE_REQUEST, VFIO_PCI_ERROR). The notifiers are unref'd: listening
 * for these does not keep the process alive (a device alone never pins the process; an
 * armed InterruptVector does).
 */
export interface DeviceEvents {
  /**
   * The kernel asks for the device back (someone is unbinding or removing it from
   * vfio-pci); the unbind waits until it is closed. Call close() from the handler (it
   * succeeds on every interface, DMA buffers mapped or not), or the kernel keeps asking.
   */
  'release-request': [];
  /** A PCIe error was reported for the device (AER); the driver decides how to recover. */
  'pci-error': [];
}

/**
 * A VFIO PCI device: its regions (BARs, config space), interrupts and reset. It was opened
 * through a DeviceHost (a group in a container, or an iommufd context), which answers
 * `group`, `container` and `context`; the type argument says which host that was.
 */
export class Device<H extends DeviceHost = KnownDeviceHost> extends EventEmitter<DeviceEvents> {
  /** Its PCI address in full form, `0000:00:03.0`. */
  readonly address: string;
  /** VFIO_DEVICE_GET_INFO as read at open: flags, number of regions and of IRQ indexes. */
  readonly info: DeviceInfo;
  /** The PCI configuration space (through the kernel, which virtualizes parts of it). */
  readonly config: ConfigSpace;
  #file: FdHandle;
  #closed = false;
  #regions = new Map<number, Region>();
  #irqs: InterruptSet | null = null;
  #notifiers: InterruptSet[] = [];
  #ownsContext = false;
  readonly #host: H;
  readonly #onClose: () => void;

  /**
   * @internal use openDevice(), Container.openDevice or IommufdContext.openDevice; `onClose`
   * lets the host stop counting the device.
   */
  constructor(host: H, address: string, file: FdHandle, onClose: () => void) {
    super();
    this.#host = host;
    this.#onClose = onClose;
    this.address = address;
    this.#file = file;
    this.info = this.#deviceInfo();
    if ((this.info.flags & VFIO_DEVICE_FLAGS_PCI) === 0) {
      throw new VfioError({
        code: 'ERR_VFIO_NOT_PCI',
        op: 'VFIO_DEVICE_GET_INFO',
        device: address,
        message: 'this is not a vfio-pci device',
      });
    }
    this.config = new ConfigSpace(this.region(VFIO_PCI_CONFIG_REGION_INDEX));
    this.#armNotifier('req', 'release-request');
    this.#armNotifier('err', 'pci-error');
  }

  /**
   * Arms a notifier on an unref'd eventfd (it does not keep the process alive). A kernel
   * or device without it is not an error: the notifier is simply absent.
   */
  #armNotifier(kind: 'req' | 'err', event: keyof DeviceEvents): void {
    let count = 0;
    try {
      count = this.irqInfo(kind).count;
    } catch {
      return;
    }
    if (count === 0) return;
    const set = new InterruptSet(this.#host.backend, this.#file, this.address, kind, 1, () => {});
    set.vector.unref();
    // A notifier nobody armed by hand must not end the process: its poll failure is a warning.
    set.vector.on('error', (e) => process.emitWarning(`${e.message} (the ${event} notifier of ${this.address})`, { code: 'VFIO_NOTIFIER_ERROR' }));
    set.vector.on('interrupt', () => {
      if (this.listenerCount(event) > 0) this.emit(event);
      else if (event === 'release-request')
        process.emitWarning(
          `the kernel asks to release ${this.address} (it is being unbound from vfio-pci); ` +
            "listen for 'release-request' on the Device and close() it",
          { code: 'VFIO_RELEASE_REQUEST' },
        );
      else process.emitWarning(`a PCIe error was reported for ${this.address}; listen for 'pci-error' on the Device`, { code: 'VFIO_PCI_ERROR' });
    });
    this.#notifiers.push(set);
  }

  /** The group the device was opened through; null for a device opened through its cdev (iommufd). */
  get group(): H['group'] {
    return this.#host.group;
  }

  /** The legacy container; a VfioError (ERR_VFIO_NOT_CONTAINER) for a device opened through iommufd (see `context`). */
  get container(): ReturnType<H['container']> {
    return this.#host.container(this.address) as ReturnType<H['container']>;
  }

  /** The address space its DMA buffers live in: a Container or an IommufdContext. */
  get context(): H['context'] {
    return this.#host.context;
  }

  /** The kernel interface its DMA goes through: 'container', 'iommufd', or 'noiommu' (untranslated). */
  get iommuApi(): IommuApi {
    return this.context.api ?? 'container';
  }

  /** False in no-IOMMU mode: DMA addresses are physical and nothing confines the device. */
  get dmaTranslated(): boolean {
    return this.context.dmaTranslated;
  }

  /** The VFIO device fd's number, for structs that carry one; a VfioError (ERR_VFIO_CLOSED) after close(). */
  get fd(): number {
    if (this.#closed) throw closedError(`device ${this.address}`, 'Device.fd', this.address);
    return this.#file.fd;
  }

  /**
   * The device's backend handle, for Backend calls of your own (`backend.ioctl(dev.file, …)`);
   * a VfioError (ERR_VFIO_CLOSED) after close().
   */
  get file(): FdHandle {
    if (this.#closed) throw closedError(`device ${this.address}`, 'Device.file', this.address);
    return this.#file;
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#closed;
  }

  /** VFIO_DEVICE_RESET is offered (FLR, PM or bus reset the kernel can do alone). */
  get canReset(): boolean {
    return (this.info.flags & VFIO_DEVICE_FLAGS_RESET) !== 0;
  }

  #ioctl(op: string, request: number, arg?: Uint8Array, hint?: (code: string) => string | undefined): number {
    const file = this.file;
    const backend = this.#host.backend;
    return syscall(op, { device: this.address, ...(hint && { hint }) }, () => backend.ioctl(file, request, arg));
  }

  #deviceInfo(): DeviceInfo {
    return queryWithCaps(encodeDeviceInfoQuery, decodeDeviceInfo, (bytes) =>
      this.#ioctl('VFIO_DEVICE_GET_INFO', VFIO_DEVICE_GET_INFO, bytes),
    );
  }

  /**
   * VFIO_DEVICE_GET_REGION_INFO with its capability chain, asked afresh on each call.
   * A RangeError if `index` is not below `info.numRegions`; a VfioError if the kernel refuses.
   */
  regionInfo(index: number): RegionInfo {
    if (!Number.isInteger(index) || index < 0 || index >= this.info.numRegions)
      throw new RangeError(`Device.regionInfo: index ${index} is outside [0, ${this.info.numRegions})`);
    const op = `VFIO_DEVICE_GET_REGION_INFO (${regionName(index)})`;
    return queryWithCaps(
      (argsz) => encodeRegionInfoQuery(index, argsz),
      decodeRegionInfo,
      (bytes) => this.#ioctl(op, VFIO_DEVICE_GET_REGION_INFO, bytes),
    );
  }

  /**
   * A region by VFIO index, mmapped where the kernel allows (sparse areas
   * honoured). The same object is returned until close().
   */
  region(index: number): Region {
    this.file;
    let r = this.#regions.get(index);
    if (!r) {
      const info = this.regionInfo(index);
      r = new Region(this.#host.backend, this.#file, this.address, regionName(index), info, index !== VFIO_PCI_CONFIG_REGION_INDEX);
      this.#regions.set(index, r);
    }
    return r;
  }

  /**
   * BAR n (0–5), as region(n). A RangeError for n outside 0–5; a VfioError
   * (ERR_VFIO_NO_REGION) if the device does not implement it.
   */
  bar(n: number): Region {
    if (!Number.isInteger(n) || n < 0 || n > 5) throw new RangeError(`Device.bar: BAR index must be 0–5, got ${n}`);
    const r = this.region(n);
    if (r.size === 0)
      throw new VfioError({ code: 'ERR_VFIO_NO_REGION', op: `Device.bar(${n})`, device: this.address, message: `BAR${n} is not implemented by this device` });
    return r;
  }

  /**
   * VFIO_DEVICE_GET_IRQ_INFO for an IRQ index, by name ('msix', 'req', …) or VFIO index:
   * how many vectors it has (0: not offered) and its flags. A RangeError for an index the
   * device does not have.
   */
  irqInfo(kind: IrqIndexName | number): IrqInfo {
    const index = typeof kind === 'number' ? kind : IRQ_INDEX[kind];
    if (index === undefined || !Number.isInteger(index) || index < 0 || index >= this.info.numIrqs)
      throw new RangeError(`Device.irqInfo: ${String(kind)} is not an IRQ index of this device (0–${this.info.numIrqs - 1})`);
    const bytes = encodeIrqInfoQuery(index);
    this.#ioctl('VFIO_DEVICE_GET_IRQ_INFO', VFIO_DEVICE_GET_IRQ_INFO, bytes);
    return decodeIrqInfo(bytes);
  }

  /**
   * Arms `count` vectors of INTx, MSI or MSI-X with eventfds. One kind at a time:
   * disable the current set before enabling another. 'auto' takes the best the device
   * offers, MSI-X, then MSI, then INTx, with up to `count` vectors (check `.kind` and
   * `.vectors.length`).
   *
   * Throws a VfioError: EBUSY while another set is enabled, EINVAL when `count` exceeds what
   * the device offers, ERR_VFIO_NO_IRQ when 'auto' finds nothing that can be enabled, or
   * the kernel's errno from VFIO_DEVICE_SET_IRQS.
   */
  enableInterrupts(kind: IrqKind | 'auto', count = 1): InterruptSet {
    if (kind !== 'auto' && kind !== 'intx' && kind !== 'msi' && kind !== 'msix')
      throw new TypeError(`enableInterrupts: kind must be 'intx', 'msi', 'msix' or 'auto', got ${String(kind)}`);
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`enableInterrupts: count must be a positive integer, got ${count}`);
    if (this.#irqs && !this.#irqs.disabled)
      throw new VfioError({
        code: 'EBUSY',
        op: `enableInterrupts(${kind})`,
        device: this.address,
        message: `${this.#irqs.kind} interrupts are enabled`,
        hint: 'call disable() on the current InterruptSet first',
      });
    if (kind === 'auto') return this.#enableBest(count);
    const info = this.irqInfo(kind);
    if (count > info.count)
      throw new VfioError({
        code: 'EINVAL',
        op: `enableInterrupts(${kind})`,
        device: this.address,
        message: `${count} vectors asked, the device offers ${info.count}`,
      });
    return this.#enable(kind, count);
  }

  #enable(kind: IrqKind, count: number): InterruptSet {
    const set = new InterruptSet(this.#host.backend, this.file, this.address, kind, count, () => {
      if (this.#irqs === set) this.#irqs = null;
    });
    this.#irqs = set;
    return set;
  }

  #enableBest(count: number): InterruptSet {
    const failures: unknown[] = [];
    for (const kind of ['msix', 'msi', 'intx'] as const) {
      const offered = this.irqInfo(kind).count;
      if (offered === 0) continue;
      try {
        return this.#enable(kind, Math.min(count, offered));
      } catch (e) {
        failures.push(e);
      }
    }
    throw new VfioError({
      code: 'ERR_VFIO_NO_IRQ',
      op: 'enableInterrupts(auto)',
      device: this.address,
      message: failures.length ? 'no interrupt type could be enabled' : 'the device offers no MSI-X, MSI or INTx',
      ...(failures.length && { cause: failures[failures.length - 1] }),
    });
  }

  /** The InterruptSet enabled by enableInterrupts(), or null while none is. */
  get interrupts(): InterruptSet | null {
    return this.#irqs;
  }

  /**
   * Resets the device alone (VFIO_DEVICE_RESET: FLR, PM or bus reset as the kernel chooses).
   * A VfioError (ENOTTY, EINVAL or EAGAIN, with a hint) when it has no such reset; see
   * `canReset` and hotReset().
   */
  reset(): void {
    this.#ioctl('VFIO_DEVICE_RESET', VFIO_DEVICE_RESET, undefined, (code) =>
      code === 'EAGAIN'
        ? 'the reset needs a lock another user of its slot or bus holds (e.g. a device there is being reset or opened); try again'
        : code === 'ENOTTY' || code === 'EINVAL'
        ? `the kernel has no reset of this device alone (canReset: ${this.canReset}: no FLR, PM or bus reset that touches only it); ` +
          'a slot or bus reset may still work: hotReset(), once every device hotResetInfo() lists is open here'
        : undefined,
    );
  }

  /**
   * Sets the SR-IOV VF token of this PF (VFIO_DEVICE_FEATURE, PCI_VF_TOKEN): the UUID every
   * opener of its VFs must then present (`openDevice(vf, { vfToken })`) while vfio-pci drives
   * this PF. vfio-pci gives a PF it binds a random token nobody knows, so the PF's owner sets
   * one to share VFs; setting it again changes it for later opens. A TypeError for a token that
   * is not a UUID string; a VfioError ERR_VFIO_NOT_SRIOV (errno ENOTTY) when the device is no
   * SR-IOV PF (or is a VF), or the kernel's errno with a hint.
   */
  setVfToken(uuid: string): void {
    const bytes = typeof uuid === 'string' ? uuidBytes(uuid) : null;
    if (bytes === null)
      throw new TypeError(`Device.setVfToken: the token must be a UUID string like 'bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3' (crypto.randomUUID() makes one), got ${typeof uuid === 'string' ? JSON.stringify(uuid) : typeof uuid}`);
    const op = 'VFIO_DEVICE_FEATURE (PCI_VF_TOKEN)';
    try {
      this.#ioctl(op, VFIO_DEVICE_FEATURE, encodeSetVfToken(bytes), (code) =>
        code === 'EINVAL' || code === 'ENOTTY' ? 'VF tokens need Linux 5.7+ (VFIO_DEVICE_FEATURE) and a PF bound to vfio-pci' : undefined,
      );
    } catch (e) {
      if (!(e instanceof VfioError) || e.code !== 'ENOTTY') throw e;
      throw new VfioError({
        code: 'ERR_VFIO_NOT_SRIOV',
        op,
        device: this.address,
        ...(e.errno !== undefined && { errno: e.errno }),
        message: 'only an SR-IOV PF has a VF token (the kernel answered ENOTTY)',
        hint: 'open the PF (the device with sriov_totalvfs in sysfs; `vfio ls` marks it) and set the token there; a VF presents it with openDevice(vf, { vfToken })',
        cause: e,
      });
    }
  }

  /**
   * The devices a bus or slot reset of this one would also reset
   * (VFIO_DEVICE_GET_PCI_HOT_RESET_INFO), each with its IOMMU group.
   */
  hotResetInfo(): {
    /** PCI address of a device the reset would touch. */
    address: string;
    /** Its IOMMU group; -1 for a device opened through its cdev (see `devid`). */
    group: number;
    /** Its iommufd device id, for a device opened through its cdev; -1 if this iommufd does not own it. */
    devid?: number;
  }[] {
    const op = 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO';
    const call = (bytes: Uint8Array) => this.#ioctl(op, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, bytes, (c) => this.#hotResetHint(c));
    let bytes = encodeHotResetInfoQuery();
    try {
      call(bytes);
    } catch (e) {
      // Too small: the kernel says ENOSPC but has written the count; ask again with room for it.
      if (!(e instanceof VfioError && e.code === 'ENOSPC')) throw e;
      bytes = encodeHotResetInfoQuery(decodeHotResetInfo(bytes).argsz);
      call(bytes);
    }
    const info = decodeHotResetInfo(bytes);
    // A cdev-opened device is told iommufd device ids (-1: not owned by this iommufd) instead of groups.
    const byDevid = (info.flags & VFIO_PCI_HOT_RESET_FLAG_DEV_ID) !== 0;
    return info.devices.map((d) => ({
      address: `${d.segment.toString(16).padStart(4, '0')}:${d.bus.toString(16).padStart(2, '0')}:${(d.devfn >> 3).toString(16).padStart(2, '0')}.${d.devfn & 7}`,
      ...(byDevid ? { group: -1, devid: d.groupId } : { group: d.groupId }),
    }));
  }

  /**
   * Resets the slot or bus the device sits on (VFIO_DEVICE_PCI_HOT_RESET). Every group
   * hotResetInfo() names must belong to this device's container: the kernel wants proof
   * that the caller owns every device the reset touches. For a device opened through
   * iommufd the kernel checks that ownership itself (same IommufdContext).
   *
   * Throws a VfioError: ERR_VFIO_HOT_RESET_GROUPS when a group is missing from the
   * container, ENODEV when no slot or bus reset is possible, EINVAL/EPERM when a touched
   * device is not open here.
   */
  hotReset(): void {
    const groupFds = this.#host.hotResetGroupFds(this.address, () => [...new Set(this.hotResetInfo().map((d) => d.group))]);
    this.#ioctl('VFIO_DEVICE_PCI_HOT_RESET', VFIO_DEVICE_PCI_HOT_RESET, encodeHotReset(groupFds), (c) => this.#hotResetHint(c));
  }

  #hotResetHint(code: string): string | undefined {
    if (code === 'ENODEV')
      return (
        'no slot or bus reset is possible for this device (e.g. it sits on the root bus, or its bridge cannot reset the bus); ' +
        (this.canReset
          ? 'reset() resets it alone (canReset is true)'
          : 'it has no reset of its own either (canReset is false): bring it to a known state through its registers, or remove and rescan it through sysfs')
      );
    if (code === 'EINVAL' || code === 'EPERM') return `every device the reset touches (see hotResetInfo) must be open in ${this.#host.hotResetScope}`;
    return undefined;
  }

  /** Allocates DMA memory in this device's address space (see DmaSpace.allocDma). */
  allocDma(size: number, options?: DmaOptions): DmaBuffer {
    return this.context.allocDma(size, options);
  }

  /** @internal openDevice(): closing the device closes the container or iommufd context it made. */
  ownContext(): void {
    this.#ownsContext = true;
  }

  /**
   * Disables interrupts, unmaps regions and closes the device fd; a device from
   * openDevice() also closes its group and container (DMA buffers included).
   */
  close(): void {
    if (this.#closed) return;
    const regions = [...this.#regions.values()];
    this.#regions.clear();
    closeSteps(`Device.close (${this.address})`, [
      () => this.#irqs?.disable(),
      ...this.#notifiers.splice(0).map((n) => () => n.disable()),
      ...regions.map((r) => () => r.close()),
      () => {
        this.#closed = true;
        this.#onClose();
        this.#host.backend.close(this.#file);
      },
      () => {
        try {
          if (this.#ownsContext) this.context.close();
        } catch (e) {
          const group = (this.group as { number?: number } | null)?.number;
          throw withContext(e, { device: this.address, ...(group !== undefined && { group }) });
        }
      },
    ]);
  }
}
