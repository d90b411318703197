/**
 * An IOMMU group: the unit of ownership. Once a group is opened and joined to a
 * container, its devices can be opened; nobody else may take them meanwhile.
 */
import { VfioError, closedError, syscall } from './errors.js';
import type { Container } from './container.js';
import { Device } from './device.js';
import { bindHint, groupMembers, groupNotViableError, groupViability, normalizePciAddress, sysPath } from './sysfs.js';
import { VFIO_GROUP_GET_DEVICE_FD, VFIO_GROUP_GET_STATUS, VFIO_GROUP_SET_CONTAINER, VFIO_GROUP_UNSET_CONTAINER } from './uapi/ioctl.js';
import { isNoIommuGroup, noIommuOptInError } from './noiommu.js';
import { decodeGroupStatus, encodeGroupStatusQuery, type GroupStatus } from './uapi/vfio-group.js';

export class Group {
  readonly number: number;
  readonly container: Container;
  /** A vfio no-IOMMU group (/dev/vfio/noiommu-N): its devices' DMA is not translated. */
  readonly noIommu: boolean;
  #fd: number;
  #devices = new Set<Device>();

  private constructor(container: Container, number: number, fd: number, noIommu: boolean) {
    this.container = container;
    this.noIommu = noIommu;
    this.number = number;
    this.#fd = fd;
  }

  /** @internal use Container.attachGroup */
  static attach(container: Container, number: number): Group {
    if (!Number.isInteger(number) || number < 0) throw new RangeError(`attachGroup: group must be a non-negative integer, got ${number}`);
    const backend = container.backend;
    const noIommu = isNoIommuGroup(number, container.options);
    // Refused before the node is opened: opening a no-IOMMU group already taints the kernel.
    if (noIommu && !container.unsafeNoIommu) throw noIommuOptInError(`open group ${number}`, { group: number });
    const path = sysPath(container.options, 'dev/vfio', noIommu ? `noiommu-${number}` : String(number));
    const ctx = { group: number, hint: (code: string) => groupOpenHint(code, path, number, container, noIommu) };
    const fd = syscall(`open ${path}`, ctx, () => backend.open(path));
    const g = new Group(container, number, fd, noIommu);
    try {
      const status = g.status();
      // The kernel's flag decides; sysfs names the members in the way.
      if (!status.viable) throw groupNotViableError(groupViability(number, container.options), 'VFIO_GROUP_GET_STATUS');
      syscall('VFIO_GROUP_SET_CONTAINER', { group: number }, () => backend.ioctl(fd, VFIO_GROUP_SET_CONTAINER, container.fd));
      try {
        container.setupIommu(number, noIommu);
      } catch (e) {
        backend.ioctl(fd, VFIO_GROUP_UNSET_CONTAINER);
        throw e;
      }
    } catch (e) {
      backend.close(fd);
      throw e;
    }
    return g;
  }

  get fd(): number {
    if (this.#fd < 0) throw closedError(`group ${this.number}`, 'Group.fd');
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  status(): GroupStatus {
    const bytes = encodeGroupStatusQuery();
    syscall('VFIO_GROUP_GET_STATUS', { group: this.number }, () => this.container.backend.ioctl(this.fd, VFIO_GROUP_GET_STATUS, bytes));
    return decodeGroupStatus(bytes);
  }

  get devices(): readonly Device[] {
    return [...this.#devices];
  }

  /** Opens one device of this group by PCI address. */
  openDevice(address: string): Device {
    const addr = normalizePciAddress(address);
    const fd = syscall('VFIO_GROUP_GET_DEVICE_FD', { device: addr, group: this.number, hint: deviceFdHint }, () =>
      this.container.backend.ioctl(this.fd, VFIO_GROUP_GET_DEVICE_FD, addr),
    );
    let dev: Device;
    try {
      dev = new Device(this.container, this, addr, fd);
    } catch (e) {
      this.container.backend.close(fd);
      throw e;
    }
    this.#devices.add(dev);
    return dev;
  }

  /** @internal Device.close */
  forgetDevice(d: Device): void {
    this.#devices.delete(d);
  }

  /** @internal */
  closeDevices(): void {
    for (const d of [...this.#devices]) d.close();
  }

  /**
   * Closes its devices, leaves the container and closes the group. DMA mappings
   * belong to the container and stay until it is closed.
   */
  close(): void {
    if (this.#fd < 0) return;
    this.closeDevices();
    const backend = this.container.backend;
    try {
      syscall('VFIO_GROUP_UNSET_CONTAINER', { group: this.number }, () => backend.ioctl(this.#fd, VFIO_GROUP_UNSET_CONTAINER));
    } catch (e) {
      // EINVAL: the kernel already detached the group, as it does while unbinding its last
      // device (a release request). Closing the fd below is all that is left to do.
      if (!(e instanceof VfioError && e.code === 'EINVAL')) throw e;
    } finally {
      backend.close(this.#fd);
      this.#fd = -1;
      this.container.forgetGroup(this);
    }
  }
}

function groupOpenHint(code: string, path: string, group: number, container: Container, noIommu: boolean): string | undefined {
  if (noIommu && (code === 'EPERM' || code === 'EACCES')) return 'no-IOMMU groups open only for root (CAP_SYS_RAWIO)';
  switch (code) {
    case 'ENOENT': {
      const members = groupMembers(group, container.options);
      const first = members.find((m) => m.driver !== 'vfio-pci');
      return `${path} appears once a device of the group is bound to vfio-pci` + (first ? `; ${bindHint(first.address)}` : '');
    }
    case 'EACCES':
    case 'EPERM':
      return `this user may not open ${path}: run as root, or grant it (chown $USER ${path}, or a udev rule for the vfio group)`;
    case 'EBUSY':
      return `group ${group} is already open, in another process or in this one; a group has one owner at a time`;
    default:
      return undefined;
  }
}

function deviceFdHint(code: string): string | undefined {
  if (code === 'ENODEV' || code === 'EINVAL') return 'the device is not in this group, or not bound to vfio-pci';
  if (code === 'EBUSY') return 'the device is already open';
  return undefined;
}
