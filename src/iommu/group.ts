import { VfioError, closedError, syscall } from '../errors.js';
import { Device } from '../model/device.js';
import type { DeviceHost } from '../model/device-host.js';
import type { FdHandle } from '../backend/backend.js';
import type { DmaSpace } from '../model/dma-space.js';
import { groupMembers, groupNotViableError, groupViability } from '../host/groups.js';
import { bindHint, normalizePciAddress, sysPath, type SysfsOptions } from '../host/pci.js';
import { VFIO_GROUP_GET_STATUS, VFIO_GROUP_UNSET_CONTAINER } from '../uapi/ioctl.js';
import { decodeGroupStatus, encodeGroupStatusQuery, type GroupStatus } from '../uapi/vfio-group.js';
import { checkVfToken, deviceFdName, vfTokenError, type VfTokenOption } from './vf-token.js';

/** What the container that opens a group hands it (the group never imports the container). */
export interface GroupLink<C extends DmaSpace> {
  readonly container: C;
  readonly options: SysfsOptions;
  /** Every group in the same container: a hot reset proves it owns them. */
  readonly peers: () => readonly Group<C>[];
  /** The group was closed: the container stops counting it. */
  readonly onClose: (group: Group<C>) => void;
}

/**
 * An IOMMU group: the unit of ownership. Once a group is opened and joined to a
 * container, its devices can be opened; nobody else may take them meanwhile. A group is
 * made by Container.attachGroup, which joins it to the container.
 */
export class Group<C extends DmaSpace = DmaSpace> {
  /** The IOMMU group number (/dev/vfio/N). */
  readonly number: number;
  /** The container the group joined. */
  readonly container: C;
  /** A vfio no-IOMMU group (/dev/vfio/noiommu-N): its devices' DMA is not translated. */
  readonly noIommu: boolean;
  #file: FdHandle;
  #closed = false;
  #link: GroupLink<C>;
  #host: GroupDeviceHost<C>;
  #devices = new Set<Device<GroupDeviceHost<C>>>();

  private constructor(link: GroupLink<C>, number: number, file: FdHandle, noIommu: boolean) {
    this.container = link.container;
    this.#link = link;
    this.noIommu = noIommu;
    this.number = number;
    this.#file = file;
    this.#host = new GroupDeviceHost(this, link.peers);
  }

  /**
   * @internal Container.attachGroup: opens /dev/vfio/N (or noiommu-N) and checks the group
   * is viable; joining the container is the container's part.
   */
  static open<C extends DmaSpace>(link: GroupLink<C>, number: number, noIommu: boolean): Group<C> {
    const backend = link.container.backend;
    const path = sysPath(link.options, 'dev/vfio', noIommu ? `noiommu-${number}` : String(number));
    const ctx = { group: number, hint: (code: string) => groupOpenHint(code, path, number, link.options, noIommu) };
    const file = syscall(`open ${path}`, ctx, () => backend.open(path));
    const g = new Group(link, number, file, noIommu);
    try {
      // The kernel's flag decides; sysfs names the members in the way.
      if (!g.status().viable) throw groupNotViableError(groupViability(number, link.options), 'VFIO_GROUP_GET_STATUS');
    } catch (e) {
      backend.close(file);
      throw e;
    }
    return g;
  }

  /** The group fd's number, for structs that carry one; a VfioError (ERR_VFIO_CLOSED) after close(). */
  get fd(): number {
    return this.file.fd;
  }

  /** The group's backend handle, for Backend calls of your own; a VfioError (ERR_VFIO_CLOSED) after close(). */
  get file(): FdHandle {
    if (this.#closed) throw closedError(`group ${this.number}`, 'Group.file');
    return this.#file;
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#closed;
  }

  /** VFIO_GROUP_GET_STATUS: is the group viable (all its devices safe to hand over), has it joined a container? */
  status(): GroupStatus {
    const bytes = encodeGroupStatusQuery();
    syscall('VFIO_GROUP_GET_STATUS', { group: this.number }, () => this.container.backend.ioctl(this.file, VFIO_GROUP_GET_STATUS, bytes));
    return decodeGroupStatus(bytes);
  }

  /** Its open devices (a snapshot). */
  get devices(): readonly Device<GroupDeviceHost<C>>[] {
    return [...this.#devices];
  }

  /**
   * Opens one device of this group by PCI address; `vfToken` for a VF whose PF is bound to
   * vfio-pci (see VfTokenOption). A VfioError: the kernel's errno from VFIO_GROUP_GET_DEVICE_FD
   * (ENODEV/EINVAL: not in this group or not bound to vfio-pci; EBUSY: already open),
   * ERR_VFIO_VF_TOKEN_REQUIRED, ERR_VFIO_VF_TOKEN_MISMATCH, ERR_VFIO_VF_TOKEN_UNUSED, or
   * ERR_VFIO_NOT_PCI. A vfToken that is not a UUID string is a TypeError.
   */
  openDevice(address: string, options: VfTokenOption = {}): Device<GroupDeviceHost<C>> {
    const addr = normalizePciAddress(address);
    const token = checkVfToken('Group.openDevice', options.vfToken);
    const backend = this.container.backend;
    let file: FdHandle;
    try {
      file = syscall('VFIO_GROUP_GET_DEVICE_FD', { device: addr, group: this.number, hint: deviceFdHint }, () =>
        backend.groupDeviceFd(this.file, deviceFdName(addr, token)),
      );
    } catch (e) {
      throw (e instanceof VfioError && vfTokenError(e, addr, token, this.#link.options)) || e;
    }
    let dev: Device<GroupDeviceHost<C>>;
    try {
      dev = new Device(this.#host, addr, file, () => this.#devices.delete(dev));
    } catch (e) {
      backend.close(file);
      throw e;
    }
    this.#devices.add(dev);
    return dev;
  }

  /** @internal Container.close closes every device before it releases the DMA buffers. */
  closeDevices(): void {
    for (const d of [...this.#devices]) d.close();
  }

  /**
   * Closes its devices, leaves the container and closes the group. DMA mappings belong to
   * the container and stay while another group is in it; when the last group leaves, the
   * kernel drops the container's IOMMU and every mapping with it (the container's close()
   * then frees the buffers' memory).
   */
  close(): void {
    if (this.#closed) return;
    this.closeDevices();
    // A device from openDevice() closes the container it made, and with it this group.
    if (this.#closed) return;
    const backend = this.container.backend;
    try {
      syscall('VFIO_GROUP_UNSET_CONTAINER', { group: this.number }, () => backend.ioctl(this.#file, VFIO_GROUP_UNSET_CONTAINER));
    } catch (e) {
      // EINVAL: the group is in no container: the kernel already detached it, as it does
      // while unbinding its last device (a release request), or it never joined one.
      // Closing the fd below is all that is left to do.
      if (!(e instanceof VfioError && e.code === 'EINVAL')) throw e;
    } finally {
      this.#closed = true;
      backend.close(this.#file);
      this.#link.onClose(this);
    }
  }
}

/** How a device opened through a group reaches its container: the group's DeviceHost. */
export class GroupDeviceHost<C extends DmaSpace = DmaSpace> implements DeviceHost {
  /** Where every device a hot reset touches must be open, for the EPERM/EINVAL hint. */
  readonly hotResetScope = 'one container (Container.attachGroup)';
  /** The group its devices were opened through. */
  readonly group: Group<C>;
  readonly #peers: () => readonly Group<C>[];

  /** @internal made by its Group */
  constructor(group: Group<C>, peers: () => readonly Group<C>[]) {
    this.group = group;
    this.#peers = peers;
  }

  /** The container's backend. */
  get backend() {
    return this.group.container.backend;
  }

  /** The container: the DMA space of the group's devices. */
  get context(): C {
    return this.group.container;
  }

  /** The group's container. */
  container(): C {
    return this.group.container;
  }

  /** The kernel wants an fd for every group the reset touches, all in this container. */
  hotResetGroupFds(device: string, affectedGroups: () => readonly number[]): number[] {
    const groups = new Map(this.#peers().map((g) => [g.number, g.fd]));
    const needed = affectedGroups();
    const missing = needed.filter((g) => !groups.has(g));
    if (missing.length)
      throw new VfioError({
        code: 'ERR_VFIO_HOT_RESET_GROUPS',
        op: 'VFIO_DEVICE_PCI_HOT_RESET',
        device,
        message: `the reset also affects group(s) ${missing.join(', ')}, which this container does not hold`,
        hint: 'attach those groups to the same container (Container.attachGroup) first',
      });
    return needed.map((g) => groups.get(g)!);
  }
}

function groupOpenHint(code: string, path: string, group: number, options: SysfsOptions, noIommu: boolean): string | undefined {
  if (noIommu && (code === 'EPERM' || code === 'EACCES')) return 'no-IOMMU groups open only for root (CAP_SYS_RAWIO)';
  switch (code) {
    case 'ENOENT': {
      const members = groupMembers(group, options);
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
