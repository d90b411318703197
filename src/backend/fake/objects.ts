// The fake kernel's VFIO objects, shared by the files that emulate their ioctls.
import type { FakeEventfd } from './eventfd.js';
import type { IommuConfig } from './iommu-config.js';
import type { FakeIommufd } from './iommufd.js';
import type { MemlockAccount } from './memory.js';
import type { FakeIommu } from './type1.js';
import type { IrqState } from './irq.js';
import type { VirtualConfig } from './config.js';
import type { DeviceModel } from './model.js';
import type { FakeKernelOptions } from './options.js';

export interface KGroup {
  id: number;
  devices: KDevice[];
  /** The group file is open (vfio_group opened_file). */
  open: boolean;
  container: KContainer | null;
  /** A no-IOMMU group (/dev/vfio/noiommu-N). */
  noiommu: boolean;
  /** Devices of the group bound through their cdev (cdev_device_open_cnt): the group node refuses to open. */
  cdevBound: number;
}

export interface KContainer {
  groups: Set<KGroup>;
  /** The type1 driver, once VFIO_SET_IOMMU chose it. */
  iommu: FakeIommu | null;
  /** VFIO_SET_IOMMU chose the no-IOMMU driver. */
  noiommuDriver: boolean;
  /** Its groups are no-IOMMU groups (container->noiommu); real and no-IOMMU groups do not mix. */
  noiommu: boolean;
  fdOpen: boolean;
}

export interface KDevice {
  address: string;
  model: DeviceModel;
  group: KGroup;
  driver: string | null;
  config: VirtualConfig;
  irq: IrqState;
  /** vfio_device open_count: group-path device fds, plus a bound cdev. */
  opens: number;
  /** The vfio device index while vfio-pci drives it (vfio-dev/vfioN, /dev/vfio/devices/vfioN). */
  index: number | null;
  /** The cdev file bound to an iommufd, if any. */
  cdev: CdevFile | null;
  /** Its SR-IOV capability's state when it is a PF (pdev->is_physfn); null otherwise. */
  sriov: KSriov | null;
  /** Its PF when it is a VF (pdev->is_virtfn); null otherwise. */
  physfn: KDevice | null;
  /** The driver drivers_probe binds when no driver_override is set (null: none claims it). */
  probeDriver: string | null;
  /** driver_override (null: none). */
  override: string | null;
}

/** A PF's SR-IOV state: the kernel's pci_sriov (from the capability) and vfio-pci's VF token. */
export interface KSriov {
  /** The SR-IOV capability's config offset. */
  readonly cap: number;
  readonly totalVfs: number;
  /** First VF's routing ID minus the PF's. */
  readonly offset: number;
  /** Routing IDs between VFs. */
  readonly stride: number;
  /** The enabled VFs, VF 0 first. */
  vfs: KDevice[];
  /** sriov_drivers_autoprobe: new VFs are probed by a driver. */
  autoprobe: boolean;
  /** The VF driver autoprobe binds while the PF is not on vfio-pci (igbvf); null: none loaded. */
  readonly vfDriver: string | null;
  /** The PF's driver (other than vfio-pci) implements sriov_configure. */
  readonly configurable: boolean;
  /** vfio-pci's VF token (vdev->vf_token->uuid) while vfio-pci drives the PF; null otherwise. */
  token: Uint8Array | null;
}

/** A file opened on /dev/vfio/devices/vfioN: unusable until VFIO_DEVICE_BIND_IOMMUFD. */
export interface CdevFile {
  readonly d: KDevice;
  bound: { ctx: FakeIommufd; devid: number } | null;
}

/**
 * An open /dev/vfio/N. `removed`: its vfio_group was torn down when the group's last
 * vfio-pci driver left (vfio_device_remove_group); the file still names the dead group,
 * whose iommu_group is gone, while a rebind makes a new one behind the same node.
 */
export interface GroupFile {
  kind: 'group';
  g: KGroup;
  removed?: boolean;
}

/** What an open file descriptor of the fake kernel refers to. */
export type FdEntry =
  | { kind: 'container'; c: KContainer }
  | GroupFile
  | { kind: 'device'; d: KDevice; cdev?: CdevFile }
  | { kind: 'iommufd'; ctx: FakeIommufd }
  | { kind: 'eventfd'; e: FakeEventfd };

/** An open file as a Backend call reaches it, resolved from its handle: its fd and what it is. */
export interface OpenFile {
  readonly fd: number;
  readonly e: FdEntry;
}

/** The process's capabilities, as the checks in vfio and mlock see them. */
export interface Capabilities {
  sysRawio: boolean;
  sysAdmin: boolean;
}

/** The kernel-wide state the per-file code needs, without reaching back into FakeKernel. */
export interface KernelContext {
  readonly iommuConfig: IommuConfig;
  readonly memlock: MemlockAccount;
  readonly caps: Capabilities;
  /** Built with iommufd and the device cdev (Linux 6.12). */
  readonly iommufd: boolean;
  /** What the cdev bind does with a VF token (FakeKernelOptions.cdevBind). */
  readonly cdevBind: NonNullable<FakeKernelOptions['cdevBind']>;
  /** vfio.enable_unsafe_noiommu_mode=1 with no IOMMU hardware. */
  readonly noIommu: boolean;
  /** vfio_pci's module parameters that can change at run time. */
  readonly vfioPci: { enableSriov: boolean };
  /** The file behind `fd`, if it is open. */
  file(fd: number): FdEntry | undefined;
  /** Installs a new open file; returns its fd. */
  install(entry: FdEntry): number;
}

/** How an error message names the file behind a handle, article included (as native/handle.cc words it). */
export function fileKindName(e: FdEntry): string {
  return e.kind === 'eventfd' ? 'an eventfd' : e.kind === 'iommufd' ? 'an iommufd' : `a VFIO ${e.kind}`;
}
