/**
 * Names for display (`vfio info`, error messages): virtio device types, feature bits and
 * status bits, from the tables in src/uapi/virtio.ts.
 */
import {
  PCI_VENDOR_ID_REDHAT_QUMRANET,
  VIRTIO_CONFIG_S_ACKNOWLEDGE,
  VIRTIO_CONFIG_S_DRIVER,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FAILED,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_FEATURE_NAMES,
  VIRTIO_ID,
  VIRTIO_NET_FEATURE_NAMES,
  VIRTIO_PCI_MODERN_DEVICE_BASE,
  VIRTIO_TRANSITIONAL_IDS,
} from '../uapi/virtio.js';

const TYPE_NAMES = new Map<number, string>(Object.entries(VIRTIO_ID).map(([name, id]) => [id, name]));

/** The virtio device type's name ('net', 'block', …), or `type N` for one not in the table. */
export function virtioDeviceName(type: number): string {
  return TYPE_NAMES.get(type) ?? `type ${type}`;
}

/**
 * The virtio device type of a PCI function from its ids: 0x1040 + type for a modern id,
 * the spec's table for a transitional one (0x1000-0x103f), else undefined (not virtio).
 */
export function virtioDeviceType(vendor: number, device: number): number | undefined {
  if (vendor !== PCI_VENDOR_ID_REDHAT_QUMRANET) return undefined;
  if (device >= VIRTIO_PCI_MODERN_DEVICE_BASE && device <= 0x107f) return device - VIRTIO_PCI_MODERN_DEVICE_BASE;
  return VIRTIO_TRANSITIONAL_IDS[device];
}

/**
 * The names of the bits set in a 64-bit feature word, lowest first: device-independent ones
 * ('VERSION_1'), and for `type` 1 (net) virtio-net's ('MAC'); others as `bit N`.
 */
export function featureNames(bits: bigint, type?: number): string[] {
  const out: string[] = [];
  for (let b = 0; b < 64; b++) {
    if (((bits >> BigInt(b)) & 1n) === 0n) continue;
    const own = type === VIRTIO_ID.net && (b < 24 || b >= 50) ? VIRTIO_NET_FEATURE_NAMES[b] : undefined;
    out.push(own ?? VIRTIO_FEATURE_NAMES[b] ?? `bit ${b}`);
  }
  return out;
}

const STATUS_NAMES: readonly [number, string][] = [
  [VIRTIO_CONFIG_S_ACKNOWLEDGE, 'ACKNOWLEDGE'],
  [VIRTIO_CONFIG_S_DRIVER, 'DRIVER'],
  [VIRTIO_CONFIG_S_FEATURES_OK, 'FEATURES_OK'],
  [VIRTIO_CONFIG_S_DRIVER_OK, 'DRIVER_OK'],
  [VIRTIO_CONFIG_S_NEEDS_RESET, 'DEVICE_NEEDS_RESET'],
  [VIRTIO_CONFIG_S_FAILED, 'FAILED'],
];

/** device_status as names ('ACKNOWLEDGE|DRIVER|…'), '0' for a reset device. */
export function statusNames(status: number): string {
  const names = STATUS_NAMES.filter(([bit]) => status & bit).map(([, n]) => n);
  const rest = status & ~STATUS_NAMES.reduce((a, [bit]) => a | bit, 0);
  if (rest) names.push(`0x${rest.toString(16)}`);
  return names.length ? names.join('|') : '0';
}
