import type { Backend, FdHandle } from '../backend/backend.js';
import { bindVfTokenError, checkVfToken, type VfTokenOption } from './vf-token.js';
import { defaultBackend } from '../backend/native.js';
import { VfioError, closeSteps, closedError, syscall } from '../errors.js';
import { DmaSpace, accessFlags, type DmaAccess, type IommuApi } from '../model/dma-space.js';
import { Device } from '../model/device.js';
import type { DeviceHost } from '../model/device-host.js';
import { groupNotViableError, groupViability, isNoIommuGroup, vfioCdevName } from '../host/groups.js';
import { VFIO_PCI_DRIVER, bindHint, readPciDevice, sysPath, type PciDeviceInfo, type SysfsOptions } from '../host/pci.js';
import {
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP_ALL_LENGTH,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  iommuDestroy,
  iommuIoasAlloc,
  vfioDeviceAttachIommufdPt,
} from '../uapi/iommufd.js';
import { uuidBytes } from '../uapi/vfio-feature.js';

/** Options of IommufdContext.open. */
export interface IommufdOptions extends SysfsOptions {
  /** The kernel to talk to: the native addon by default; a FakeKernel (`vfio/fake`) for tests. */
  backend?: Backend;
}

const IOAS_ACCESS_FLAGS = accessFlags(IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE);

/** The device's cdev name, or ERR_VFIO_NO_CDEV saying why it has none. */
export function requireCdev(pci: PciDeviceInfo, opts: SysfsOptions, op: string): string {
  const cdev = vfioCdevName(pci.address, opts);
  if (cdev !== null) return cdev;
  throw noCdevError(pci, opts, op);
}

/** ERR_VFIO_NO_CDEV: why the device has no /dev/vfio/devices node. */
export function noCdevError(pci: PciDeviceInfo, opts: SysfsOptions, op: string): VfioError {
  return new VfioError({
    code: 'ERR_VFIO_NO_CDEV',
    op,
    device: pci.address,
    message: 'the device has no VFIO cdev (no /dev/vfio/devices node for it)',
    hint:
      pci.driver !== VFIO_PCI_DRIVER
        ? bindHint(pci.address)
        : pci.iommuGroup !== null && isNoIommuGroup(pci.iommuGroup, opts)
          ? 'no-IOMMU devices have no cdev: use { iommu: "container" } (or "auto") with unsafeNoIommu'
          : 'the kernel lacks CONFIG_VFIO_DEVICE_CDEV (Linux 6.6+) or iommufd; use { iommu: "container" } or "auto"',
  });
}

declare module '../model/device-host.js' {
  interface DeviceHosts {
    /** A device opened through its cdev and bound to an iommufd. */
    iommufd: IommufdDeviceHost;
  }
}

/**
 * The iommufd interface (Linux 6.6+ for VFIO): devices are opened through their own
 * node (/dev/vfio/devices/vfioN, the "cdev"), bound to an iommufd (/dev/iommu) and
 * attached to an IO address space (IOAS) in it. One IommufdContext is one iommufd with
 * one IOAS; every device opened through it shares the IOAS, so a buffer mapped once is
 * visible to all of them (a driver spanning several devices needs exactly that).
 */
export class IommufdContext extends DmaSpace {
  /** Where sysfs and /dev are looked up (the `root` of the options it was opened with). */
  readonly options: SysfsOptions;
  /** The IOAS's id in the iommufd. */
  readonly ioasId: number;
  #file: FdHandle;
  #closed = false;
  #devices = new Set<Device<IommufdDeviceHost>>();
  #host = new IommufdDeviceHost(this);
  #alignment = 0;
  protected readonly label: string;
  protected readonly mapOp = 'IOMMU_IOAS_MAP';
  protected readonly unmapOp = 'IOMMU_IOAS_UNMAP';
  readonly dmaTranslated = true;

  private constructor(backend: Backend, file: FdHandle, ioas: number, options: SysfsOptions) {
    super(backend);
    this.#file = file;
    this.ioasId = ioas;
    this.options = options;
    this.label = `IOAS ${ioas}`;
  }

  /**
   * Opens /dev/iommu and allocates an IOAS. A VfioError with the open's errno (ENOENT: no
   * iommufd in this kernel; EACCES), or IOMMU_IOAS_ALLOC's.
   */
  static open(options: IommufdOptions = {}): IommufdContext {
    const backend = options.backend ?? defaultBackend();
    const path = sysPath(options, 'dev/iommu');
    const file = syscall(`open ${path}`, { hint: (c) => iommuOpenHint(c, path) }, () => backend.open(path));
    try {
      const bytes = iommuIoasAlloc.encode({ size: iommuIoasAlloc.size });
      syscall('IOMMU_IOAS_ALLOC', {}, () => backend.ioctl(file, IOMMU_IOAS_ALLOC, bytes));
      const ioas = iommuIoasAlloc.decode(bytes).out_ioas_id;
      return new IommufdContext(backend, file, ioas, { ...(options.root !== undefined && { root: options.root }) });
    } catch (e) {
      backend.close(file);
      throw e;
    }
  }

  /** The iommufd's number, for structs that carry one; a VfioError (ERR_VFIO_CLOSED) after close(). */
  get fd(): number {
    this.#check('IommufdContext.fd');
    return this.#file.fd;
  }

  /** The iommufd's backend handle, for Backend calls of your own; a VfioError (ERR_VFIO_CLOSED) after close(). */
  get file(): FdHandle {
    this.#check('IommufdContext.file');
    return this.#file;
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * 'iommufd' once a device has been attached (the IOAS's ranges are only final then, and
   * they are read, with the alignment, at every attach); null before.
   */
  get api(): IommuApi | null {
    return this.#alignment > 0 ? 'iommufd' : null;
  }

  get iommuPageSize(): number {
    return Math.max(this.#alignment, this.backend.pageSize);
  }

  /** Its open devices (a snapshot). */
  get devices(): readonly Device<IommufdDeviceHost>[] {
    return [...this.#devices];
  }

  /**
   * Opens a device through its cdev, binds it to this iommufd and attaches it to the
   * IOAS. Its group must not be open through the legacy interface meanwhile (EBUSY). A
   * `vfToken` goes with the bind, on the kernels `vfToken` names; an older one's refusal is
   * ERR_VFIO_VF_TOKEN_IOMMUFD (open the device in a Container instead). The token refusals are
   * the group path's: ERR_VFIO_VF_TOKEN_REQUIRED, _MISMATCH and _UNUSED.
   */
  openDevice(address: string, options: VfTokenOption = {}): Device<IommufdDeviceHost> {
    this.#check('IommufdContext.openDevice');
    const token = checkVfToken('IommufdContext.openDevice', options.vfToken);
    const pci = readPciDevice(address, this.options);
    return this.openPciDevice(pci, requireCdev(pci, this.options, 'find VFIO cdev'), token);
  }

  /** @internal openDevice(), which has read sysfs, found the cdev and checked the token already. */
  openPciDevice(pci: PciDeviceInfo, cdev: string, vfToken?: string): Device<IommufdDeviceHost> {
    this.#check('IommufdContext.openDevice');
    const addr = pci.address;
    // Binding a device whose group is not viable only gets EPERM from the kernel: name the culprits first.
    if (pci.iommuGroup !== null) {
      const v = groupViability(pci.iommuGroup, this.options);
      if (!v.viable) throw groupNotViableError(v, 'check IOMMU group', addr);
    }
    const path = sysPath(this.options, 'dev/vfio/devices', cdev);
    const backend = this.backend;
    const ctx = { device: addr };
    const file = syscall(`open ${path}`, { ...ctx, hint: (c) => cdevOpenHint(c, path) }, () => backend.open(path));
    let dev: Device<IommufdDeviceHost>;
    try {
      const token = vfToken === undefined ? undefined : uuidBytes(vfToken)!;
      try {
        syscall('VFIO_DEVICE_BIND_IOMMUFD', { ...ctx, hint: bindIommufdHint }, () => backend.bindIommufd(file, this.#file, token));
      } catch (e) {
        throw (e instanceof VfioError && bindVfTokenError(e, addr, vfToken, this.options)) || e;
      }
      const attach = vfioDeviceAttachIommufdPt.encode({ argsz: vfioDeviceAttachIommufdPt.size, pt_id: this.ioasId });
      syscall('VFIO_DEVICE_ATTACH_IOMMUFD_PT', ctx, () => backend.ioctl(file, VFIO_DEVICE_ATTACH_IOMMUFD_PT, attach));
      this.#refreshRanges();
      dev = new Device(this.#host, addr, file, () => this.#devices.delete(dev));
    } catch (e) {
      backend.close(file);
      throw e;
    }
    this.#devices.add(dev);
    return dev;
  }

  // Each attached device narrows the IOAS to what its IOMMU can reach.
  #refreshRanges(): void {
    const r = syscall('IOMMU_IOAS_IOVA_RANGES', {}, () => this.backend.ioasIovaRanges(this.#file, this.ioasId));
    this.#alignment = Number(r.alignment);
    this.setIovaRanges(r.ranges.map((x) => ({ start: x.start, end: x.last })));
  }

  protected checkOpen(op: string): void {
    this.#check(op);
  }

  protected map(buffer: ArrayBuffer, length: number, iova: bigint, access: DmaAccess): void {
    this.backend.ioasMap(this.#file, this.ioasId, buffer, 0, length, iova, IOAS_ACCESS_FLAGS[access]);
  }

  protected unmap(iova: bigint, length: bigint): bigint {
    return this.backend.ioasUnmap(this.#file, this.ioasId, iova, length);
  }

  protected unmapAll(): boolean {
    this.backend.ioasUnmap(this.#file, this.ioasId, 0n, IOMMU_IOAS_UNMAP_ALL_LENGTH);
    return true;
  }

  /** Closes its devices, unmaps and frees every DMA buffer, destroys the IOAS and closes the iommufd. Idempotent. */
  close(): void {
    if (this.#closed) return;
    const file = this.#file;
    closeSteps('IommufdContext.close', [
      ...[...this.#devices].map((d) => () => d.close()),
      () => this.releaseAllDma(),
      () => {
        const bytes = iommuDestroy.encode({ size: iommuDestroy.size, id: this.ioasId });
        syscall('IOMMU_DESTROY', {}, () => this.backend.ioctl(file, IOMMU_DESTROY, bytes));
      },
      () => {
        this.#closed = true;
        this.backend.close(file);
      },
    ]);
  }

  #check(op: string): void {
    if (this.#closed) throw closedError('the iommufd context', op);
  }
}

/** How a device opened through its cdev reaches its IOAS: the IommufdContext's DeviceHost. */
export class IommufdDeviceHost implements DeviceHost {
  /** None: a cdev-opened device has no group. */
  readonly group = null;
  /** Where every device a hot reset touches must be open, for the EPERM/EINVAL hint. */
  readonly hotResetScope = 'the same IommufdContext';
  /** The context its devices were opened in. */
  readonly context: IommufdContext;

  /** @internal made by its IommufdContext */
  constructor(context: IommufdContext) {
    this.context = context;
  }

  /** The context's backend. */
  get backend(): Backend {
    return this.context.backend;
  }

  /** A cdev-opened device has no container: ERR_VFIO_NOT_CONTAINER. */
  container(device: string): never {
    throw new VfioError({
      code: 'ERR_VFIO_NOT_CONTAINER',
      op: 'Device.container',
      device,
      message: 'this device was opened through its cdev and an iommufd, not a container',
      hint: 'use device.context (an IommufdContext) or device.allocDma',
    });
  }

  /** None: the kernel checks that this iommufd owns every device the reset touches. */
  hotResetGroupFds(): number[] {
    return [];
  }
}

function iommuOpenHint(code: string, path: string): string | undefined {
  if (code === 'ENOENT') return 'iommufd is not available: Linux 6.2+ with CONFIG_IOMMUFD (modprobe iommufd), or use { iommu: "container" }';
  if (code === 'EACCES' || code === 'EPERM') return `${path} is not accessible to this user: run as root, or grant it (a udev rule), or use { iommu: "container" }`;
  return undefined;
}

function cdevOpenHint(code: string, path: string): string | undefined {
  if (code === 'EACCES' || code === 'EPERM') return `this user may not open ${path}: run as root, or grant it (chown, or a udev rule)`;
  return undefined;
}

function bindIommufdHint(code: string): string | undefined {
  if (code === 'EBUSY') return "the device's IOMMU group is open through the legacy interface (a Container, here or in another process)";
  if (code === 'EINVAL') return 'the device is already bound (opened twice through its cdev?)';
  if (code === 'EPERM')
    return (
      "another device of its IOMMU group is bound to a different iommufd (a group has one owner: open them in one IommufdContext); " +
      'or the IOMMU offers no interrupt remapping (iommufd.allow_unsafe_interrupts=1 if you accept the risk)'
    );
  return undefined;
}
