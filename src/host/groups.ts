// IOMMU groups as sysfs and /dev show them: members, viability, the group's /dev/vfio
// node, no-IOMMU mode and the device cdev.
import { accessSync, constants, existsSync, readFileSync, readdirSync } from 'node:fs';
import { VfioError } from '../errors.js';
import { VFIO_PCI_DRIVER, isPciAddress, isVfioPciDriver, normalizePciAddress, readPciDevice, sysPath, type PciDeviceInfo, type SysfsOptions } from './pci.js';

/** The PCI devices in an IOMMU group (bridges included). */
export function groupMembers(group: number, opts?: SysfsOptions): PciDeviceInfo[] {
  const dir = sysPath(opts, 'sys/kernel/iommu_groups', String(group), 'devices');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => isPciAddress(name))
    .sort()
    .map((name) => readPciDevice(name, opts));
}

/** IOMMU units the kernel registered (dmar0, ivhd0, virtio-iommu …); empty when the IOMMU is off. */
export function iommuUnits(opts?: SysfsOptions): string[] {
  const dir = sysPath(opts, 'sys/class/iommu');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** 'addr (driver), …' for messages that name a group's members. */
export function describeMembers(members: readonly PciDeviceInfo[]): string {
  return members.map((m) => `${m.address} (${m.driver ?? 'no driver'})`).join(', ');
}

/**
 * Drivers that leave an IOMMU group viable: vfio-pci itself and the drivers the
 * kernel marks driver_managed_dma (pcieport, pci-stub). vfio-pci variant drivers
 * (mlx5_vfio_pci, hisi_acc_vfio_pci …) count as vfio-pci.
 */
export const VIABLE_GROUP_DRIVERS: ReadonlySet<string> = new Set([VFIO_PCI_DRIVER, 'pcieport', 'pci-stub']);

/** True when a member bound to `driver` (null: none) keeps its group viable. */
export function driverKeepsGroupViable(driver: string | null): boolean {
  return driver === null || VIABLE_GROUP_DRIVERS.has(driver) || isVfioPciDriver(driver);
}


/** Whether an IOMMU group can be used for VFIO now, as sysfs tells (groupViability). */
export interface GroupViability {
  /** The IOMMU group number. */
  readonly group: number;
  /** Every member is bound to vfio-pci, a bridge driver or to no driver. */
  readonly viable: boolean;
  /** Every PCI device in the group, bridges included. */
  readonly members: readonly PciDeviceInfo[];
  /** The members whose driver makes the group unusable for VFIO. */
  readonly blockers: readonly PciDeviceInfo[];
}

/**
 * Reads an IOMMU group's members and their drivers from sysfs: the group is viable when each
 * is unbound, bound to vfio-pci (or a variant), or to a driver that leaves DMA alone
 * (VIABLE_GROUP_DRIVERS). The kernel's VFIO_GROUP_GET_STATUS has the last word.
 */
export function groupViability(group: number, opts?: SysfsOptions): GroupViability {
  const members = groupMembers(group, opts);
  const blockers = members.filter((m) => !driverKeepsGroupViable(m.driver));
  return { group, viable: blockers.length === 0, members, blockers };
}

/** The error for a group that cannot be used yet, naming the members in the way. */
export function groupNotViableError(v: GroupViability, op: string, device?: string): VfioError {
  return new VfioError({
    code: 'ERR_VFIO_GROUP_NOT_VIABLE',
    op,
    group: v.group,
    ...(device !== undefined && { device }),
    message: `group ${v.group} is not viable: not all of its devices are bound to vfio-pci (or unbound)`,
    hint: v.blockers.length
      ? `unbind or bind to vfio-pci: ${describeMembers(v.blockers)}; the group holds ${describeMembers(v.members)}`
      : `the group holds ${describeMembers(v.members)}`,
  });
}

/**
 * The group's node as the kernel names it ('/dev/vfio/5', or '/dev/vfio/noiommu-5'
 * in no-IOMMU mode), or null when it does not exist (no device of the group is
 * bound to vfio-pci yet). The path is the one on the target system: join it
 * with `root` (sysPath) to reach it from here.
 */
export function vfioGroupNode(group: number, opts?: SysfsOptions): string | null {
  for (const name of [String(group), `noiommu-${group}`]) {
    if (existsSync(sysPath(opts, 'dev/vfio', name))) return `/dev/vfio/${name}`;
  }
  return null;
}

/** vfio.enable_unsafe_noiommu_mode is on: devices without an IOMMU get a group once bound to vfio-pci. */
export function noIommuModeOn(opts: SysfsOptions | undefined): boolean {
  try {
    return /^[Y1]/.test(readFileSync(sysPath(opts, 'sys/module/vfio/parameters/enable_unsafe_noiommu_mode'), 'utf8'));
  } catch {
    return false;
  }
}

/** vfio names the groups it invents for devices without an IOMMU 'vfio-noiommu'; their node is /dev/vfio/noiommu-N. */
export function isNoIommuGroup(group: number, opts?: SysfsOptions): boolean {
  try {
    if (readFileSync(sysPath(opts, 'sys/kernel/iommu_groups', String(group), 'name'), 'utf8').trim() === 'vfio-noiommu') return true;
  } catch {
    // no name file: a real IOMMU group on kernels that do not name them
  }
  return existsSync(sysPath(opts, 'dev/vfio', `noiommu-${group}`)) && !existsSync(sysPath(opts, 'dev/vfio', String(group)));
}

/**
 * The device's cdev name ('vfio3'), or null when it has none. Since 6.1 sysfs lists every
 * vfio device under <device>/vfio-dev/vfioN, but only kernels with VFIO_DEVICE_CDEV (6.6+)
 * give it a node in /dev/vfio/devices.
 */
export function vfioCdevName(address: string, opts?: SysfsOptions): string | null {
  try {
    const names = readdirSync(sysPath(opts, 'sys/bus/pci/devices', normalizePciAddress(address), 'vfio-dev'));
    return names.find((n) => /^vfio\d+$/.test(n) && existsSync(sysPath(opts, 'dev/vfio/devices', n))) ?? null;
  } catch {
    return null;
  }
}

function usable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** True when this user can open /dev/iommu and, if given, the device's cdev. */
export function iommufdUsable(opts?: SysfsOptions, address?: string): boolean {
  if (address === undefined) return usable(sysPath(opts, 'dev/iommu'));
  return cdevUsable(opts, vfioCdevName(address, opts));
}

/** True when this user can open /dev/iommu and the cdev `cdev` (null: the device has none). */
export function cdevUsable(opts: SysfsOptions | undefined, cdev: string | null): boolean {
  return usable(sysPath(opts, 'dev/iommu')) && cdev !== null && usable(sysPath(opts, 'dev/vfio/devices', cdev));
}
