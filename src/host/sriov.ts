// SR-IOV as sysfs shows it: a PF's sriov_* attributes and virtfnN links, a VF's physfn link.
import { existsSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { VFIO_PCI_DRIVER, normalizePciAddress, pciDir, readPciDevice, type PciDeviceInfo, type SysfsOptions } from './pci.js';

/** A PF's SR-IOV state (sriovInfo). */
export interface SriovInfo {
  /** The PF's address. */
  readonly address: string;
  /** sriov_totalvfs: the most VFs its driver offers. */
  readonly totalVfs: number;
  /** sriov_numvfs: VFs enabled now. */
  readonly numVfs: number;
  /** sriov_drivers_autoprobe: new VFs are probed by a driver (null: attribute missing). */
  readonly driversAutoprobe: boolean | null;
  /** sriov_vf_device: the VFs' PCI device ID (null: attribute missing, kernels before 5.8). */
  readonly vfDevice: number | null;
  /** The enabled VFs, VF 0 first. */
  readonly vfs: readonly VfInfo[];
}

/** One VF of a PF (sriovInfo, listVfs). */
export interface VfInfo extends PciDeviceInfo {
  /** Its number under the PF (virtfnN). */
  readonly index: number;
}

function readNumber(path: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(n) ? n : null;
  } catch {
    return null;
  }
}

function readHexOrNull(path: string): number | null {
  try {
    const n = Number.parseInt(readFileSync(path, 'utf8').trim(), 16);
    return Number.isInteger(n) ? n : null;
  } catch {
    return null;
  }
}

/** True when the device is an SR-IOV PF (sysfs has sriov_totalvfs: the capability, on a kernel with CONFIG_PCI_IOV). */
export function isSriovPf(address: string, opts?: SysfsOptions): boolean {
  return existsSync(join(pciDir(normalizePciAddress(address), opts), 'sriov_totalvfs'));
}

/** The VF's PF (its physfn link), or null when it is not a VF. */
export function physfnOf(address: string, opts?: SysfsOptions): string | null {
  try {
    return basename(readlinkSync(join(pciDir(normalizePciAddress(address), opts), 'physfn')));
  } catch {
    return null;
  }
}

/** The enabled VFs of a PF from its virtfnN links, VF 0 first; empty for a device that is no PF or has none enabled. */
export function listVfs(pf: string, opts?: SysfsOptions): VfInfo[] {
  const dir = pciDir(normalizePciAddress(pf), opts);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^virtfn\d+$/.test(n));
  } catch {
    return [];
  }
  return names
    .map((n) => ({ index: Number(n.slice('virtfn'.length)), address: basename(readlinkSync(join(dir, n))) }))
    .sort((a, b) => a.index - b.index)
    .map(({ index, address }) => ({ ...readPciDevice(address, opts), index }));
}

/** A PF's SR-IOV state, or null when the device is no SR-IOV PF (readPciDevice's VfioError when there is no device). */
export function sriovInfo(pf: string, opts?: SysfsOptions): SriovInfo | null {
  const address = readPciDevice(pf, opts).address;
  const dir = pciDir(address, opts);
  const totalVfs = readNumber(join(dir, 'sriov_totalvfs'));
  if (totalVfs === null) return null;
  const autoprobe = readNumber(join(dir, 'sriov_drivers_autoprobe'));
  return {
    address,
    totalVfs,
    numVfs: readNumber(join(dir, 'sriov_numvfs')) ?? 0,
    driversAutoprobe: autoprobe === null ? null : autoprobe !== 0,
    vfDevice: readHexOrNull(join(dir, 'sriov_vf_device')),
    vfs: listVfs(address, opts),
  };
}

/**
 * The PF whose owner must hand out a VF token before this device opens: set when the device is
 * a VF and its PF is bound to vfio-pci (vfio-pci then asks every opener of the VF for the
 * token); null otherwise.
 */
export function vfTokenNeeded(
  address: string,
  opts?: SysfsOptions,
): {
  /** The PF's address. */
  pf: string;
} | null {
  const pf = physfnOf(address, opts);
  if (pf === null) return null;
  try {
    return readPciDevice(pf, opts).driver === VFIO_PCI_DRIVER ? { pf } : null;
  } catch {
    return null;
  }
}
