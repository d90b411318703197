// No-IOMMU mode: vfio-pci without an IOMMU (vfio.enable_unsafe_noiommu_mode=1). Nothing
// translates or confines the device's DMA, so a wrong address in a descriptor can
// overwrite any memory of the machine. The library uses it only when the caller says
// `unsafeNoIommu: true`, and answers `dmaTranslated === false` so a driver can tell.
import { VfioError } from '../errors.js';

/** The error for a no-IOMMU group opened without `unsafeNoIommu: true`: what it risks and how to opt in. */
export function noIommuOptInError(op: string, where: { group?: number; device?: string }): VfioError {
  return new VfioError({
    code: 'ERR_VFIO_NOIOMMU_NOT_ALLOWED',
    op,
    ...where,
    message:
      'this device is in a no-IOMMU group: nothing would translate or confine its DMA, so a bad address ' +
      'in a descriptor could overwrite any memory of the machine (and the kernel is tainted)',
    hint:
      'if that is acceptable (a machine without an IOMMU, root only), pass { unsafeNoIommu: true }; ' +
      'DMA addresses are then physical addresses (check device.dmaTranslated). Otherwise enable the IOMMU ' +
      '(intel_iommu=on / amd_iommu=on) and turn vfio.enable_unsafe_noiommu_mode off',
  });
}
