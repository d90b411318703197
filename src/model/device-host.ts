import type { Backend } from '../backend/backend.js';
import type { DmaSpace } from './dma-space.js';

/**
 * The seam between a Device and the kernel interface it was opened through: a group in a
 * legacy container, a cdev bound to an iommufd, or anything else that hands out VFIO
 * device fds. A Device depends on this alone, so the IOMMU interfaces (src/iommu) use the
 * object model and never the reverse, and another interface is one more implementation of
 * this, not an edit to Device.
 */
export interface DeviceHost {
  /** The backend the device's calls go through. */
  readonly backend: Backend;
  /** Device.context: the DMA space the device's buffers are mapped in. */
  readonly context: DmaSpace;
  /** Device.group: the IOMMU group the device was opened through, or null (a cdev). */
  readonly group: object | null;
  /** Device.container: the legacy container; throws (naming `device`) where there is none. */
  container(device: string): object;
  /**
   * The group fds VFIO_DEVICE_PCI_HOT_RESET must carry as proof that the caller owns every
   * device the reset touches (`affectedGroups` asks the kernel which groups those are);
   * empty where the kernel checks ownership itself (iommufd). Throws a VfioError naming
   * what is missing.
   */
  hotResetGroupFds(device: string, affectedGroups: () => readonly number[]): number[];
  /** Where every device a hot reset touches must be open, for the EPERM/EINVAL hint. */
  readonly hotResetScope: string;
}

/**
 * The hosts the library provides, by name. Each IOMMU interface adds its own with a module
 * augmentation next to its class, so that `Device` (without a type argument) types
 * `group`, `container` and `context` as precisely as the interfaces that exist, while this
 * file names none of them.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface DeviceHosts {}

/** Any host the library provides: the default type argument of Device. */
export type KnownDeviceHost = DeviceHosts[keyof DeviceHosts];
