// PCI configuration space: register layout, capability walking, class names.

export * from './pci-regs.js';
export * from './pci-walk.js';
export * from './pci-class.js';
