/** Finding the guest's test devices. */
import { findPciDevices, groupMembers, type OpenOptions, type PciDeviceInfo } from '../../src/index.js';

export const EDU = { vendor: 0x1234, device: 0x11e8 };
export const E1000E = { vendor: 0x8086, device: 0x10d3 };

/** The edu alone in its group (the other one sits behind a bridge with a virtio-net). */
export function soloEdu(): PciDeviceInfo {
  const d = findPciDevices(EDU).find((e) => e.iommuGroup !== null && groupMembers(e.iommuGroup).length === 1);
  if (!d) throw new Error('guest: no edu device alone in its IOMMU group');
  return d;
}

export function bridgedEdu(): PciDeviceInfo {
  const d = findPciDevices(EDU).find((e) => e.iommuGroup !== null && groupMembers(e.iommuGroup).length > 1);
  if (!d) throw new Error('guest: no edu device sharing its IOMMU group');
  return d;
}

/** The kernel interface this guest run tests (run.sh's VFIO_VM_API / VFIO_VM_IOMMU). */
export type VmMode = 'container' | 'iommufd' | 'noiommu';

export function vmMode(): VmMode {
  if (process.env.VFIO_VM_IOMMU === 'none') return 'noiommu';
  return process.env.VFIO_VM_API === 'iommufd' ? 'iommufd' : 'container';
}

/** openDevice options that open devices through this run's interface (never 'auto': each run pins one). */
export function vmOpenOptions(): OpenOptions {
  const mode = vmMode();
  return mode === 'noiommu' ? { iommu: 'container', unsafeNoIommu: true } : { iommu: mode };
}
