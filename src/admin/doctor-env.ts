// What every doctor check reads: the options, the report types, and the machine's state read once.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { basename, join } from 'node:path';
import { iommuUnits } from '../host/groups.js';
import { sysPath, type SysfsOptions } from '../host/pci.js';

/** A check's verdict: fine; works but worth a look; VFIO will not work until it is fixed. */
export type DoctorStatus = 'pass' | 'warn' | 'fail';

/** One finding of runDoctor (`vfio doctor`). */
export interface DoctorCheck {
  /** 'iommu', 'vfio', 'vfio-pci', 'iommufd', 'noiommu', 'interrupt-remapping', 'memlock', 'hugepages'; per device 'device', 'bound', 'group', 'access', 'interface' (which kernel interface openDevice takes). */
  readonly id: string;
  /** pass, warn or fail. */
  readonly status: DoctorStatus;
  /** One line for people. */
  readonly summary: string;
  /** More context (what was read, what it means). */
  readonly detail?: string;
  /** For a warning or failure: what to do, as commands where there are any. */
  readonly fix?: string;
  /** The PCI address, for the per-device checks. */
  readonly device?: string;
}

/** A user to judge device-node access for, instead of the current process. */
export interface DoctorUser {
  /** User ID. */
  readonly uid: number;
  /** Group IDs, primary and supplementary. */
  readonly gids: readonly number[];
}

/** Options of runDoctor: where to look, which devices, and for whom. */
export interface DoctorOptions extends SysfsOptions {
  /** Where procfs is (default <root>/proc). */
  proc?: string;
  /** Devices to check as well as the system: 'dddd:bb:dd.f' addresses. */
  address?: string | readonly string[];
  /** Bytes of locked memory a driver needs (default 64 MiB). */
  memlock?: number;
  /**
   * Judge /dev/vfio access for this user from owner, group and mode bits.
   * Default: access(2) as the current process.
   */
  user?: DoctorUser;
}

/** Bytes of locked memory (64 MiB) the memlock check wants by default: a lower RLIMIT_MEMLOCK fails it, unless the process has CAP_IPC_LOCK. */
export const DEFAULT_MEMLOCK_NEEDED = 64 * 2 ** 20;

// Unreadable is an answer, not an error: the doctor reports what is missing and never throws.
export function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

export function listDir(path: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch {
    return [];
  }
}

function linkBase(path: string): string | null {
  try {
    return basename(readlinkSync(path));
  } catch {
    return null;
  }
}

export interface Env {
  opts: DoctorOptions;
  proc: string;
  sys: (...parts: string[]) => string;
  cmdline: string[];
  units: { name: string; kind: string }[];
  groups: string[];
  cpuVendor: 'intel' | 'amd' | null;
  hypervisor: boolean;
}

export function iommuKind(name: string, opts: SysfsOptions): string {
  if (name.startsWith('dmar')) return 'Intel VT-d';
  if (name.startsWith('ivhd')) return 'AMD-Vi';
  const driver = linkBase(sysPath(opts, 'sys/class/iommu', name, 'device/driver'));
  if (name.startsWith('virtio') || driver === 'virtio_iommu') return 'virtio-iommu';
  if (/smmu/i.test(name) || (driver !== null && /smmu/.test(driver))) return 'Arm SMMU';
  return driver ?? name;
}

export function environment(opts: DoctorOptions): Env {
  const proc = opts.proc ?? sysPath(opts, 'proc');
  const cpuinfo = readText(join(proc, 'cpuinfo')) ?? '';
  const vendor = /^vendor_id\s*:\s*(\S+)/m.exec(cpuinfo)?.[1];
  return {
    opts,
    proc,
    sys: (...parts) => sysPath(opts, ...parts),
    cmdline: (readText(join(proc, 'cmdline')) ?? '').trim().split(/\s+/).filter(Boolean),
    units: iommuUnits(opts).map((name) => ({ name, kind: iommuKind(name, opts) })),
    groups: listDir(sysPath(opts, 'sys/kernel/iommu_groups')),
    cpuVendor: vendor === 'GenuineIntel' ? 'intel' : vendor === 'AuthenticAMD' ? 'amd' : null,
    hypervisor: /^flags\s*:.*\bhypervisor\b/m.test(cpuinfo),
  };
}

/** The kernel command-line words that steer the IOMMU. */
