/**
 * The virtio-net port's checks of its options and of the device, made before it touches the
 * device (ring sizes against the device's offer come later, in setup).
 */
import type { Device } from '../../model/device.js';
import { PCI_VENDOR_ID_REDHAT_QUMRANET, VIRTIO_ID, VIRTIO_NET_HDR_V1_SIZEOF } from '../../uapi/virtio.js';
import { virtioDeviceName, virtioDeviceType } from '../../virtio/names.js';
import { netError } from '../errors.js';
import type { PacketPool } from '../pool.js';

/** The PCI device ids of virtio-net: modern (1af4:1041) and transitional (1af4:1000). */
export const VIRTIO_NET_DEVICE_IDS: readonly number[] = [0x1041, 0x1000];

/**
 * Smallest receive buffer without MRG_RXBUF: a whole frame must fit one buffer. Linux's
 * GOOD_PACKET_LEN: Ethernet header, a VLAN tag and a 1500-byte payload.
 */
export const MIN_BUFFER = 14 + 4 + 1500;

/** Checks a ring size option: a power of two in [2, 32768] (split queues; the device's maximum is checked later). */
export function checkQueueSize(name: string, n: number | undefined): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isInteger(n) || n < 2 || n > 32768 || (n & (n - 1)) !== 0)
    throw new RangeError(`VirtioNetPort: ${name} must be a power of two between 2 and 32768 (a split virtqueue's size), got ${n}`);
  return n;
}

/** Checks a given pool: room for the 12-byte header in front of each buffer, and a whole frame in each. */
export function checkPool(pool: PacketPool): void {
  if (pool.headroom < VIRTIO_NET_HDR_V1_SIZEOF || pool.headroom % 4 !== 0)
    throw new RangeError(
      `VirtioNetPort: the pool's headroom is ${pool.headroom} bytes; virtio-net puts its ${VIRTIO_NET_HDR_V1_SIZEOF}-byte header in front of each frame: ` +
        `create the pool with { headroom: ${VIRTIO_NET_HDR_V1_SIZEOF} } (or a larger multiple of 4)`,
    );
  checkBufferSize(pool.bufferSize);
}

/** Checks a buffer size: a whole frame (MIN_BUFFER bytes or more) fits one buffer. */
export function checkBufferSize(size: number): number {
  if (!Number.isInteger(size) || size < MIN_BUFFER || size > 65536)
    throw new RangeError(`VirtioNetPort: bufferSize must be an integer of at least ${MIN_BUFFER} bytes (without MRG_RXBUF a frame must fit one buffer), got ${size}`);
  return size;
}

/** True for the PCI ids this driver takes. */
export function isVirtioNet(vendor: number, device: number): boolean {
  return vendor === PCI_VENDOR_ID_REDHAT_QUMRANET && VIRTIO_NET_DEVICE_IDS.includes(device);
}

/** ERR_VFIO_NET_UNSUPPORTED for a device that is not virtio-net (naming the virtio type, when it is virtio). */
export function unsupported(device: Device, vendor: number, id: number): Error {
  const hex4 = (n: number): string => n.toString(16).padStart(4, '0');
  const type = virtioDeviceType(vendor, id);
  const what =
    type === undefined
      ? `class 0x${(device.config.read32(0x08) >>> 8).toString(16).padStart(6, '0')}`
      : `virtio ${virtioDeviceName(type)}${type === VIRTIO_ID.net ? ' (legacy-only id)' : ''}`;
  return netError('ERR_VFIO_NET_UNSUPPORTED', 'VirtioNetPort.open', `the device is ${hex4(vendor)}:${hex4(id)} (${what}), not a virtio-net device (1af4:1041 or 1af4:1000)`, {
    device: device.address,
  });
}
