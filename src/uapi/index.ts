/**
 * vfio/uapi: the kernel ABI of VFIO, iommufd and PCI as data: ioctl request numbers, the
 * constants of `<linux/vfio.h>`, `<linux/iommufd.h>`, `<linux/pci_regs.h>` and the virtio
 * headers (`<linux/virtio_pci.h>`, `virtio_config.h`, `virtio_ring.h`, `virtio_net.h`) under their
 * kernel names, struct layouts ({@link defineStruct}) with encoders and decoders for the
 * ioctl arguments, capability-chain walkers, and PCI class names. Pure data and arithmetic,
 * no I/O, so it is safe to import anywhere (and needs no native addon).
 *
 * The constants carry no comments of their own: they mean what the kernel header that
 * names them says.
 *
 * @packageDocumentation
 */
export * from './struct.js';
export * from './ioctl.js';
export * from './vfio.js';
export * from './iommufd.js';
export * from './pci.js';
export * from './virtio.js';
