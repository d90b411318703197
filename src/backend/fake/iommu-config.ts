/** What the fake's IOMMU hardware offers, as both the type1 driver and iommufd report it. */
export interface IommuConfig {
  /** Bitmap of IOMMU page sizes (VFIO_IOMMU_GET_INFO iova_pgsizes). */
  pgsizes: bigint;
  /** Usable IOVA ranges, inclusive. */
  ranges: readonly { start: bigint; end: bigint }[];
  /** vfio_iommu_type1's dma_entry_limit. */
  dmaEntryLimit: number;
}
