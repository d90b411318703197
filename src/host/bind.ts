// Binding devices to vfio-pci and back (`vfio bind`, `vfio unbind`) through sysfs.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describeMembers, groupMembers, groupViability, noIommuModeOn, type GroupViability } from './groups.js';
import { vfioGroupUsers } from './procfs.js';
import {
  VFIO_PCI_DRIVER,
  activeNetInterfaces,
  isBridgeClass,
  normalizePciAddress,
  pciDir,
  readDriverOverride,
  readPciDevice,
  sysPath,
  type PciDeviceInfo,
  type SysfsOptions,
} from './pci.js';

/** Options of bindVfioPci and unbindVfioPci. */
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

/** What became of one device in a bind or unbind. */
export interface BindResult {
  /** The device's PCI address. */
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

/** The outcome of bindVfioPci or unbindVfioPci: per device, per group, and overall. */
export interface BindReport {
  /** One per device acted on, in order. */
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
