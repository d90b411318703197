/**
 * vfio: user-level PCI drivers in TypeScript through Linux VFIO.
 *
 *   const dev = openDevice('0000:00:03.0');
 *   dev.config.setBusMaster();
 *   const bar0 = dev.bar(0);
 *   bar0.read32(0x00);
 *   const buf = dev.allocDma(4096);          // buf.iova for the device, buf.bytes for you
 *   const irq = dev.enableInterrupts('msi');
 *   await irq.vector.wait(1000);
 *   dev.close();
 *
 * @packageDocumentation
 */
export { openDevice, openContext, type OpenOptions, type DmaContext } from './open.js';
export { Container, type ContainerOptions, type DmaOptions, type IommuType } from './iommu/container.js';
export { Group } from './iommu/group.js';
export type { GroupDeviceHost } from './iommu/group.js';
export { IommufdContext, type IommufdOptions } from './iommu/iommufd.js';
export type { IommufdDeviceHost } from './iommu/iommufd.js';
export { Device, type DeviceEvents } from './model/device.js';
export type { DeviceHost, DeviceHosts, KnownDeviceHost } from './model/device-host.js';
export { DmaSpace, type IommuApi, type DmaAccess } from './model/dma-space.js';
export { Region } from './model/region.js';
export { ConfigSpace } from './model/config.js';
export { DmaBuffer } from './model/dma.js';
export { InterruptSet, InterruptVector, type IrqKind, type IrqIndexName, type InterruptVectorEvents } from './model/interrupts.js';
export { IovaAllocator, type IovaRange } from './model/iova.js';
export { VfioError, type VfioErrorInit } from './errors.js';
export { normalizePciAddress, readPciDevice, listPciDevices, findPciDevices, pciId, readDriverOverride, activeNetInterfaces, isVfioPciDriver, isBridgeClass, type PciDeviceInfo, type SysfsOptions } from './host/pci.js';
export {
  groupMembers,
  iommuUnits,
  groupViability,
  vfioGroupNode,
  driverKeepsGroupViable,
  VIABLE_GROUP_DRIVERS,
  isNoIommuGroup,
  iommufdUsable,
  vfioCdevName,
  type GroupViability,
} from './host/groups.js';
export { listPciDeviceStatus, pciDeviceStatus, filterPciDevices, parsePciIdFilter, parseClassFilter, type PciDeviceStatus, type PciDeviceFilter } from './host/status.js';
export { vfioGroupUsers, type VfioNodeUser } from './host/procfs.js';
export { sriovInfo, listVfs, physfnOf, isSriovPf, vfTokenNeeded, type SriovInfo, type VfInfo } from './host/sriov.js';
export { enableSriov, disableSriov, type SriovOptions } from './host/sriov-enable.js';
export type { VfTokenOption } from './iommu/vf-token.js';
export { bindVfioPci, unbindVfioPci, type BindOptions, type BindResult, type BindReport } from './host/bind.js';
export type { Backend, EventPoller, FdHandle, FileKind, HugePages, DmaAllocation, IoasRanges, EventCallback } from './backend/backend.js';
export { nativeBackend, defaultBackend } from './backend/native.js';
export { runDoctor, doctorFailed, DEFAULT_MEMLOCK_NEEDED, type DoctorCheck, type DoctorStatus, type DoctorOptions, type DoctorUser } from './admin/doctor.js';
export {
  describeDevice,
  describeOpenDevice,
  type DeviceDescription,
  type RegionDescription,
  type IrqDescription,
  type CapabilityDescription,
  type GroupMemberDescription,
} from './admin/describe.js';
export type { VirtioDescription } from './admin/describe-virtio.js';
