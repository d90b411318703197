/** Whether an IOMMU group may be handed to a user for DMA. */
import { driverKeepsGroupViable } from '../../sysfs.js';
import type { KGroup } from './objects.js';

export function groupViable(g: KGroup): boolean {
  // A no-IOMMU group has no DMA owner to claim (iommu_group_dma_owner_claimed is false).
  return g.noiommu || g.devices.every((d) => driverKeepsGroupViable(d.driver));
}
