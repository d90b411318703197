/**
 * PCI and IOMMU-group discovery from sysfs. Every function takes a `root` so
 * tests (and containers with /sys elsewhere) can point it at another tree.
 */
import { readFileSync, readlinkSync, readdirSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { basename, dirname, join } from 'node:path';
import { VfioError } from './errors.js';
import { pciClassName } from './uapi/pci-class.js';

export interface SysfsOptions {
  /** Prefix for /sys and /dev (default '/'). */
  root?: string;
}

export interface PciDeviceInfo {
  /** Canonical 'dddd:bb:dd.f'. */
  readonly address: string;
  readonly vendor: number;
  readonly device: number;
  /** 24-bit class code (class, subclass, prog-if). */
  readonly classCode: number;
  /** The bound driver's name, or null when none is bound. */
  readonly driver: string | null;
  /** The IOMMU group number, or null when the device has none (no IOMMU). */
  readonly iommuGroup: number | null;
}

const ADDRESS = /^(?:([0-9a-f]{4}):)?([0-9a-f]{2}):([0-1][0-9a-f])\.([0-7])$/;

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

function pciDir(address: string, opts?: SysfsOptions): string {
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

export function listPciDevices(opts?: SysfsOptions): PciDeviceInfo[] {
  const dir = sysPath(opts, 'sys/bus/pci/devices');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => ADDRESS.test(name))
    .sort()
    .map((name) => readPciDevice(name, opts));
}

export function findPciDevices(match: { vendor?: number; device?: number }, opts?: SysfsOptions): PciDeviceInfo[] {
  return listPciDevices(opts).filter(
    (d) => (match.vendor === undefined || d.vendor === match.vendor) && (match.device === undefined || d.device === match.device),
  );
}

/** The PCI devices in an IOMMU group (bridges included). */
export function groupMembers(group: number, opts?: SysfsOptions): PciDeviceInfo[] {
  const dir = sysPath(opts, 'sys/kernel/iommu_groups', String(group), 'devices');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => ADDRESS.test(name))
    .sort()
    .map((name) => readPciDevice(name, opts));
}

/** IOMMU units the kernel registered (dmar0, ivhd0, virtio-iommu …); empty when the IOMMU is off. */
export function iommuUnits(opts?: SysfsOptions): string[] {
  const dir = sysPath(opts, 'sys/class/iommu');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
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

export function describeMembers(members: readonly PciDeviceInfo[]): string {
  return members.map((m) => `${m.address} (${m.driver ?? 'no driver'})`).join(', ');
}

// ---------------------------------------------------------------------------
// Discovery for `vfio ls` and `vfio doctor`: class names, group viability, the
// /dev/vfio node, driver_override. Everything below reads under `root` too.
// ---------------------------------------------------------------------------

/**
 * Drivers that leave an IOMMU group viable: vfio-pci itself and the drivers the
 * kernel marks driver_managed_dma (pcieport, pci-stub). vfio-pci variant drivers
 * (mlx5_vfio_pci, hisi_acc_vfio_pci …) count as vfio-pci.
 */
export const VIABLE_GROUP_DRIVERS: ReadonlySet<string> = new Set([VFIO_PCI_DRIVER, 'pcieport', 'pci-stub']);

/** vfio-pci or one of its vendor variants (`*_vfio_pci`). */
export function isVfioPciDriver(driver: string | null | undefined): boolean {
  return driver === VFIO_PCI_DRIVER || (typeof driver === 'string' && /[-_]vfio[-_]pci$/.test(driver));
}

/** True when a member bound to `driver` (null: none) keeps its group viable. */
export function driverKeepsGroupViable(driver: string | null): boolean {
  return driver === null || VIABLE_GROUP_DRIVERS.has(driver) || isVfioPciDriver(driver);
}

/** Base class 0x06: host, ISA, PCI-to-PCI bridges and the like. */
export function isBridgeClass(classCode: number): boolean {
  return (classCode >>> 16) === 0x06;
}

export interface GroupViability {
  readonly group: number;
  /** Every member is bound to vfio-pci, a bridge driver or to no driver. */
  readonly viable: boolean;
  readonly members: readonly PciDeviceInfo[];
  /** The members whose driver makes the group unusable for VFIO. */
  readonly blockers: readonly PciDeviceInfo[];
}

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

/** The device's driver_override, or null when none is set. */
export function readDriverOverride(address: string, opts?: SysfsOptions): string | null {
  try {
    const v = readFileSync(join(pciDir(normalizePciAddress(address), opts), 'driver_override'), 'utf8').trim();
    return v === '' || v === '(null)' ? null : v;
  } catch {
    return null;
  }
}

export interface PciDeviceStatus extends PciDeviceInfo {
  /** 'vvvv:dddd' in lower-case hex, as lspci -n prints it. */
  readonly id: string;
  /** From the class code: 'Ethernet controller', 'Non-volatile memory controller' … */
  readonly className: string;
  readonly driverOverride: string | null;
  /** Whether the IOMMU group is viable for VFIO; null without a group. */
  readonly groupViable: boolean | null;
  /** The other members of the group. */
  readonly groupPeers: readonly PciDeviceInfo[];
  /** '/dev/vfio/N' when it exists. */
  readonly vfioNode: string | null;
}

export const pciId = (vendor: number, device: number): string =>
  `${vendor.toString(16).padStart(4, '0')}:${device.toString(16).padStart(4, '0')}`;

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
  };
}

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
export function parsePciIdFilter(text: string): { vendor?: number; device?: number } {
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

// ---------------------------------------------------------------------------
// Binding to vfio-pci and back (`vfio bind`, `vfio unbind`).
// ---------------------------------------------------------------------------

export interface BindOptions extends SysfsOptions {
  /** Act on every non-bridge member of each device's IOMMU group. */
  group?: boolean;
  /**
   * bind: even a NIC whose network interface is up (it goes away, and any
   * connection over it). unbind: even while a process holds the group open (the
   * kernel then asks it for the device and waits until it lets go).
   */
  force?: boolean;
  /**
   * Writes one sysfs attribute (default: writeFileSync). Tests pass a function
   * that plays the kernel on a synthetic tree.
   */
  write?: (path: string, data: string) => void;
  /** Loads a module; true when it worked. Default: `modprobe NAME` when root is '/', else nothing. */
  modprobe?: (module: string) => boolean;
  /** Where the driver a device had before `bind` is remembered (default <root>/run/vfio). */
  stateDir?: string;
}

export interface BindResult {
  readonly address: string;
  /** The driver before the command. */
  readonly before: string | null;
  /** The driver after it. */
  readonly after: string | null;
  /** The device ended where it was asked to be. */
  readonly ok: boolean;
  /** Something was written. */
  readonly changed: boolean;
  /** What happened, for people. */
  readonly message: string;
}

export interface BindReport {
  readonly results: readonly BindResult[];
  /** The groups of the devices acted on, as they are afterwards. */
  readonly groups: readonly GroupViability[];
  /** Every device ended as asked (for bind: and its group is viable). */
  readonly ok: boolean;
  /** Notes for people: modprobe attempts, members that block a group, what to run next. */
  readonly notes: readonly string[];
}

function systemErrorText(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const message = String(err.message ?? e);
  // Node's system errors already start with their code ('EBUSY: resource busy or locked, open …').
  return err.code && !message.startsWith(err.code) ? `${err.code}: ${message}` : message;
}

function defaultModprobe(opts: SysfsOptions | undefined): (module: string) => boolean {
  const root = opts?.root ?? '/';
  if (root !== '/' && root !== '') return () => false;
  return (module) => {
    const r = spawnSync('modprobe', [module], { stdio: 'ignore', timeout: 30_000 });
    return r.status === 0;
  };
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

/** vfio.enable_unsafe_noiommu_mode is on: devices without an IOMMU get a group once bound to vfio-pci. */
export function noIommuModeOn(opts: SysfsOptions | undefined): boolean {
  try {
    return /^[Y1]/.test(readFileSync(sysPath(opts, 'sys/module/vfio/parameters/enable_unsafe_noiommu_mode'), 'utf8'));
  } catch {
    return false;
  }
}

export interface VfioNodeUser {
  readonly pid: number;
  /** The node it holds: the group's, or a member device's cdev (/dev/vfio/devices/vfioN). */
  readonly node: string;
  /** The process name from /proc/PID/comm. */
  readonly command: string;
}

/**
 * Processes that hold the group's /dev/vfio node, or a member device's cdev, open (from
 * /proc/PID/fd, under `root`). Only the processes this user may inspect are seen: all of
 * them as root.
 */
export function vfioGroupUsers(group: number, opts?: SysfsOptions): VfioNodeUser[] {
  const nodes = new Set([`/dev/vfio/${group}`, `/dev/vfio/noiommu-${group}`]);
  for (const m of groupMembers(group, opts)) {
    try {
      for (const n of readdirSync(join(pciDir(m.address, opts), 'vfio-dev'))) nodes.add(`/dev/vfio/devices/${n}`);
    } catch {
      // no cdev (older kernel, or not bound to vfio-pci)
    }
  }
  const proc = sysPath(opts, 'proc');
  const users: VfioNodeUser[] = [];
  let pids: string[];
  try {
    pids = readdirSync(proc).filter((n) => /^\d+$/.test(n));
  } catch {
    return users;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(join(proc, pid, 'fd'));
    } catch {
      continue;
    }
    let node: string | undefined;
    for (const fd of fds) {
      try {
        const target = readlinkSync(join(proc, pid, 'fd', fd));
        if (nodes.has(target)) {
          node = target;
          break;
        }
      } catch {
        // closed meanwhile
      }
    }
    if (node === undefined) continue;
    let command = '?';
    try {
      command = readFileSync(join(proc, pid, 'comm'), 'utf8').trim();
    } catch {
      // gone meanwhile
    }
    users.push({ pid: Number(pid), node, command });
  }
  return users.sort((a, b) => a.pid - b.pid);
}

function previousDriverPath(address: string, opts: BindOptions | undefined): string {
  return join(opts?.stateDir ?? sysPath(opts, 'run/vfio'), `${address}.driver`);
}

function rememberDriver(address: string, driver: string | null, opts: BindOptions | undefined): void {
  try {
    const path = previousDriverPath(address, opts);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${driver ?? ''}\n`);
  } catch {
    // Best effort: without the record, unbind leaves the choice to the kernel.
  }
}

function recalledDriver(address: string, opts: BindOptions | undefined): string | null {
  try {
    return readFileSync(previousDriverPath(address, opts), 'utf8').trim() || null;
  } catch {
    return null;
  }
}

function forgetDriver(address: string, opts: BindOptions | undefined): void {
  try {
    rmSync(previousDriverPath(address, opts), { force: true });
  } catch {
    // nothing to forget
  }
}

/** The devices to act on: the addresses given, or with `group` every non-bridge member of their groups. */
function bindTargets(addresses: readonly string[], opts: BindOptions | undefined): PciDeviceInfo[] {
  const seen = new Map<string, PciDeviceInfo>();
  for (const a of addresses) {
    const d = readPciDevice(a, opts);
    seen.set(d.address, d);
    if (opts?.group && d.iommuGroup !== null) {
      for (const m of groupMembers(d.iommuGroup, opts)) if (!isBridgeClass(m.classCode)) seen.set(m.address, m);
    }
  }
  return [...seen.values()].sort((x, y) => (x.address < y.address ? -1 : x.address > y.address ? 1 : 0));
}

function groupsOf(devices: readonly PciDeviceInfo[], opts: SysfsOptions | undefined): GroupViability[] {
  const groups = [...new Set(devices.map((d) => d.iommuGroup).filter((g): g is number => g !== null))].sort((a, b) => a - b);
  return groups.map((g) => groupViability(g, opts));
}

/** Clears driver_override and lets `driver` (or the kernel's default) take the device again. */
function giveBack(address: string, driver: string | null, write: (path: string, data: string) => void, opts: SysfsOptions | undefined): string | null {
  const attempt = (fn: () => void) => {
    try {
      fn();
    } catch {
      // best effort: the caller reports the driver the device ends with
    }
  };
  attempt(() => write(join(pciDir(address, opts), 'driver_override'), '\n'));
  if (readPciDevice(address, opts).driver === null) attempt(() => write(sysPath(opts, 'sys/bus/pci/drivers_probe'), address));
  if (driver !== null && readPciDevice(address, opts).driver === null) {
    attempt(() => write(sysPath(opts, 'sys/bus/pci/drivers', driver, 'bind'), address));
  }
  return readPciDevice(address, opts).driver;
}

/**
 * Hands devices to vfio-pci: driver_override, unbind from the current driver,
 * drivers_probe (loading vfio-pci first if its driver is missing). Reports, per
 * group, the members that still keep it from being viable; with `group: true`
 * binds every non-bridge member of the groups as well. Addresses that do not
 * exist are a VfioError before anything is written.
 */
export function bindVfioPci(addresses: readonly string[], opts?: BindOptions): BindReport {
  const write = opts?.write ?? ((path: string, data: string) => writeFileSync(path, data));
  const notes: string[] = [];
  const targets = bindTargets(addresses, opts);
  const driverDir = sysPath(opts, 'sys/bus/pci/drivers', VFIO_PCI_DRIVER);
  const bindable = (t: PciDeviceInfo) => t.driver !== VFIO_PCI_DRIVER && (t.iommuGroup !== null || noIommuModeOn(opts));
  if (!existsSync(driverDir) && targets.some(bindable)) {
    const loaded = (opts?.modprobe ?? defaultModprobe(opts))('vfio-pci');
    notes.push(
      loaded && existsSync(driverDir)
        ? 'loaded vfio-pci (modprobe vfio-pci)'
        : 'the vfio-pci driver is not loaded and `modprobe vfio-pci` did not load it: is CONFIG_VFIO_PCI set for this kernel?',
    );
  }
  const results: BindResult[] = targets.map((t) => {
    const before = t.driver;
    if (before === VFIO_PCI_DRIVER) {
      return { address: t.address, before, after: before, ok: true, changed: false, message: 'already bound to vfio-pci' };
    }
    const refuse = (message: string): BindResult => ({ address: t.address, before, after: before, ok: false, changed: false, message });
    // vfio-pci's probe fails without a group: refuse before the device loses its driver.
    if (t.iommuGroup === null && !noIommuModeOn(opts)) {
      return refuse('no IOMMU group, so vfio-pci cannot take it: turn the IOMMU on (`vfio doctor` says how)');
    }
    if (!existsSync(driverDir)) return refuse('vfio-pci is not loaded (modprobe vfio-pci)');
    const up = before === null || opts?.force ? [] : activeNetInterfaces(t.address, opts);
    if (up.length) {
      return refuse(
        `its network interface ${up.join(', ')} is up; binding takes it away (and any connection over it): ` +
          `ip link set ${up[0]} down first, or use --force`,
      );
    }
    const dir = pciDir(t.address, opts);
    const steps: [string, string, string][] = [[join(dir, 'driver_override'), VFIO_PCI_DRIVER, 'set driver_override']];
    if (before !== null) steps.push([join(dir, 'driver/unbind'), t.address, `unbind from ${before}`]);
    for (const [i, [path, data, what]] of steps.entries()) {
      try {
        write(path, data);
      } catch (e) {
        const after = i === 0 ? readPciDevice(t.address, opts).driver : giveBack(t.address, before, write, opts);
        return { address: t.address, before, after, ok: false, changed: i > 0, message: `${what} failed (${systemErrorText(e)})` };
      }
    }
    rememberDriver(t.address, before, opts);
    try {
      write(sysPath(opts, 'sys/bus/pci/drivers_probe'), t.address);
    } catch {
      // Reported below by the driver the device ends up with.
    }
    let after = readPciDevice(t.address, opts).driver;
    if (after === null) {
      // drivers_probe can be refused (e.g. autoprobe off); ask vfio-pci directly.
      try {
        write(join(driverDir, 'bind'), t.address);
      } catch {
        // as above
      }
      after = readPciDevice(t.address, opts).driver;
    }
    if (after === VFIO_PCI_DRIVER) {
      return { address: t.address, before, after, ok: true, changed: true, message: `bound to vfio-pci${before ? ` (was ${before})` : ''}` };
    }
    // Give the device back rather than leave it without a driver.
    after = giveBack(t.address, before, write, opts);
    forgetDriver(t.address, opts);
    const back = before === null ? '' : after === before ? `; given back to ${before}` : `; could not give it back to ${before}`;
    return {
      address: t.address,
      before,
      after,
      ok: false,
      changed: true,
      message: `vfio-pci did not take it${back}; \`dmesg | tail\` says why`,
    };
  });
  const groups = groupsOf(targets, opts);
  for (const g of groups) {
    if (g.viable) continue;
    const bridges = g.blockers.filter((b) => isBridgeClass(b.classCode));
    const others = g.blockers.filter((b) => !isBridgeClass(b.classCode));
    const parts = [`group ${g.group} is not viable: ${describeMembers(g.blockers)} ${g.blockers.length === 1 ? 'is' : 'are'} bound to another driver`];
    const asked = targets.find((t) => t.iommuGroup === g.group)?.address ?? '';
    if (others.length && !opts?.group) parts.push(`bind them too with \`vfio bind --group ${asked}\`, or unbind them`);
    for (const b of bridges) parts.push(`the bridge ${b.address} must be unbound: echo ${b.address} > /sys/bus/pci/devices/${b.address}/driver/unbind`);
    notes.push(parts.join('; '));
  }
  const ok = results.every((r) => r.ok) && groups.every((g) => g.viable);
  return { results, groups, ok, notes };
}

/**
 * Takes devices away from vfio-pci: clears driver_override, unbinds, and asks
 * the kernel to probe again so the default driver takes the device back; if
 * none does and `bind` remembered another driver, binds that one. With
 * `group: true` acts on every member of the groups that is bound to vfio-pci.
 */
export function unbindVfioPci(addresses: readonly string[], opts?: BindOptions): BindReport {
  const write = opts?.write ?? ((path: string, data: string) => writeFileSync(path, data));
  const notes: string[] = [];
  const asked = new Set(addresses.map(normalizePciAddress));
  const targets = bindTargets(addresses, opts).filter((t) => asked.has(t.address) || t.driver === VFIO_PCI_DRIVER);
  const results: BindResult[] = targets.map((t) => {
    const before = t.driver;
    const dir = pciDir(t.address, opts);
    const override = readDriverOverride(t.address, opts);
    if (before !== VFIO_PCI_DRIVER && override !== VFIO_PCI_DRIVER) {
      return { address: t.address, before, after: before, ok: true, changed: false, message: `not bound to vfio-pci (driver: ${before ?? 'none'})` };
    }
    const users = before === VFIO_PCI_DRIVER && t.iommuGroup !== null && !opts?.force ? vfioGroupUsers(t.iommuGroup, opts) : [];
    if (users.length) {
      const who = users.map((u) => `pid ${u.pid} (${u.command})`).join(', ');
      return {
        address: t.address,
        before,
        after: before,
        ok: false,
        changed: false,
        message: `${users[0]!.node} is open by ${who}: the kernel would wait for it to let go; stop it first, or use --force`,
      };
    }
    try {
      // A lone newline clears the override (an empty write is refused by some kernels).
      if (override !== null) write(join(dir, 'driver_override'), '\n');
      if (before === VFIO_PCI_DRIVER) write(sysPath(opts, 'sys/bus/pci/drivers', VFIO_PCI_DRIVER, 'unbind'), t.address);
    } catch (e) {
      const after = readPciDevice(t.address, opts).driver;
      return { address: t.address, before, after, ok: false, changed: true, message: `unbind failed (${systemErrorText(e)})` };
    }
    try {
      write(sysPath(opts, 'sys/bus/pci/drivers_probe'), t.address);
    } catch {
      // no driver wants it: fine
    }
    let after = readPciDevice(t.address, opts).driver;
    const previous = recalledDriver(t.address, opts);
    let extra = '';
    if (after === null && previous !== null && previous !== VFIO_PCI_DRIVER) {
      const prevDir = sysPath(opts, 'sys/bus/pci/drivers', previous);
      if (existsSync(prevDir)) {
        try {
          write(join(prevDir, 'bind'), t.address);
        } catch (e) {
          extra = `; binding it back to ${previous} failed (${systemErrorText(e)})`;
        }
        after = readPciDevice(t.address, opts).driver;
      } else {
        extra = `; it was bound to ${previous}, which is not loaded now (modprobe ${previous.replace(/-/g, '_')}, then drivers_probe)`;
      }
    }
    forgetDriver(t.address, opts);
    const ok = after !== VFIO_PCI_DRIVER;
    const message = ok
      ? `unbound from vfio-pci; driver now: ${after ?? 'none'}${extra}`
      : 'still bound to vfio-pci: the kernel waits for the process holding the device to release it';
    return { address: t.address, before, after, ok, changed: true, message };
  });
  return { results, groups: groupsOf(targets, opts), ok: results.every((r) => r.ok), notes };
}
