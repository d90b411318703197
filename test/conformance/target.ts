/**
 * What a conformance suite needs from the kernel it runs against. The same
 * suites run on the fake kernel (host, `npm test`) and on the real one (guest,
 * `npm run test:vm`); a case that passes on only one of them is a bug.
 */
import type { Backend, OpenOptions } from '../../src/index.js';

export interface Target {
  name: 'fake' | 'native';
  /** The kernel's version as [major, minor]; the fake says 6.1 for the container API and 6.12 with iommufd or no-IOMMU mode (fake-target.ts). */
  kernel: [number, number];
  backend: Backend;
  /** Options that route openDevice/Container.open to this kernel (and pin the interface). */
  options: OpenOptions;
  /** The interface devices open through: the legacy container (default), iommufd, or no-IOMMU mode. */
  mode?: 'container' | 'iommufd' | 'noiommu';
  /** edu's DMA address width (28 by default; no-IOMMU guests give it 64, as addresses are physical). */
  eduDmaBits?: number;
  /** An edu alone in its IOMMU group, bound to vfio-pci. */
  eduAddress: string;
  eduGroup: number;
  /** An edu whose group also holds a device bound to a kernel driver. */
  bridgedEduAddress: string;
  bridgedEduGroup: number;
  /** Path of a group's /dev/vfio node under this kernel. */
  groupPath(group: number): string;
  containerPath: string;
  /** Open file descriptors of this process, as this kernel counts them. */
  openFds(): number;
  /** IOMMU faults recorded so far for DMA writes to `iova` (each a line of evidence). */
  writeFaults(iova: number): string[];
  /** Starts unbinding the device from vfio-pci (as root would); resolves once the unbind is done. */
  unbind(address: string): Promise<void>;
  /** Binds it back to vfio-pci. */
  rebind(address: string): void;
  /** /dev/iommu under this kernel, when it has iommufd and the VFIO device cdev (6.6+). */
  iommufdPath?: string;
  /** The device's cdev node (/dev/vfio/devices/vfioN), found through <device>/vfio-dev/. */
  cdevPath?(address: string): string;
}
