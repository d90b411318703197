// The virtio view of a device for `vfio info`: which virtio device it is and what its modern
// (virtio 1.x) interface offers. Read through the transport without a reset and without a
// status write, so describing a device a driver left running changes nothing it relies on
// (only device_feature_select is written, which no driver keeps state in).
import type { Device } from '../model/device.js';
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
