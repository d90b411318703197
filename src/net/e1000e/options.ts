/**
 * The e1000e port's checks of its options and of the device, made before it touches the NIC.
 */
import type { Device } from '../../model/device.js';
import { netError } from '../errors.js';
import type { PacketPool } from '../pool.js';
import * as R from '../../hw/e82574.js';

const MAX_RING = 4096;
const RX_BUFFER_SIZES = [256, 512, 1024, 2048, 4096, 8192, 16384];

/** Checks a ring size: a multiple of 8 descriptors, 8-4096 (else a RangeError). */
export function checkRing(name: string, n: number): number {
  if (!Number.isInteger(n) || n < R.RING_ALIGN_DESCS || n > MAX_RING || n % R.RING_ALIGN_DESCS !== 0)
    throw new RangeError(
      `E1000ePort: ${name} must be a multiple of ${R.RING_ALIGN_DESCS} descriptors (the ring length is a multiple of 128 bytes, §10.2.5/§10.2.6) ` +
        `between ${R.RING_ALIGN_DESCS} and ${MAX_RING}, got ${n}`,
    );
  return n;
}

/** The NIC's receive buffer size: asked for, else the largest RCTL.BSIZE that fits the pool's buffers. */
export function rxBufferSize(asked: number | undefined, pool: PacketPool | undefined): number {
  const size = asked ?? (pool ? [...RX_BUFFER_SIZES].reverse().find((s) => s <= pool.bufferSize) : 2048);
  if (size === undefined || R.rctlBufferSize(size) === undefined)
    throw new RangeError(`E1000ePort: bufferSize must be 256, 512, 1024, 2048, 4096, 8192 or 16384 (RCTL.BSIZE/BSEX), got ${String(size)}`);
  if (pool && size > pool.bufferSize) throw new RangeError(`E1000ePort: bufferSize ${size} exceeds the pool's ${pool.bufferSize}-byte buffers: the NIC would write past them`);
  return size;
}

/** True for the PCI ids this driver takes (82574L, 82574LA). */
export function isE1000e(vendor: number, device: number): boolean {
  return vendor === R.INTEL_VENDOR_ID && R.E82574_DEVICE_IDS.includes(device);
}

/** ERR_VFIO_NET_UNSUPPORTED for a device that is not an 82574. */
export function unsupported(device: Device, vendor: number, id: number, why?: string): Error {
  const hex4 = (n: number) => n.toString(16).padStart(4, '0');
  const classCode = device.config.read32(0x08) >>> 8;
  return netError(
    'ERR_VFIO_NET_UNSUPPORTED',
    'E1000ePort.open',
    why ?? `the device is ${hex4(vendor)}:${hex4(id)} (class 0x${classCode.toString(16).padStart(6, '0')}), not an Intel 82574 (8086:10d3 or 8086:10f6)`,
    { device: device.address },
  );
}
