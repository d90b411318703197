/**
 * openDevice(): the whole flow for one device, with the checks that turn the usual
 * setup mistakes into errors that say what to do. It picks the kernel interface:
 * iommufd + the device cdev when this user can open them, else the legacy container,
 * and a no-IOMMU group only with the explicit opt-in.
 */
import { Container, type ContainerOptions } from './container.js';
import type { Device, DmaContext } from './device.js';
import { VfioError } from './errors.js';
import { IommufdContext, iommufdUsable, requireCdev } from './iommufd.js';
import { isNoIommuGroup, noIommuOptInError } from './noiommu.js';
import { VFIO_PCI_DRIVER, bindHint, iommuUnits, noIommuModeOn, readPciDevice } from './sysfs.js';

export interface OpenOptions extends ContainerOptions {
  /**
   * The kernel interface: 'iommufd' (the device cdev bound to /dev/iommu, Linux 6.6+),
   * 'container' (/dev/vfio/vfio and the group), or 'auto' (the default): iommufd when
   * /dev/iommu and the device's cdev exist and this user can open them, else the container.
   */
  iommu?: 'auto' | 'container' | 'iommufd';
}

function checkIommuOption(iommu: unknown): 'auto' | 'container' | 'iommufd' {
  if (iommu === undefined) return 'auto';
  if (iommu !== 'auto' && iommu !== 'container' && iommu !== 'iommufd')
    throw new TypeError(`openDevice: options.iommu must be 'auto', 'container' or 'iommufd', got ${String(iommu)}`);
  return iommu;
}

/**
 * An empty DMA context to open several devices in (they then share DMA buffers):
 * an IommufdContext or a Container, chosen as openDevice chooses.
 */
export function openContext(options: OpenOptions = {}): DmaContext {
  const iommu = checkIommuOption(options.iommu);
  if (iommu === 'iommufd' || (iommu === 'auto' && !options.unsafeNoIommu && iommufdUsable(options))) return IommufdContext.open(options);
  return Container.open(options);
}

/**
 * Opens the device at a PCI address ('0000:00:03.0'): finds it in sysfs, checks it is
 * bound to vfio-pci, opens an iommufd context (or a container, joining its group and
 * picking the IOMMU model) and opens the device. Closing the device closes all of it.
 */
export function openDevice(address: string, options: OpenOptions = {}): Device {
  const iommu = checkIommuOption(options.iommu);
  const pci = readPciDevice(address, options);
  const addr = pci.address;
  // In no-IOMMU mode vfio makes the group only when vfio-pci binds the device: say that first.
  const notBound = pci.driver !== VFIO_PCI_DRIVER;
  if (pci.iommuGroup === null && !(notBound && noIommuModeOn(options))) {
    const units = iommuUnits(options);
    throw new VfioError({
      code: 'ERR_VFIO_NO_IOMMU',
      op: 'find IOMMU group',
      device: addr,
      message: 'the device has no IOMMU group',
      hint: units.length
        ? `IOMMU units ${units.join(', ')} exist but do not cover this device; check the firmware's DMAR/IVRS tables`
        : 'no IOMMU is enabled: turn on VT-d / AMD-Vi in the firmware and boot with intel_iommu=on (or amd_iommu=on); `dmesg | grep -i -e DMAR -e IOMMU` shows what the kernel found',
    });
  }
  if (notBound) {
    throw new VfioError({
      code: 'ERR_VFIO_NOT_BOUND',
      op: 'check driver',
      device: addr,
      ...(pci.iommuGroup !== null && { group: pci.iommuGroup }),
      message: pci.driver ? `the device is bound to ${pci.driver}, not vfio-pci` : 'the device is bound to no driver, not vfio-pci',
      hint: bindHint(addr),
    });
  }
  const group = pci.iommuGroup!; // bound to vfio-pci, so it has one (the cases without were reported above)
  const noIommu = isNoIommuGroup(group, options);
  if (noIommu && !options.unsafeNoIommu) throw noIommuOptInError('openDevice', { device: addr, group });
  // Asked for iommufd: say why there is no cdev before opening /dev/iommu.
  if (iommu === 'iommufd') requireCdev(pci, options, 'openDevice');
  const viaIommufd = iommu === 'iommufd' || (iommu === 'auto' && !noIommu && iommufdUsable(options, addr));
  const context: DmaContext = viaIommufd ? IommufdContext.open(options) : Container.open(options);
  try {
    const device = context.openDevice(addr);
    device.ownContext();
    return device;
  } catch (e) {
    context.close();
    throw e;
  }
}
