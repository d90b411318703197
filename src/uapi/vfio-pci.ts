// vfio-pci specifics: fixed region/IRQ indices and bus hot reset.

import { defineStruct } from './struct.js';

export const VFIO_PCI_BAR0_REGION_INDEX = 0;
export const VFIO_PCI_BAR1_REGION_INDEX = 1;
export const VFIO_PCI_BAR2_REGION_INDEX = 2;
export const VFIO_PCI_BAR3_REGION_INDEX = 3;
export const VFIO_PCI_BAR4_REGION_INDEX = 4;
export const VFIO_PCI_BAR5_REGION_INDEX = 5;
export const VFIO_PCI_ROM_REGION_INDEX = 6;
export const VFIO_PCI_CONFIG_REGION_INDEX = 7;
/** Legacy VGA I/O and 0xa0000 memory, only on VGA-class devices. */
export const VFIO_PCI_VGA_REGION_INDEX = 8;
/** Indices from here on are device specific and identified by their TYPE capability. */
export const VFIO_PCI_NUM_REGIONS = 9;

export const VFIO_PCI_INTX_IRQ_INDEX = 0;
export const VFIO_PCI_MSI_IRQ_INDEX = 1;
export const VFIO_PCI_MSIX_IRQ_INDEX = 2;
/** AER error notification, an eventfd only. */
export const VFIO_PCI_ERR_IRQ_INDEX = 3;
/** The host asks for the device back (unbind); the driver should release it. */
export const VFIO_PCI_REQ_IRQ_INDEX = 4;
export const VFIO_PCI_NUM_IRQS = 5;

/**
 * vfio-pci places region N at N << 40 in the device fd. This is a kernel
 * implementation detail, absent from the uAPI headers: the offset reported by
 * GET_REGION_INFO is authoritative and this is only a fallback for tests.
 */
export const VFIO_PCI_OFFSET_SHIFT = 40;

/** Where vfio-pci puts region `index` in the device fd (index << VFIO_PCI_OFFSET_SHIFT); a fallback, see there. */
export function vfioPciRegionOffset(index: number): bigint {
  return BigInt(index) << BigInt(VFIO_PCI_OFFSET_SHIFT);
}

export const vfioPciDependentDevice = defineStruct('vfio_pci_dependent_device', [
  ['group_id', 'u32'],
  ['segment', 'u16'],
  ['bus', 'u8'],
  ['devfn', 'u8'],
]);

/** Followed by `count` vfio_pci_dependent_device entries. */
export const vfioPciHotResetInfo = defineStruct('vfio_pci_hot_reset_info', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['count', 'u32'],
]);

/** Followed by `count` s32 group fds that together own every affected device. */
export const vfioPciHotReset = defineStruct('vfio_pci_hot_reset', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['count', 'u32'],
]);

/**
 * The VFIO_DEVICE_GET_PCI_HOT_RESET_INFO argument: `argsz` bytes (room for the entries),
 * argsz set. A RangeError when `argsz` is below the fixed struct's size.
 */
export function encodeHotResetInfoQuery(argsz: number = vfioPciHotResetInfo.size): Uint8Array {
  if (argsz < vfioPciHotResetInfo.size) {
    throw new RangeError(`vfio_pci_hot_reset_info: argsz ${argsz} < ${vfioPciHotResetInfo.size}`);
  }
  return vfioPciHotResetInfo.encode({ argsz }, { bytes: new Uint8Array(argsz) });
}

/** A device a hot reset would touch (struct vfio_pci_dependent_device). */
export interface PciDependentDevice {
  /** Its IOMMU group; its iommufd device id instead when VFIO_PCI_HOT_RESET_FLAG_DEV_ID is set. */
  readonly groupId: number;
  /** PCI segment (domain). */
  readonly segment: number;
  /** PCI bus number. */
  readonly bus: number;
  /** Device and function: slot << 3 | function (pciSlot, pciFunc). */
  readonly devfn: number;
}

/** VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, decoded. */
export interface HotResetInfo {
  /**
   * Derived from count. A short buffer makes the ioctl fail with ENOSPC
   * while still writing count (argsz is left alone), so this is the size to
   * retry with.
   */
  readonly argsz: number;
  /** VFIO_PCI_HOT_RESET_FLAG_* bits (DEV_ID, DEV_ID_OWNED). */
  readonly flags: number;
  /** How many devices the reset touches. */
  readonly count: number;
  /** Empty unless all `count` entries fit in the buffer. */
  readonly devices: readonly PciDependentDevice[];
}

/** Decodes the VFIO_DEVICE_GET_PCI_HOT_RESET_INFO argument, also after an ENOSPC failure (to learn `argsz`). */
export function decodeHotResetInfo(bytes: Uint8Array): HotResetInfo {
  const h = vfioPciHotResetInfo.decode(bytes);
  const elem = vfioPciDependentDevice.size;
  const argsz = vfioPciHotResetInfo.size + h.count * elem;
  const devices: PciDependentDevice[] = [];
  if (argsz <= bytes.length) {
    for (let i = 0; i < h.count; i++) {
      const d = vfioPciDependentDevice.decode(bytes, vfioPciHotResetInfo.size + i * elem);
      devices.push({ groupId: d.group_id, segment: d.segment, bus: d.bus, devfn: d.devfn });
    }
  }
  return { argsz, flags: h.flags, count: h.count, devices };
}

/**
 * The VFIO_DEVICE_PCI_HOT_RESET argument with the group fds that prove ownership (none for
 * iommufd-opened devices). A RangeError for a value that is not a file descriptor.
 */
export function encodeHotReset(groupFds: Int32Array | readonly number[]): Uint8Array {
  const head = vfioPciHotReset.size;
  const bytes = new Uint8Array(head + 4 * groupFds.length);
  const view = new DataView(bytes.buffer, head);
  for (let i = 0; i < groupFds.length; i++) {
    const fd = groupFds[i] as number;
    if (!Number.isInteger(fd) || fd < 0 || fd > 0x7fffffff) {
      throw new RangeError(`vfio_pci_hot_reset.group_fds[${i}]: ${fd} is not a file descriptor`);
    }
    view.setInt32(4 * i, fd, true);
  }
  return vfioPciHotReset.encode({ argsz: bytes.length, count: groupFds.length }, { bytes });
}
