// The native shim's argument checks (native/shim.cc ArgFd/ArgU64/ArgBytes), with
// the same error types and messages, so a malformed call fails the same way on
// both backends and never reaches kernel emulation.
import { UUID_SIZE } from '../uapi/vfio-feature.js';

/**
 * An fd given as a number (never a BigInt) in [0, 2^31), where an ioctl takes one (SET_CONTAINER
 * also takes a handle); `position` counts from 1, as in the message.
 */
export function argFd(fd: unknown, fn: string, position = 1): number {
  if (typeof fd !== 'number') throw new TypeError(`${fn}: argument ${position} (fd) must be a number`);
  if (!(fd >= 0 && fd <= 0x7fffffff) || !Number.isInteger(fd)) throw new RangeError(`${fn}: fd must be an integer in [0, 2^31), got ${fd}`);
  return fd;
}

/**
 * open(2) flags as native/file.cc takes them: O_RDONLY (0) or O_RDWR (2), the only modes the
 * library opens VFIO files with; undefined means O_RDWR. O_CLOEXEC is always added.
 */
export function argOpenFlags(flags: unknown): number {
  if (flags === undefined) return 2;
  if (typeof flags !== 'number') throw new TypeError('open: flags must be a number');
  if (flags !== 0 && flags !== 2)
    throw new RangeError(`open: flags must be only O_RDONLY (0) or O_RDWR (2) (O_CLOEXEC is always added), got ${flags}`);
  return flags;
}

/** The largest count eventfdRead returns as a Number: beyond it a Number would round. */
export const EVENTFD_READ_MAX = 2 ** 53 - 1;

/** eventfdRead's refusal of a larger counter, which stays in the eventfd (as native/eventfd.cc). */
export function eventfdTooLarge(counter: bigint): RangeError {
  return new RangeError(`eventfdRead: the counter ${counter} is above 2^53-1 and cannot be returned exactly; it was left in the eventfd`);
}

/** A non-negative integer below 2^64: a safe-integer number or a BigInt. */
export function argU64(v: unknown, fn: string, name: string): bigint {
  const where = `${fn}: ${name}`;
  if (typeof v === 'bigint') {
    if (v < 0n || v >= 1n << 64n) throw new RangeError(`${where} must be a BigInt in [0, 2^64)`);
    return v;
  }
  if (typeof v === 'number') {
    if (!(v >= 0 && v <= Number.MAX_SAFE_INTEGER) || !Number.isInteger(v))
      throw new RangeError(`${where} must be a non-negative safe integer (or a BigInt), got ${v}`);
    return BigInt(v);
  }
  throw new TypeError(`${where} must be a number or a BigInt`);
}

export function argBytes(v: unknown, fn: string, name: string): Uint8Array {
  if (!ArrayBuffer.isView(v)) throw new TypeError(`${fn}: ${name} must be a Buffer, TypedArray or DataView`);
  if (isDetached(v.buffer)) throw new TypeError(`${fn}: ${name} is backed by a detached (freed) buffer`);
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

// Node 20 lacks ArrayBuffer.prototype.detached; a detached buffer reads as empty, and
// only constructing a view over it tells the two apart.
function isDetached(buffer: ArrayBufferLike): boolean {
  if (buffer.byteLength > 0) return false;
  try {
    new Uint8Array(buffer);
    return false;
  } catch {
    return true;
  }
}

/**
 * bindIommufd's VF token as native/bind.cc takes it: undefined (no token), or a view of exactly
 * UUID_SIZE bytes, copied here as the shim copies it before the kernel reads it.
 */
export function argBindToken(token: unknown): Uint8Array | undefined {
  if (token === undefined) return undefined;
  const bytes = argBytes(token, 'bindIommufd', 'token');
  if (bytes.length !== UUID_SIZE) throw new RangeError(`bindIommufd: token must be ${UUID_SIZE} bytes (a uuid_t), got ${bytes.length}`);
  return bytes.slice();
}

/** The longest device name groupDeviceFd passes on (a PCI name is 12 characters). */
export const DEVICE_NAME_MAX = 64;

const DEVICE_NAME = /^[\x21-\x7e]+$/;
const VF_TOKEN_OPTION = /^ vf_token=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/**
 * VFIO_GROUP_GET_DEVICE_FD's name as native/file.cc takes it: a device name of 1 to
 * DEVICE_NAME_MAX printable characters without spaces, optionally followed by exactly one
 * ` vf_token=<UUID>` (vfio-pci's SR-IOV VF token); nothing else reaches the kernel's parser.
 */
export function argDeviceName(name: unknown): string {
  if (typeof name !== 'string') throw new TypeError('groupDeviceFd: name must be a string');
  if (name.includes('\0')) throw new TypeError('groupDeviceFd: name contains a NUL byte');
  const space = name.indexOf(' ');
  const device = space < 0 ? name : name.slice(0, space);
  if (device.length === 0 || device.length > DEVICE_NAME_MAX || !DEVICE_NAME.test(device))
    throw new TypeError(`groupDeviceFd: the device name must be 1 to ${DEVICE_NAME_MAX} printable characters without spaces`);
  if (space >= 0 && !VF_TOKEN_OPTION.test(name.slice(space)))
    throw new TypeError("groupDeviceFd: after the device name only ' vf_token=<UUID>' may follow (36 characters: 8-4-4-4-12 hex digits)");
  return name;
}
