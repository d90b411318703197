/**
 * vfio/fake: a fake Linux kernel to run VFIO drivers against with no IOMMU and no device.
 *
 * A {@link FakeKernel} implements the same Backend as the native addon: the legacy
 * container/group/device API, vfio-pci's regions, config space and interrupts, the type1
 * IOMMU (optionally iommufd with device cdevs, or no-IOMMU mode), eventfds, and a sysfs tree
 * in a temporary directory. Device models ({@link EduModel}, {@link E1000eModel}, {@link VirtioNetModel}, or any
 * {@link DeviceModel}) plug in at a PCI address; pass `kernel.options` wherever `vfio` takes
 * options, and the driver code runs unchanged.
 *
 *   import { openDevice } from 'vfio';
 *   import { FakeKernel, EduModel } from 'vfio/fake';
 *   const kernel = new FakeKernel();
 *   kernel.addDevice('0000:00:02.0', new EduModel());
 *   const dev = openDevice('0000:00:02.0', kernel.options);
 *
 * @packageDocumentation
 */
export { FakeKernel, type FakeKernelOptions, type AddDeviceOptions, type RecordedFault } from './kernel.js';
export type { DeviceModel, DeviceBus, BarSpec } from './model.js';
export type { DmaFault } from './memory.js';
export { ConfigBuilder, type HeaderSpec } from './config.js';
export { EduModel, type EduOptions } from './models/edu.js';
export { E1000eModel, type E1000eModelOptions } from './models/e1000e.js';
export { EthernetHub, FrameTap, wire, type EthernetPort, type EthernetLink, type EthernetHubOptions } from './models/ethernet.js';
export { VirtioNetModel, QEMU_VIRTIO_NET_FEATURES, type VirtioNetModelOptions } from './models/virtio-net.js';
