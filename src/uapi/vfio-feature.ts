// VFIO_DEVICE_FEATURE (Linux 5.17+) and the one feature this library uses: the SR-IOV VF
// token a PF's owner sets (VFIO_DEVICE_FEATURE_PCI_VF_TOKEN, data: a 16-byte uuid_t).

import { defineStruct } from './struct.js';

export const VFIO_DEVICE_FEATURE_MASK = 0xffff;
export const VFIO_DEVICE_FEATURE_GET = 1 << 16;
export const VFIO_DEVICE_FEATURE_SET = 1 << 17;
export const VFIO_DEVICE_FEATURE_PROBE = 1 << 18;
export const VFIO_DEVICE_FEATURE_PCI_VF_TOKEN = 0;

/** The fixed part; `data[]` follows at offset 8 (16 bytes of uuid_t for PCI_VF_TOKEN). */
export const vfioDeviceFeature = defineStruct('vfio_device_feature', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
]);

/** Bytes of a uuid_t. */
export const UUID_SIZE = 16;
/** Characters of a UUID string, `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (the kernel's UUID_STRING_LEN). */
export const UUID_STRING_LEN = 36;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a UUID string exactly as the kernel's uuid_is_valid() takes it (36 characters, hex and four hyphens). */
export function isUuidString(text: unknown): text is string {
  return typeof text === 'string' && UUID.test(text);
}

/**
 * The 16 bytes of a UUID string in uuid_t order (the kernel's uuid_parse: the hex digit pairs
 * in the order written); null when it is not one.
 */
export function uuidBytes(text: string): Uint8Array | null {
  if (!isUuidString(text)) return null;
  const hex = text.replace(/-/g, '');
  const out = new Uint8Array(UUID_SIZE);
  for (let i = 0; i < UUID_SIZE; i++) out[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** A uuid_t as its lower-case string form. */
export function uuidString(bytes: Uint8Array): string {
  const hex = [...bytes.subarray(0, UUID_SIZE)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The VFIO_DEVICE_FEATURE argument that sets a PF's VF token: SET | PCI_VF_TOKEN with the uuid_t as data. */
export function encodeSetVfToken(uuid: Uint8Array): Uint8Array {
  if (uuid.length !== UUID_SIZE) throw new RangeError(`encodeSetVfToken: a uuid_t is ${UUID_SIZE} bytes, got ${uuid.length}`);
  const bytes = new Uint8Array(vfioDeviceFeature.size + UUID_SIZE);
  vfioDeviceFeature.encode({ argsz: bytes.length, flags: VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PCI_VF_TOKEN }, { bytes });
  bytes.set(uuid, vfioDeviceFeature.size);
  return bytes;
}
