// openDevice(): the whole flow for one device, with the checks that turn the usual setup
// mistakes into errors that say what to do. It reads sysfs once, then picks the kernel
// interface: iommufd + the device cdev when this user can open them, else the legacy
// container, and a no-IOMMU group only with the explicit opt-in.
import { VfioError } from './errors.js';
import { Container, type ContainerOptions } from './iommu/container.js';
import { IommufdContext, noCdevError } from './iommu/iommufd.js';
import { noIommuOptInError } from './iommu/noiommu.js';
import type { Device } from './model/device.js';
import { cdevUsable, iommufdUsable, iommuUnits, isNoIommuGroup, noIommuModeOn, vfioCdevName } from './host/groups.js';
import { VFIO_PCI_DRIVER, bindHint, readPciDevice } from './host/pci.js';
import { checkVfToken, type VfTokenOption } from './iommu/vf-token.js';

/** Where a device's DMA goes: a legacy container (through a group) or an iommufd IOAS. */
export type DmaContext = Container | IommufdContext;

type IommuChoice = NonNullable<OpenOptions['iommu']>;

/** Options of openDevice and openContext: where to look (sysfs root), which backend, which kernel interface. */
export interface OpenOptions extends ContainerOptions, VfTokenOption {
  /**
   * The kernel interface: 'iommufd' (the device cdev bound to /dev/iommu, Linux 6.6+),
   * 'container' (/dev/vfio/vfio and the group), or 'auto' (the default): iommufd when
   * /dev/iommu and the device's cdev exist and this user can open them, else the container.
   * With a `vfToken`, 'auto' takes the container, which carries a token on every kernel (the
   * cdev bind only on those `vfToken` names).
   */
  iommu?: 'auto' | 'container' | 'iommufd';
}

function checkIommuOption(iommu: unknown): IommuChoice {
  if (iommu === undefined) return 'auto';
  if (iommu !== 'auto' && iommu !== 'container' && iommu !== 'iommufd')
    throw new TypeError(`openDevice: options.iommu must be 'auto', 'container' or 'iommufd', got ${String(iommu)}`);
  return iommu;
}

/**
 * The interface choice, made here alone: iommufd when asked for, or under 'auto' when this
 * user can open /dev/iommu (and, for a device, its cdev), no-IOMMU mode is not in play
 * (no-IOMMU devices have no cdev) and no VF token is to be presented.
 */
function viaIommufd(iommu: IommuChoice, options: OpenOptions, device?: { noIommu: boolean; cdev: string | null; vfToken: boolean }): boolean {
  if (iommu !== 'auto') return iommu === 'iommufd';
  if (device === undefined) return !options.unsafeNoIommu && iommufdUsable(options);
  // Why a VF token takes the container: OpenOptions.iommu.
  return !device.noIommu && !device.vfToken && cdevUsable(options, device.cdev);
}

/**
 * An empty DMA context to open several devices in (they then share DMA buffers):
 * an IommufdContext or a Container, chosen as openDevice chooses.
 */
export function openContext(options: OpenOptions = {}): DmaContext {
  return viaIommufd(checkIommuOption(options.iommu), options) ? IommufdContext.open(options) : Container.open(options);
}

/**
 * Opens the device at a PCI address ('0000:00:03.0'): finds it in sysfs, checks it is
 * bound to vfio-pci, opens an iommufd context (or a container, joining its group and
 * picking the IOMMU model) and opens the device. Closing the device closes all of it.
 *
 * Throws a VfioError that says what to do: ERR_VFIO_BAD_ADDRESS, ERR_VFIO_NO_DEVICE (no
 * such device in sysfs), ERR_VFIO_NO_IOMMU (no IOMMU group), ERR_VFIO_NOT_BOUND (not bound to
 * vfio-pci), ERR_VFIO_NOIOMMU_NOT_ALLOWED (a no-IOMMU group without `unsafeNoIommu`),
 * ERR_VFIO_NO_CDEV (iommufd asked for, no cdev), ERR_VFIO_GROUP_NOT_VIABLE (another device
 * of the group is bound to a host driver), for SR-IOV VFs ERR_VFIO_VF_TOKEN_REQUIRED,
 * ERR_VFIO_VF_TOKEN_MISMATCH, ERR_VFIO_VF_TOKEN_UNUSED and ERR_VFIO_VF_TOKEN_IOMMUFD (see
 * `vfToken`), or the kernel's errno for the open or ioctl that failed (EACCES, EBUSY, …) with
 * a hint. A `vfToken` that is not a UUID string is a TypeError.
 */
export function openDevice(address: string, options: OpenOptions = {}): Device {
  const iommu = checkIommuOption(options.iommu);
  const vfToken = checkVfToken('openDevice', options.vfToken);
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
  const cdev = vfioCdevName(addr, options);
  // Asked for iommufd: say why there is no cdev before opening /dev/iommu.
  if (iommu === 'iommufd' && cdev === null) throw noCdevError(pci, options, 'openDevice');
  const iommufd = viaIommufd(iommu, options, { noIommu, cdev, vfToken: vfToken !== undefined });
  const context: DmaContext = iommufd ? IommufdContext.open(options) : Container.open(options);
  try {
    // viaIommufd is true only with a cdev.
    const device = context instanceof IommufdContext ? context.openPciDevice(pci, cdev!, vfToken) : context.openPciDevice(pci, noIommu, { vfToken });
    device.ownContext();
    return device;
  } catch (e) {
    context.close();
    throw e;
  }
}
