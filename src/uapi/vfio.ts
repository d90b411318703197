// The VFIO uAPI, one file per ioctl family.

export * from './caps.js';
export * from './vfio-group.js';
export * from './vfio-device.js';
export * from './vfio-region.js';
export * from './vfio-irq.js';
export * from './vfio-iommu.js';
export * from './vfio-pci.js';
export * from './vfio-feature.js';
