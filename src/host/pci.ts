// PCI discovery from sysfs: addresses, what a device is and which driver holds it. Every
// function takes a `root` so tests (and containers with /sys elsewhere) can point it at
// another tree.
import { readFileSync, readlinkSync, readdirSync, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { VfioError } from '../errors.js';

/** Where the host's /sys and /dev are: every sysfs reader and open takes these. */
export interface SysfsOptions {
  /** Prefix for /sys and /dev (default '/'). */
  root?: string;
}

/** What sysfs says of one PCI device (readPciDevice, listPciDevices). */
export interface PciDeviceInfo {
  /** Canonical 'dddd:bb:dd.f'. */
  readonly address: string;
  /** PCI vendor ID. */
  readonly vendor: number;
  /** PCI device ID. */
  readonly device: number;
  /** 24-bit class code (class, subclass, prog-if). */
  readonly classCode: number;
  /** The bound driver's name, or null when none is bound. */
  readonly driver: string | null;
  /** The IOMMU group number, or null when the device has none (no IOMMU). */
  readonly iommuGroup: number | null;
}

const ADDRESS = /^(?:([0-9a-f]{4}):)?([0-9a-f]{2}):([0-1][0-9a-f])\.([0-7])$/;

/** A directory entry that names a PCI function (sysfs lists other things beside them). */
export const isPciAddress = (name: string): boolean => ADDRESS.test(name);

/** 'bb:dd.f' or 'dddd:bb:dd.f' → 'dddd:bb:dd.f'; anything else is a VfioError. */
export function normalizePciAddress(address: string): string {
  const m = typeof address === 'string' ? ADDRESS.exec(address.trim().toLowerCase()) : null;
  if (!m) {
    throw new VfioError({
      code: 'ERR_VFIO_BAD_ADDRESS',
      op: 'parse PCI address',
      message: `${JSON.stringify(address)} is not a PCI address`,
      hint: "write it as domain:bus:device.function, e.g. '0000:00:03.0' (see `lspci -D`)",
    });
  }
  return `${m[1] ?? '0000'}:${m[2]}:${m[3]}.${m[4]}`;
}

export function sysPath(opts: SysfsOptions | undefined, ...parts: string[]): string {
  return join(opts?.root ?? '/', ...parts);
}

/** The device's directory under /sys/bus/pci/devices. */
export function pciDir(address: string, opts?: SysfsOptions): string {
  return sysPath(opts, 'sys/bus/pci/devices', address);
}

function readHex(path: string): number {
  return Number.parseInt(readFileSync(path, 'utf8').trim(), 16);
}

function linkName(path: string): string | null {
  try {
    return basename(readlinkSync(path));
  } catch {
    return null;
  }
}

/** What sysfs says of one PCI device; a VfioError if there is none at that address. */
export function readPciDevice(address: string, opts?: SysfsOptions): PciDeviceInfo {
  const addr = normalizePciAddress(address);
  const dir = pciDir(addr, opts);
  if (!existsSync(dir)) {
    throw new VfioError({
      code: 'ERR_VFIO_NO_DEVICE',
      op: 'find PCI device',
      device: addr,
      message: `no PCI device at ${addr} (${dir} does not exist)`,
      hint: 'list the devices with `lspci -D` or `vfio ls`; a VF appears only after SR-IOV is enabled',
    });
  }
  const group = linkName(join(dir, 'iommu_group'));
  return {
    address: addr,
    vendor: readHex(join(dir, 'vendor')),
    device: readHex(join(dir, 'device')),
    classCode: readHex(join(dir, 'class')),
    driver: linkName(join(dir, 'driver')),
    iommuGroup: group === null ? null : Number(group),
  };
}

/** Every PCI device in sysfs, in address order; empty when there is no /sys/bus/pci. */
export function listPciDevices(opts?: SysfsOptions): PciDeviceInfo[] {
  const dir = sysPath(opts, 'sys/bus/pci/devices');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => ADDRESS.test(name))
    .sort()
    .map((name) => readPciDevice(name, opts));
}

/** The PCI devices whose vendor and device IDs match those given (an omitted ID matches any). */
export function findPciDevices(match: { vendor?: number; device?: number }, opts?: SysfsOptions): PciDeviceInfo[] {
  return listPciDevices(opts).filter(
    (d) => (match.vendor === undefined || d.vendor === match.vendor) && (match.device === undefined || d.device === match.device),
  );
}


/** Base class 0x06: host, ISA, PCI-to-PCI bridges and the like. */
export function isBridgeClass(classCode: number): boolean {
  return (classCode >>> 16) === 0x06;
}

/** `vendor:device` as lspci writes it: '8086:10d3'. */
export const pciId = (vendor: number, device: number): string =>
  `${vendor.toString(16).padStart(4, '0')}:${device.toString(16).padStart(4, '0')}`;

/** The device's driver_override, or null when none is set. */
export function readDriverOverride(address: string, opts?: SysfsOptions): string | null {
  try {
    const v = readFileSync(join(pciDir(normalizePciAddress(address), opts), 'driver_override'), 'utf8').trim();
    return v === '' || v === '(null)' ? null : v;
  } catch {
    return null;
  }
}

/** Network interfaces of a device that are up (`<dev>/net/<ifname>/operstate`). */
export function activeNetInterfaces(address: string, opts?: SysfsOptions): string[] {
  const dir = join(pciDir(normalizePciAddress(address), opts), 'net');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((ifname) => {
      try {
        return readFileSync(join(dir, ifname, 'operstate'), 'utf8').trim() === 'up';
      } catch {
        return false;
      }
    })
    .sort();
}

export const VFIO_PCI_DRIVER = 'vfio-pci';

/** How to hand a device to vfio-pci, as shell commands. */
export function bindHint(address: string): string {
  return (
    `bind it to vfio-pci: modprobe vfio-pci; ` +
    `echo vfio-pci > /sys/bus/pci/devices/${address}/driver_override; ` +
    `echo ${address} > /sys/bus/pci/devices/${address}/driver/unbind (if bound); ` +
    `echo ${address} > /sys/bus/pci/drivers_probe`
  );
}

/** vfio-pci or one of its vendor variants (`*_vfio_pci`). */
export function isVfioPciDriver(driver: string | null | undefined): boolean {
  return driver === VFIO_PCI_DRIVER || (typeof driver === 'string' && /[-_]vfio[-_]pci$/.test(driver));
}
