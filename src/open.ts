/**
 * openDevice(): the whole legacy flow for one device, with the checks that turn
 * the usual setup mistakes into errors that say what to do.
 */
import { Container, type ContainerOptions } from './container.js';
import type { Device } from './device.js';
import { VfioError } from './errors.js';
import { VFIO_PCI_DRIVER, bindHint, iommuUnits, readPciDevice } from './sysfs.js';

export type OpenOptions = ContainerOptions;

/**
 * Opens the device at a PCI address ('0000:00:03.0'): finds its IOMMU group in
 * sysfs, opens a container, joins the group (checking viability), picks the
 * IOMMU model and opens the device. Closing the device closes all of it.
 */
export function openDevice(address: string, options: OpenOptions = {}): Device {
  const pci = readPciDevice(address, options);
  const addr = pci.address;
  if (pci.iommuGroup === null) {
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
  if (pci.driver !== VFIO_PCI_DRIVER) {
    throw new VfioError({
      code: 'ERR_VFIO_NOT_BOUND',
      op: 'check driver',
      device: addr,
      group: pci.iommuGroup,
      message: pci.driver ? `the device is bound to ${pci.driver}, not vfio-pci` : 'the device is bound to no driver, not vfio-pci',
      hint: bindHint(addr),
    });
  }
  const container = Container.open(options);
  try {
    const group = container.attachGroup(pci.iommuGroup);
    const device = group.openDevice(addr);
    device.ownContainer();
    return device;
  } catch (e) {
    container.close();
    throw e;
  }
}
