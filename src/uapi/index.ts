// Kernel ABI facts for VFIO and PCI: constants, struct layouts, codecs.
// Pure data and arithmetic, no I/O, so it is safe to import anywhere.

export * from './struct.js';
export * from './ioctl.js';
export * from './vfio.js';
export * from './iommufd.js';
export * from './pci.js';
