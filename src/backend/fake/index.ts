// The fake kernel: run VFIO drivers with no IOMMU and no device.
//
//   import { FakeKernel, EduModel } from 'vfio/fake';
//   const kernel = new FakeKernel();
//   kernel.addDevice('0000:00:02.0', new EduModel());
//   const dev = openDevice('0000:00:02.0', kernel.options);

export { FakeKernel, type FakeKernelOptions, type AddDeviceOptions, type RecordedFault } from './kernel.js';
export type { DeviceModel, DeviceBus, BarSpec } from './model.js';
export { ConfigBuilder, type HeaderSpec } from './config.js';
export { EduModel, type EduOptions } from './models/edu.js';
export { E1000eModel, type E1000eModelOptions } from './models/e1000e.js';
export { EthernetHub, FrameTap, wire, type EthernetPort, type EthernetLink, type EthernetHubOptions } from './models/ethernet.js';
