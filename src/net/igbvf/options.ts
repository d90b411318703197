/**
 * The igbvf port's options and its checks of them and of the device, made before it touches
 * the VF.
 */
import type { Device } from '../../model/device.js';
import { netError } from '../errors.js';
import type { PacketPool } from '../pool.js';
import type { PortOptions } from '../port.js';
import * as R from '../../hw/e82576vf.js';

/** Options of IgbvfPort.open (and openPort on an 82576 VF): the common ones and the VF's own. */
export interface IgbvfPortOptions extends PortOptions {
  /**
   * The station address. Default: the one the PF assigned (an administrator's `ip link set
   * <pf> vf N mac …`), else, as Linux's igbvf does, a random locally administered address
   * the PF is asked to filter on (VF_SET_MAC_ADDR). 'pf': the PF's, or ERR_VFIO_NET_NO_MAC.
   * An address: asked for with VF_SET_MAC_ADDR (the PF refuses it when an administrator set
   * the VF's address: ERR_VFIO_NET_PF_REFUSED).
   */
  mac?: 'pf' | string | Uint8Array;
  /** How long to wait for the PF to acknowledge or answer a mailbox message, in ms (Linux: 1000). */
  mailboxTimeoutMs?: number;
}

const MAX_RING = 4096;

/** Checks a ring size: a multiple of 8 descriptors (the length is in 128-byte units), 8-4096. */
export function checkRing(name: string, n: number): number {
  if (!Number.isInteger(n) || n < R.RING_ALIGN_DESCS || n > MAX_RING || n % R.RING_ALIGN_DESCS !== 0)
    throw new RangeError(
      `IgbvfPort: ${name} must be a multiple of ${R.RING_ALIGN_DESCS} descriptors (RDLEN/TDLEN are multiples of 128 bytes) between ${R.RING_ALIGN_DESCS} and ${MAX_RING}, got ${n}`,
    );
  return n;
}

/** Smallest receive buffer: a whole frame with a VLAN tag (1518 bytes) in one buffer, SRRCTL counting in KiB. */
const MIN_BUFFER = 2048;

/** The receive buffer size SRRCTL is given: asked for (a multiple of 1024, at least 2048), else the pool's buffer size rounded down to KiB. */
export function rxBufferSize(asked: number | undefined, pool: PacketPool | undefined): number {
  const size = asked ?? (pool ? Math.floor(pool.bufferSize / 1024) * 1024 : MIN_BUFFER);
  if (R.srrctlBufferSize(size) === undefined || size < MIN_BUFFER)
    throw new RangeError(`IgbvfPort: bufferSize must be a multiple of 1024 bytes (SRRCTL.BSIZEPKT), at least ${MIN_BUFFER} so a frame fits one buffer, got ${String(size)}`);
  if (pool && size > pool.bufferSize) throw new RangeError(`IgbvfPort: bufferSize ${size} exceeds the pool's ${pool.bufferSize}-byte buffers: the NIC would write past them`);
  return size;
}

/** Checks mailboxTimeoutMs: 1 ms to 60 s. */
export function checkMailboxTimeout(ms: number | undefined): number {
  const t = ms ?? 1000;
  if (typeof t !== 'number' || !(t >= 1 && t <= 60_000)) throw new RangeError(`IgbvfPort: mailboxTimeoutMs must be between 1 and 60000, got ${String(ms)}`);
  return t;
}

/** Parses the mac option: 'pf', undefined, or 6 bytes of a unicast address. */
export function checkMacOption(mac: IgbvfPortOptions['mac']): 'pf' | Uint8Array | undefined {
  if (mac === undefined || mac === 'pf') return mac;
  let bytes: Uint8Array;
  if (typeof mac === 'string') {
    const parts = mac.split(/[:-]/);
    if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{2}$/.test(p))) throw new RangeError(`IgbvfPort: mac must be 'pf' or an address like 52:54:00:12:34:56, got ${JSON.stringify(mac)}`);
    bytes = Uint8Array.from(parts.map((p) => parseInt(p, 16)));
  } else bytes = Uint8Array.from(mac);
  if (bytes.length !== 6 || bytes[0]! & 1 || bytes.every((b) => b === 0)) throw new RangeError('IgbvfPort: mac must be 6 bytes of a unicast address, not zero');
  return bytes;
}

/** True for the PCI ids this driver takes (the 82576 VF). */
export function isIgbvf(vendor: number, device: number): boolean {
  return vendor === R.INTEL_VENDOR_ID && device === R.E82576_VF_DEVICE_ID;
}

/** ERR_VFIO_NET_UNSUPPORTED for a device that is not an 82576 VF (the PF gets a hint). */
export function unsupported(device: Device, vendor: number, id: number, why?: string): Error {
  const hex4 = (n: number): string => n.toString(16).padStart(4, '0');
  const classCode = device.config.read32(0x08) >>> 8;
  const pf = vendor === R.INTEL_VENDOR_ID && id === R.E82576_PF_DEVICE_ID;
  return netError(
    'ERR_VFIO_NET_UNSUPPORTED',
    'IgbvfPort.open',
    why ?? `the device is ${hex4(vendor)}:${hex4(id)} (class 0x${classCode.toString(16).padStart(6, '0')}), not an Intel 82576 virtual function (8086:10ca)`,
    { device: device.address, ...(pf && { hint: 'this is the 82576 PF: leave it to the kernel\'s igb, create VFs (echo N > /sys/bus/pci/devices/<pf>/sriov_numvfs) and open a VF' }) },
  );
}
