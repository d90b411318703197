// The virtio view of a device for `vfio info`: which virtio device it is and what its modern
// (virtio 1.x) interface offers. Read through the transport without a reset and without a
// status write, so describing a device a driver left running changes nothing it relies on
// (only device_feature_select is written, which no driver keeps state in).
import type { ConfigSpace } from '../model/config.js';
import type { Device } from '../model/device.js';
import {
  VIRTIO_PCI_CAP_BAR,
  VIRTIO_PCI_CAP_CFG_TYPE,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_LENGTH,
  VIRTIO_PCI_CAP_NOTIFY_CFG,
  VIRTIO_PCI_CAP_OFFSET,
  VIRTIO_PCI_CAP_PCI_CFG,
  VIRTIO_PCI_CAP_SHARED_MEMORY_CFG,
  VIRTIO_PCI_CAP_VENDOR_CFG,
  VIRTIO_PCI_NOTIFY_CAP_MULT,
} from '../uapi/virtio.js';
import { VirtioPciTransport } from '../virtio/transport.js';
import { featureNames, statusNames, virtioDeviceName, virtioDeviceType } from '../virtio/names.js';

/** A virtio PCI function, as `vfio info` shows it. */
export interface VirtioDescription {
  /** The virtio device type (1 = net), from the PCI id. */
  readonly type: number;
  /** Its name ('net', 'block', …, or 'type N'). */
  readonly name: string;
  /** 'modern' for a 1.x-only id (0x1040 + type), 'transitional' for 0x1000-0x103f. */
  readonly id: 'modern' | 'transitional';
  /** The 64 feature bits the device offers, as 16 hex digits ('0x…'); absent when unreadable. */
  readonly features?: string;
  /** Their names, lowest bit first ('MAC', 'VERSION_1', …). */
  readonly featureNames?: readonly string[];
  /** num_queues from the common configuration. */
  readonly numQueues?: number;
  /** device_status as found, by name ('0' for a reset device). */
  readonly status?: string;
  /** Why the modern interface could not be read (e.g. ERR_VFIO_VIRTIO_NOT_MODERN). */
  readonly error?: string;
}

/**
 * Describes `dev` as a virtio device, or returns undefined when its PCI id is not virtio's.
 * An error reading the modern interface is reported in `error`, not thrown: `vfio info`
 * still shows the rest of the device.
 */
export function describeVirtio(dev: Device): VirtioDescription | undefined {
  const vendor = dev.config.vendorId;
  const device = dev.config.deviceId;
  const type = virtioDeviceType(vendor, device);
  if (type === undefined) return undefined;
  const base = { type, name: virtioDeviceName(type), id: device >= 0x1040 ? ('modern' as const) : ('transitional' as const) };
  let transport: VirtioPciTransport | undefined;
  try {
    transport = VirtioPciTransport.open(dev);
    const bits = transport.deviceFeatures();
    return {
      ...base,
      features: `0x${bits.toString(16).padStart(16, '0')}`,
      featureNames: featureNames(bits, type),
      numQueues: transport.numQueues,
      status: statusNames(transport.status),
    };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { ...base, error: err.code ? `${err.code}: ${err.message ?? ''}`.trim() : String(err.message ?? e) };
  } finally {
    transport?.close();
  }
}

const CFG_TYPES: Readonly<Record<number, string>> = {
  [VIRTIO_PCI_CAP_COMMON_CFG]: 'virtio common cfg',
  [VIRTIO_PCI_CAP_NOTIFY_CFG]: 'virtio notify',
  [VIRTIO_PCI_CAP_ISR_CFG]: 'virtio ISR',
  [VIRTIO_PCI_CAP_DEVICE_CFG]: 'virtio device cfg',
  [VIRTIO_PCI_CAP_PCI_CFG]: 'virtio PCI cfg access',
  [VIRTIO_PCI_CAP_SHARED_MEMORY_CFG]: 'virtio shared memory',
  [VIRTIO_PCI_CAP_VENDOR_CFG]: 'virtio vendor cfg',
};

/**
 * What a virtio function's vendor-specific capability at `offset` points at, for `vfio info`'s
 * capability list: 'virtio notify, BAR4+0x3000, 4096 bytes, multiplier 4'.
 */
export function virtioCapDetail(config: ConfigSpace, offset: number): string {
  const type = config.read8(offset + VIRTIO_PCI_CAP_CFG_TYPE);
  const name = CFG_TYPES[type] ?? `virtio cfg_type ${type}`;
  // The PCI cfg access capability's fields are its window's registers, not a location.
  if (type === VIRTIO_PCI_CAP_PCI_CFG) return name;
  const bar = config.read8(offset + VIRTIO_PCI_CAP_BAR);
  const at = config.read32(offset + VIRTIO_PCI_CAP_OFFSET) >>> 0;
  const length = config.read32(offset + VIRTIO_PCI_CAP_LENGTH) >>> 0;
  const mult = type === VIRTIO_PCI_CAP_NOTIFY_CFG ? `, multiplier ${config.read32(offset + VIRTIO_PCI_NOTIFY_CAP_MULT) >>> 0}` : '';
  return `${name}, BAR${bar}+0x${at.toString(16)}, ${length} bytes${mult}`;
}
