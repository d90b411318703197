/**
 * openPort: a port for a PCI address or an opened Device, the driver chosen by the device's
 * PCI vendor:device id from the table below.
 */
import { openDevice, type OpenOptions } from '../open.js';
import type { Device } from '../model/device.js';
import { netError } from './errors.js';
import type { PortOptions } from './port.js';
import type { PortBase } from './port-base.js';
import { E1000ePort } from './e1000e/port.js';
import { VirtioNetPort } from './virtio-net/port.js';

/** A NIC this package drives: its PCI ids, name, and the driver that opens it. */
export interface NicDriver {
  /** PCI vendor id. */
  vendor: number;
  /** PCI device id. */
  device: number;
  /** The part ('Intel 82574L'). */
  name: string;
  /** The driver's name ('e1000e'). */
  driver: string;
  /** Initialises a port on the opened device. */
  open(device: Device, options: PortOptions): PortBase;
  /** Bytes the driver needs in front of each pool buffer (PacketPool `headroom`; virtio-net: 12). Default 0. */
  headroom?: number;
}

const openE1000e = (device: Device, options: PortOptions): PortBase => E1000ePort.open(device, options);
const openVirtioNet = (device: Device, options: PortOptions): PortBase => VirtioNetPort.open(device, options);

/** The supported NICs, by PCI id. */
export const NIC_DRIVERS: readonly NicDriver[] = [
  { vendor: 0x8086, device: 0x10d3, name: 'Intel 82574L', driver: 'e1000e', open: openE1000e, headroom: 0 },
  { vendor: 0x8086, device: 0x10f6, name: 'Intel 82574LA', driver: 'e1000e', open: openE1000e, headroom: 0 },
  { vendor: 0x1af4, device: 0x1041, name: 'virtio-net, modern', driver: 'virtio-net', open: openVirtioNet, headroom: 12 },
  { vendor: 0x1af4, device: 0x1000, name: 'virtio-net, transitional', driver: 'virtio-net', open: openVirtioNet, headroom: 12 },
];

/** Options of openPort: the driver's options, and how to open the device when given an address. */
export interface OpenPortOptions extends PortOptions, OpenOptions {}

const hex4 = (n: number): string => n.toString(16).padStart(4, '0');

/** The driver for a device's ids, or undefined. */
export function findNicDriver(vendor: number, device: number): NicDriver | undefined {
  return NIC_DRIVERS.find((d) => d.vendor === vendor && d.device === device);
}

/**
 * Opens a port on a NIC: `target` is a PCI address (the device is opened with openDevice and
 * closed with the port) or an opened Device (the caller closes it after the port). The driver
 * comes from NIC_DRIVERS by the device's vendor:device id; a device that is no supported NIC
 * is ERR_VFIO_NET_UNSUPPORTED, naming what it is and what is supported. Otherwise throws what
 * openDevice and the driver's open throw.
 */
export function openPort(target: string | Device, options: OpenPortOptions = {}): PortBase {
  const device = typeof target === 'string' ? openDevice(target, options) : target;
  try {
    const vendor = device.config.vendorId;
    const id = device.config.deviceId;
    const nic = findNicDriver(vendor, id);
    if (!nic) {
      const classCode = device.config.read32(0x08) >>> 8;
      const supported = NIC_DRIVERS.map((d) => `${hex4(d.vendor)}:${hex4(d.device)} (${d.name}, ${d.driver})`).join(', ');
      throw netError('ERR_VFIO_NET_UNSUPPORTED', 'openPort', `the device is ${hex4(vendor)}:${hex4(id)} (class 0x${classCode.toString(16).padStart(6, '0')}), not a NIC this package drives`, {
        device: device.address,
        hint: `supported: ${supported}`,
      });
    }
    const port = nic.open(device, options);
    if (typeof target === 'string') port.ownDevice();
    return port;
  } catch (e) {
    if (typeof target === 'string') device.close();
    throw e;
  }
}
