// Whether an IOMMU group may be handed to a user for DMA, stated from the kernel
// (Linux 6.1 and 6.12 alike) rather than from the library's own sysfs rule, so a
// wrong rule in the library cannot pass conformance on the fake.
//
// Since 5.19 vfio asks the IOMMU core whether anyone has claimed the group's DMA:
// VFIO_GROUP_GET_STATUS reports VIABLE when !iommu_group_dma_owner_claimed()
// (vfio_group_ioctl_get_status, in vfio_main.c in 6.1 and group.c in 6.12), and
// VFIO_GROUP_SET_CONTAINER (vfio_container_attach_group) and the cdev's bind
// (iommufd_device_bind) fail with EPERM in iommu_group_claim_dma_owner() /
// iommu_device_claim_dma_owner() when it is claimed. A bound driver claims it in
// pci_dma_configure() through iommu_device_use_default_domain(), unless the driver
// sets driver_managed_dma; a device with no driver claims nothing. The older
// allow-list (vfio_dev_driver_allowed: "pci-stub", and any bridge whatever its
// driver) went with the iommu group notifier in 5.19, so a bridge bound to, say,
// shpchp now makes its group not viable.
import type { KGroup } from './objects.js';

/**
 * The PCI drivers that set driver_managed_dma: vfio-pci (drivers/vfio/pci/vfio_pci.c),
 * pci-stub (drivers/pci/pci-stub.c), pcieport (drivers/pci/pcie/portdrv*.c), and the
 * vfio-pci variant drivers, named by module (mlx5 and hisi_acc are in 6.1; virtio
 * and nvgrace-gpu came later, before 6.12).
 */
const DRIVER_MANAGED_DMA: ReadonlySet<string> = new Set([
  'vfio-pci',
  'pci-stub',
  'pcieport',
  'mlx5_vfio_pci',
  'hisi_acc_vfio_pci',
  'virtio_vfio_pci',
  'nvgrace_gpu_vfio_pci',
]);

/** A device bound to `driver` (null: none) leaves its group's DMA unclaimed. */
export function leavesDmaUnclaimed(driver: string | null): boolean {
  return driver === null || DRIVER_MANAGED_DMA.has(driver);
}

export function groupViable(g: KGroup): boolean {
  // A no-IOMMU group has no DMA owner to claim (iommu_group_dma_owner_claimed is false).
  return g.noiommu || g.devices.every((d) => leavesDmaUnclaimed(d.driver));
}
