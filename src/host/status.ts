// What `vfio ls` shows of each device, and the filters it takes.
import { pciClassName } from '../uapi/pci-class.js';
import { groupViability, vfioGroupNode } from './groups.js';
import { isSriovPf, listVfs, physfnOf, sriovInfo } from './sriov.js';
import { listPciDevices, pciId, readDriverOverride, readPciDevice, type PciDeviceInfo, type SysfsOptions } from './pci.js';

/** A PCI device with everything `vfio ls` shows of it (pciDeviceStatus). */
export interface PciDeviceStatus extends PciDeviceInfo {
  /** 'vvvv:dddd' in lower-case hex, as lspci -n prints it. */
  readonly id: string;
  /** From the class code: 'Ethernet controller', 'Non-volatile memory controller' … */
  readonly className: string;
  /** The driver_override set in sysfs (the driver the next probe will bind), or null. */
  readonly driverOverride: string | null;
  /** Whether the IOMMU group is viable for VFIO; null without a group. */
  readonly groupViable: boolean | null;
  /** The other members of the group. */
  readonly groupPeers: readonly PciDeviceInfo[];
  /** '/dev/vfio/N' when it exists. */
  readonly vfioNode: string | null;
  /** An SR-IOV PF: how many VFs it offers and has, and their addresses; null otherwise. */
  readonly sriov: {
    /** sriov_totalvfs. */
    readonly totalVfs: number;
    /** sriov_numvfs. */
    readonly numVfs: number;
    /** The enabled VFs, VF 0 first. */
    readonly vfs: readonly string[];
  } | null;
  /** A VF: its PF and its number there; null otherwise. */
  readonly physfn: {
    /** The PF's address. */
    readonly address: string;
    /** virtfnN under the PF. */
    readonly index: number;
  } | null;
}

/** One device with everything `vfio ls` shows. */
export function pciDeviceStatus(address: string, opts?: SysfsOptions): PciDeviceStatus {
  const d = readPciDevice(address, opts);
  const v = d.iommuGroup === null ? null : groupViability(d.iommuGroup, opts);
  return {
    ...d,
    id: pciId(d.vendor, d.device),
    className: pciClassName(d.classCode),
    driverOverride: readDriverOverride(d.address, opts),
    groupViable: v ? v.viable : null,
    groupPeers: v ? v.members.filter((m) => m.address !== d.address) : [],
    vfioNode: d.iommuGroup === null ? null : vfioGroupNode(d.iommuGroup, opts),
    sriov: sriovStatus(d.address, opts),
    physfn: physfnStatus(d.address, opts),
  };
}

function sriovStatus(address: string, opts: SysfsOptions | undefined): PciDeviceStatus['sriov'] {
  if (!isSriovPf(address, opts)) return null;
  const s = sriovInfo(address, opts);
  return s && { totalVfs: s.totalVfs, numVfs: s.numVfs, vfs: s.vfs.map((v) => v.address) };
}

function physfnStatus(address: string, opts: SysfsOptions | undefined): PciDeviceStatus['physfn'] {
  const pf = physfnOf(address, opts);
  if (pf === null) return null;
  const index = listVfs(pf, opts).find((v) => v.address === address)?.index ?? -1;
  return { address: pf, index };
}

/** Which devices to keep (filterPciDevices, `vfio ls`); every given criterion must match. */
export interface PciDeviceFilter {
  /**
   * A class: hex digits matched as a prefix of the 6-digit class code ('02',
   * '0200', '0x010802'), or words matched against the class names
   * ('network', 'ethernet', 'nvme', 'storage'), case-insensitively.
   */
  class?: string;
  /** 'vvvv:dddd', 'vvvv:', ':dddd' or 'vvvv' (hex), as `lspci -d`. */
  id?: string;
  /** Only devices bound to this driver ('none' for unbound ones). */
  driver?: string;
}

/** Parses a `lspci -d`-style 'vvvv:dddd' filter; a RangeError for anything else. */
export function parsePciIdFilter(text: string): {
  /** The vendor ID; absent when the filter leaves it open ('*' or ':dddd'). */
  vendor?: number;
  /** The device ID; absent when the filter leaves it open. */
  device?: number;
} {
  const m = /^\s*([0-9a-f]{1,4}|\*)?(?::([0-9a-f]{1,4}|\*)?)?\s*$/i.exec(text);
  if (!m || (m[1] === undefined && m[2] === undefined)) {
    throw new RangeError(`${JSON.stringify(text)} is not a vendor:device id; write it as 8086:10d3, 8086: or :10d3 (hex)`);
  }
  const num = (s: string | undefined) => (s === undefined || s === '*' ? undefined : Number.parseInt(s, 16));
  const vendor = num(m[1]);
  const device = num(m[2]);
  return { ...(vendor !== undefined && { vendor }), ...(device !== undefined && { device }) };
}

/** A predicate over class codes for a `class` filter; a RangeError when it is empty. */
export function parseClassFilter(text: string): (classCode: number) => boolean {
  const t = text.trim().toLowerCase();
  if (t === '') throw new RangeError('the class filter is empty; give a class name (network, storage …) or hex code (02, 0108)');
  const hex = /^(?:0x)?([0-9a-f]{2}|[0-9a-f]{4}|[0-9a-f]{6})$/.exec(t);
  if (hex) {
    const prefix = hex[1] as string;
    return (code) => (code & 0xffffff).toString(16).padStart(6, '0').startsWith(prefix);
  }
  return (code) => {
    // The base class name: no subclass 0xff is named, so pciClassName falls back to it.
    const names = [pciClassName(code), pciClassName(((code >>> 16) << 16) | 0xff00)];
    return names.some((n) => n.toLowerCase().includes(t));
  };
}

/**
 * The devices that match every criterion of `filter` (all of them when it is empty). A
 * RangeError for a malformed `id` or an empty `class` filter.
 */
export function filterPciDevices<T extends PciDeviceInfo>(devices: readonly T[], filter: PciDeviceFilter = {}): T[] {
  const id = filter.id !== undefined ? parsePciIdFilter(filter.id) : undefined;
  const cls = filter.class !== undefined ? parseClassFilter(filter.class) : undefined;
  return devices.filter(
    (d) =>
      (id?.vendor === undefined || d.vendor === id.vendor) &&
      (id?.device === undefined || d.device === id.device) &&
      (cls === undefined || cls(d.classCode)) &&
      (filter.driver === undefined || (d.driver ?? 'none') === filter.driver),
  );
}

/** Every PCI device with its class name, group viability and /dev/vfio node (`vfio ls`). */
export function listPciDeviceStatus(filter: PciDeviceFilter = {}, opts?: SysfsOptions): PciDeviceStatus[] {
  return filterPciDevices(listPciDevices(opts), filter).map((d) => pciDeviceStatus(d.address, opts));
}
