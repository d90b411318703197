// VFIO_DEVICE_GET_INFO.

import { readCapChain, type CapRef } from './caps.js';
import { defineStruct } from './struct.js';

export const VFIO_DEVICE_FLAGS_RESET = 1 << 0;
export const VFIO_DEVICE_FLAGS_PCI = 1 << 1;
export const VFIO_DEVICE_FLAGS_PLATFORM = 1 << 2;
export const VFIO_DEVICE_FLAGS_AMBA = 1 << 3;
export const VFIO_DEVICE_FLAGS_CCW = 1 << 4;
export const VFIO_DEVICE_FLAGS_AP = 1 << 5;
export const VFIO_DEVICE_FLAGS_FSL_MC = 1 << 6;
export const VFIO_DEVICE_FLAGS_CAPS = 1 << 7;
/** Newer than the 6.1 uAPI (AMD CDX bus); absent from older headers. */
export const VFIO_DEVICE_FLAGS_CDX = 1 << 8;

// cap_offset was a later addition (for s390 zPCI caps); kernels accept any
// argsz that reaches num_irqs, so asking with the full size is safe on old ones.
export const vfioDeviceInfo = defineStruct('vfio_device_info', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['num_regions', 'u32'],
  ['num_irqs', 'u32'],
  ['cap_offset', 'u32'],
]);

/** The VFIO_DEVICE_GET_INFO argument: a zeroed buffer of `argsz` bytes (at least the fixed struct), argsz set. */
export function encodeDeviceInfoQuery(argsz: number = vfioDeviceInfo.size): Uint8Array {
  return vfioDeviceInfo.encode({ argsz }, { bytes: new Uint8Array(Math.max(argsz, vfioDeviceInfo.size)) });
}

/** VFIO_DEVICE_GET_INFO, decoded. */
export interface DeviceInfo {
  /** Bytes the kernel needs; larger than the buffer means retry with this size to see the caps. */
  readonly argsz: number;
  /** VFIO_DEVICE_FLAGS_* bits: the bus (PCI, platform, …), RESET, CAPS. */
  readonly flags: number;
  /** Regions the device has (vfio-pci: 9, more with device-specific regions). */
  readonly numRegions: number;
  /** IRQ indexes the device has (vfio-pci: 5). */
  readonly numIrqs: number;
  /** Device caps are bus specific (only s390 zPCI defines any), so they are handed back raw. */
  readonly caps: readonly CapRef[];
}

/** Decodes the VFIO_DEVICE_GET_INFO argument after the ioctl, with the capability chain when it fit in the buffer. */
export function decodeDeviceInfo(bytes: Uint8Array): DeviceInfo {
  const d = vfioDeviceInfo.decode(bytes);
  const chained = (d.flags & VFIO_DEVICE_FLAGS_CAPS) !== 0 && d.argsz <= bytes.length;
  return {
    argsz: d.argsz,
    flags: d.flags,
    numRegions: d.num_regions,
    numIrqs: d.num_irqs,
    caps: chained ? readCapChain(bytes, d.cap_offset, vfioDeviceInfo.size) : [],
  };
}
