import type { Backend, FdHandle } from '../backend/backend.js';
import { defaultBackend } from '../backend/native.js';
import { VfioError, closeSteps, closedError, syscall, type ErrorContext } from '../errors.js';
import { DmaSpace, accessFlags, type DmaAccess, type IommuApi } from '../model/dma-space.js';
import type { Device } from '../model/device.js';
import { queryWithCaps } from '../model/query.js';
import { isNoIommuGroup } from '../host/groups.js';
import { readPciDevice, sysPath, type PciDeviceInfo, type SysfsOptions } from '../host/pci.js';
import { checkVfToken, type VfTokenOption } from './vf-token.js';
import { Group, type GroupDeviceHost } from './group.js';
import { noIommuOptInError } from './noiommu.js';
import {
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_IOMMU_GET_INFO,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from '../uapi/ioctl.js';
import {
  VFIO_DMA_MAP_FLAG_READ,
  VFIO_DMA_MAP_FLAG_WRITE,
  VFIO_DMA_UNMAP_FLAG_ALL,
  decodeIommuInfo,
  encodeIommuInfoQuery,
  type IommuInfo,
} from '../uapi/vfio-iommu.js';

/** Options of Container.open (and of openDevice, which extends them). */
export interface ContainerOptions extends SysfsOptions {
  /** The kernel to talk to: the native addon by default; a FakeKernel (`vfio/fake`) for tests. */
  backend?: Backend;
  /**
   * Allows no-IOMMU groups (/dev/vfio/noiommu-N): the device then DMAs to physical
   * addresses, unchecked, and can overwrite any memory. Root only. Off by default.
   */
  unsafeNoIommu?: boolean;
}

export type { DmaOptions } from '../model/dma-space.js';

/** The IOMMU model a container was set to (VFIO_SET_IOMMU): VFIO_TYPE1v2_IOMMU, VFIO_TYPE1_IOMMU, or VFIO_NOIOMMU_IOMMU. */
export type IommuType = 'Type1v2' | 'Type1' | 'NoIommu';

const DMA_ACCESS_FLAGS = accessFlags(VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE);

declare module '../model/device-host.js' {
  interface DeviceHosts {
    /** A device opened through a group in a legacy container. */
    container: GroupDeviceHost<Container>;
  }
}

/**
 * A VFIO container (the legacy interface, /dev/vfio/vfio): one IOMMU address space that
 * groups join. It owns the DMA mappings (see DmaSpace). With a no-IOMMU group (an
 * explicit opt-in), the container has no translation at all.
 */
export class Container extends DmaSpace {
  /** Where sysfs and /dev are looked up (the `root` of the options it was opened with). */
  readonly options: SysfsOptions;
  /** No-IOMMU groups may join (the `unsafeNoIommu` opt-in). */
  readonly unsafeNoIommu: boolean;
  #file: FdHandle;
  #closed = false;
  #groups = new Set<Group<Container>>();
  #iommuType: IommuType | null = null;
  #info: IommuInfo | null = null;
  #unmapAll = false;
  protected readonly label = 'the container';
  protected readonly mapOp = 'VFIO_IOMMU_MAP_DMA';
  protected readonly unmapOp = 'VFIO_IOMMU_UNMAP_DMA';

  private constructor(backend: Backend, file: FdHandle, options: SysfsOptions, unsafeNoIommu: boolean) {
    super(backend);
    this.#file = file;
    this.options = options;
    this.unsafeNoIommu = unsafeNoIommu;
  }

  /**
   * Opens /dev/vfio/vfio and checks the API version. A VfioError: the open's errno (ENOENT,
   * EACCES, with a hint), or ERR_VFIO_API_VERSION.
   */
  static open(options: ContainerOptions = {}): Container {
    const backend = options.backend ?? defaultBackend();
    const path = sysPath(options, 'dev/vfio/vfio');
    const fd = syscall(`open ${path}`, { hint: containerOpenHint }, () => backend.open(path));
    try {
      const version = syscall('VFIO_GET_API_VERSION', {}, () => backend.ioctl(fd, VFIO_GET_API_VERSION));
      if (version !== VFIO_API_VERSION) {
        throw new VfioError({
          code: 'ERR_VFIO_API_VERSION',
          op: 'VFIO_GET_API_VERSION',
          message: `the kernel speaks VFIO API ${version}, this library ${VFIO_API_VERSION}`,
        });
      }
    } catch (e) {
      backend.close(fd);
      throw e;
    }
    return new Container(backend, fd, { ...(options.root !== undefined && { root: options.root }) }, options.unsafeNoIommu === true);
  }

  /** The container fd's number, for structs that carry one; a VfioError (ERR_VFIO_CLOSED) after close(). */
  get fd(): number {
    this.#check('Container.fd');
    return this.#file.fd;
  }

  /** The container's backend handle, for Backend calls of your own; a VfioError (ERR_VFIO_CLOSED) after close(). */
  get file(): FdHandle {
    this.#check('Container.file');
    return this.#file;
  }

  /** True after close(). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Set when the first group joins. */
  get iommuType(): IommuType | null {
    return this.#iommuType;
  }

  /** 'container', or 'noiommu' once a no-IOMMU group joined; null before any group. */
  get api(): IommuApi | null {
    return this.#iommuType === null ? null : this.#iommuType === 'NoIommu' ? 'noiommu' : 'container';
  }

  get dmaTranslated(): boolean {
    return this.#iommuType !== 'NoIommu';
  }

  /** What VFIO_IOMMU_GET_INFO reported (page sizes, IOVA ranges, dma_avail); null without an IOMMU. */
  get iommuInfo(): IommuInfo | null {
    return this.#info;
  }

  /** The groups joined and not closed (a snapshot). */
  get groups(): readonly Group<Container>[] {
    return [...this.#groups];
  }

  /** The open devices of every group (a snapshot). */
  get devices(): readonly Device<GroupDeviceHost<Container>>[] {
    return [...this.#groups].flatMap((g) => g.devices);
  }

  /** VFIO_CHECK_EXTENSION: does the kernel support `extension` (an IOMMU model such as VFIO_TYPE1v2_IOMMU, from `vfio/uapi`)? */
  checkExtension(extension: number): boolean {
    this.#check('VFIO_CHECK_EXTENSION');
    return syscall('VFIO_CHECK_EXTENSION', {}, () => this.backend.ioctl(this.#file, VFIO_CHECK_EXTENSION, extension)) > 0;
  }

  /**
   * Opens /dev/vfio/<group> (or /dev/vfio/noiommu-<group>, with the opt-in), checks it is
   * viable and joins it to this container. The first group also selects the IOMMU model.
   *
   * A VfioError: ERR_VFIO_NOIOMMU_NOT_ALLOWED (a no-IOMMU group without the opt-in),
   * ERR_VFIO_GROUP_NOT_VIABLE, ERR_VFIO_NO_IOMMU_MODEL, or the kernel's errno (ENOENT:
   * no device of the group is bound to vfio-pci; EBUSY: the group is open elsewhere).
   */
  attachGroup(group: number): Group<Container> {
    this.#check('Container.attachGroup');
    if (!Number.isInteger(group) || group < 0) throw new RangeError(`attachGroup: group must be a non-negative integer, got ${group}`);
    return this.#attach(group, isNoIommuGroup(group, this.options));
  }

  #attach(group: number, noIommu: boolean): Group<Container> {
    // Refused before the node is opened: opening a no-IOMMU group already taints the kernel.
    if (noIommu && !this.unsafeNoIommu) throw noIommuOptInError(`open group ${group}`, { group });
    const link = { container: this, options: this.options, peers: () => this.groups, onClose: (g: Group<Container>) => this.#groups.delete(g) };
    const g = Group.open(link, group, noIommu);
    try {
      syscall('VFIO_GROUP_SET_CONTAINER', { group }, () => this.backend.ioctl(g.file, VFIO_GROUP_SET_CONTAINER, this.#file));
      this.#setupIommu(group, noIommu);
    } catch (e) {
      // Leaves the container if it joined (Group.close tolerates a group that did not).
      try {
        g.close();
      } catch {
        // the first error is the one to report
      }
      throw e;
    }
    this.#groups.add(g);
    return g;
  }

  /**
   * Opens a device by PCI address in this container, joining its group first if it has
   * not joined yet: several devices can share one container (and their DMA buffers).
   * `vfToken`: for a VF whose PF is bound to vfio-pci (see VfTokenOption).
   */
  openDevice(address: string, options: VfTokenOption = {}): Device<GroupDeviceHost<Container>> {
    this.#check('Container.openDevice');
    checkVfToken('Container.openDevice', options.vfToken);
    return this.openPciDevice(readPciDevice(address, this.options), undefined, options);
  }

  /** @internal openDevice(), which has read sysfs and asked whether the group is a no-IOMMU one already. */
  openPciDevice(pci: PciDeviceInfo, noIommu?: boolean, options: VfTokenOption = {}): Device<GroupDeviceHost<Container>> {
    this.#check('Container.openDevice');
    if (pci.iommuGroup === null)
      throw new VfioError({ code: 'ERR_VFIO_NO_IOMMU', op: 'Container.openDevice', device: pci.address, message: 'the device has no IOMMU group' });
    const n = pci.iommuGroup;
    const group = [...this.#groups].find((g) => g.number === n) ?? this.#attach(n, noIommu ?? isNoIommuGroup(n, this.options));
    return group.openDevice(pci.address, options);
  }

  /** The first group to join (after VFIO_GROUP_SET_CONTAINER) selects the IOMMU model. */
  #setupIommu(group: number, noIommu: boolean): void {
    if (this.#iommuType !== null) return;
    if (noIommu) {
      if (!this.unsafeNoIommu) throw noIommuOptInError('VFIO_SET_IOMMU', { group });
      syscall('VFIO_SET_IOMMU (no-IOMMU)', { group }, () => this.backend.ioctl(this.#file, VFIO_SET_IOMMU, VFIO_NOIOMMU_IOMMU));
      this.#iommuType = 'NoIommu';
      return;
    }
    const type = this.checkExtension(VFIO_TYPE1v2_IOMMU)
      ? 'Type1v2'
      : this.checkExtension(VFIO_TYPE1_IOMMU)
        ? 'Type1'
        : null;
    if (type === null) {
      throw new VfioError({
        code: 'ERR_VFIO_NO_IOMMU_MODEL',
        op: 'VFIO_CHECK_EXTENSION',
        group,
        message: 'the container offers neither the Type1v2 nor the Type1 IOMMU model',
        hint: 'load vfio_iommu_type1 (modprobe vfio_iommu_type1); no-IOMMU groups need an explicit opt-in',
      });
    }
    syscall('VFIO_SET_IOMMU', { group, hint: setIommuHint }, () =>
      this.backend.ioctl(this.#file, VFIO_SET_IOMMU, type === 'Type1v2' ? VFIO_TYPE1v2_IOMMU : VFIO_TYPE1_IOMMU),
    );
    this.#iommuType = type;
    this.#info = this.#queryIommuInfo();
    this.#unmapAll = this.checkExtension(VFIO_UNMAP_ALL);
    this.setIovaRanges(this.#info.iovaRanges ?? [{ start: 0n, end: (1n << 48n) - 1n }]);
  }

  #queryIommuInfo(): IommuInfo {
    return queryWithCaps(encodeIommuInfoQuery, decodeIommuInfo, (bytes) =>
      syscall('VFIO_IOMMU_GET_INFO', {}, () => this.backend.ioctl(this.#file, VFIO_IOMMU_GET_INFO, bytes)),
    );
  }

  /** The smallest IOMMU page size (the granule for DMA mappings). */
  get iommuPageSize(): number {
    const p = this.#info?.pgsizes;
    if (!p) return this.backend.pageSize;
    return Number(p & -p);
  }

  protected checkOpen(op: string): void {
    this.#check(op);
  }

  protected map(buffer: ArrayBuffer, length: number, iova: bigint, access: DmaAccess): void {
    this.backend.dmaMap(this.#file, buffer, 0, length, iova, DMA_ACCESS_FLAGS[access]);
  }

  protected unmap(iova: bigint, length: bigint): bigint {
    return this.backend.dmaUnmap(this.#file, iova, length, 0);
  }

  protected unmapAll(): boolean {
    if (!this.#unmapAll) return false;
    this.backend.dmaUnmap(this.#file, 0n, 0n, VFIO_DMA_UNMAP_FLAG_ALL);
    return true;
  }

  /**
   * True when no group is in the container any more: the kernel detaches a group when its
   * last device is unbound from vfio-pci (a release request), and the last group out takes
   * the IOMMU driver with every mapping (vfio_group_detach_container). A removed group's
   * fd answers GET_STATUS with ENODEV; a detached one without CONTAINER_SET.
   */
  protected override mappingsDropped(): boolean {
    if (this.#iommuType === null || this.#iommuType === 'NoIommu') return false;
    return [...this.#groups].every((g) => {
      try {
        return !g.status().containerSet;
      } catch (e) {
        if (e instanceof VfioError && e.code === 'ENODEV') return true;
        throw e;
      }
    });
  }

  protected override errorContext(): ErrorContext {
    const [first, ...more] = this.#groups;
    return first && more.length === 0 ? { group: first.number } : {};
  }

  protected override unmapHint(): string {
    return this.#groups.size === 0
      ? 'the container has no group left, so no IOMMU: the kernel dropped the mappings with the last group'
      : super.unmapHint();
  }

  protected override mapLimitNote(): string {
    return ` (dma_avail was ${this.#info?.dmaAvail ?? 'unknown'})`;
  }

  /**
   * Closes every group (and their devices), unmaps and frees every DMA buffer,
   * then closes the container. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    const groups = [...this.#groups];
    closeSteps(`Container.close${groups.length ? ` (group ${groups.map((g) => g.number).join(', ')})` : ''}`, [
      ...groups.map((g) => () => g.closeDevices()),
      () => this.releaseAllDma(),
      ...groups.map((g) => () => g.close()),
      () => {
        this.#closed = true;
        this.backend.close(this.#file);
      },
    ]);
  }

  #check(op: string): void {
    if (this.#closed) throw closedError('the container', op);
  }
}

function containerOpenHint(code: string): string | undefined {
  if (code === 'ENOENT') return 'the vfio modules are not loaded: modprobe vfio-pci (and vfio_iommu_type1)';
  if (code === 'EACCES' || code === 'EPERM') return '/dev/vfio/vfio is not accessible to this user (it is normally mode 0666)';
  return undefined;
}

function setIommuHint(code: string): string | undefined {
  if (code === 'EPERM')
    return (
      'the IOMMU offers no interrupt remapping, so vfio refuses it by default. If you accept that risk: ' +
      'modprobe vfio_iommu_type1 allow_unsafe_interrupts=1'
    );
  if (code === 'EBUSY') return 'this group already belongs to another container';
  return undefined;
}
