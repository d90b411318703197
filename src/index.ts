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
 */
export { openDevice, openContext, type OpenOptions } from './open.js';
export { Container, type ContainerOptions, type DmaOptions, type IommuType } from './container.js';
export { Group } from './group.js';
export { Device, type DmaContext } from './device.js';
export { IommufdContext, iommufdUsable, vfioCdevName, type IommufdOptions } from './iommufd.js';
export { DmaSpace, type IommuApi } from './dma-space.js';
export { isNoIommuGroup } from './noiommu.js';
export { Region } from './region.js';
export { ConfigSpace } from './config.js';
export { DmaBuffer } from './dma.js';
export { InterruptSet, InterruptVector, type IrqKind } from './interrupts.js';
export { IovaAllocator, type IovaRange } from './iova.js';
export { VfioError, type VfioErrorInit } from './errors.js';
export {
  normalizePciAddress,
  readPciDevice,
  listPciDevices,
  findPciDevices,
  groupMembers,
  iommuUnits,
  type PciDeviceInfo,
  type SysfsOptions,
} from './sysfs.js';
export type { Backend, EventPoller, HugePages, DmaAllocation } from './backend/backend.js';
export { nativeBackend, defaultBackend } from './backend/native.js';
export {
  listPciDeviceStatus,
  pciDeviceStatus,
  filterPciDevices,
  parsePciIdFilter,
  parseClassFilter,
  pciId,
  groupViability,
  vfioGroupNode,
  vfioGroupUsers,
  readDriverOverride,
  activeNetInterfaces,
  isVfioPciDriver,
  isBridgeClass,
  driverKeepsGroupViable,
  VIABLE_GROUP_DRIVERS,
  bindVfioPci,
  unbindVfioPci,
  type PciDeviceStatus,
  type PciDeviceFilter,
  type GroupViability,
  type VfioNodeUser,
  type BindOptions,
  type BindResult,
  type BindReport,
} from './sysfs.js';
export { runDoctor, doctorFailed, DEFAULT_MEMLOCK_NEEDED, type DoctorCheck, type DoctorStatus, type DoctorOptions, type DoctorUser } from './doctor.js';
export {
  describeDevice,
  describeOpenDevice,
  type DeviceDescription,
  type RegionDescription,
  type IrqDescription,
  type CapabilityDescription,
  type GroupMemberDescription,
} from './cli/describe.js';
