/**
 * Builds a synthetic sysfs (+ /dev) tree in a temp dir, shaped like the kernel's:
 * devices with vendor/device/class files, `driver` and `iommu_group` symlinks,
 * and /sys/kernel/iommu_groups/N/devices. Pass its `root` as the `root` option.
 *
 * For `vfio doctor`: /proc files (cmdline, self/limits, self/status, meminfo,
 * interrupts, cpuinfo), /sys/module/<name>/parameters, driver directories, and
 * /dev nodes as plain files. For `vfio bind`/`unbind`: `kernelWrite` plays the
 * kernel's part of driver_override, bind, unbind and drivers_probe on the tree.
 */
import { existsSync, mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync, readFileSync, readlinkSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';

export interface FakePciDevice {
  address: string;
  vendor: number;
  device: number;
  classCode?: number;
  driver?: string | null;
  group?: number | null;
  /** Contents of driver_override (default none: the kernel shows '(null)'). */
  driverOverride?: string | null;
  /** The driver drivers_probe binds when no override is set (kernelWrite only). */
  defaultDriver?: string | null;
  /** Contents of reset_method; absent when undefined. */
  resetMethod?: string;
}

export interface IommuUnitOptions {
  /** Intel VT-d: the hex ecap register, written to <unit>/intel-iommu/ecap. */
  ecap?: string;
  /** Name of the driver behind the unit's `device` link (e.g. virtio_iommu). */
  driver?: string;
}

export interface ProcOptions {
  cmdline?: string;
  /** RLIMIT_MEMLOCK soft and hard, in bytes. */
  memlock?: number | 'unlimited';
  /** CapEff as hex (e.g. '000001ffffffffff' for root, '0' for none). */
  capEff?: string;
  hugepages?: { total: number; free: number; sizeKb?: number };
  interrupts?: string;
  cpuVendor?: 'GenuineIntel' | 'AuthenticAMD';
  hypervisor?: boolean;
}

/** What `kernelWrite` received, in order. */
export interface SysfsWrite {
  /** Relative to the tree's root, e.g. 'sys/bus/pci/drivers_probe'. */
  path: string;
  data: string;
}

export interface SysfsTree {
  root: string;
  addDevice(d: FakePciDevice): void;
  addIommuUnit(name: string, opts?: IommuUnitOptions): void;
  /** Creates /dev/vfio/<name> as a plain file (enough for existence checks). */
  addDevNode(name: string, mode?: number): void;
  /** Writes any file under the root (parents created), e.g. 'dev/iommu'. */
  writeFile(path: string, content?: string, mode?: number): void;
  /** /sys/module/<name>, with parameters/<key> files. */
  addModule(name: string, params?: Record<string, string>): void;
  /** /sys/bus/pci/drivers/<name> with bind and unbind files. */
  addDriver(name: string): void;
  /** /proc files; anything not given is left as it is. */
  setProc(p: ProcOptions): void;
  /** A healthy VFIO host: dmar0 with IR, groups, modules, /dev/vfio/vfio, root's caps, free hugepages. */
  addHealthyHost(): void;
  /** Plays the kernel for a write to a sysfs attribute (the `write` option of bindVfioPci). */
  kernelWrite(path: string, data: string): void;
  /** Every kernelWrite so far. */
  readonly writes: SysfsWrite[];
  /** The driver bound to a device now (null: none). */
  driverOf(address: string): string | null;
  cleanup(): void;
}

const hex = (n: number, digits: number) => `0x${n.toString(16).padStart(digits, '0')}\n`;

function sysError(code: string, errno: number, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code, errno, syscall: 'write' });
}

function limitsFile(memlock: number | 'unlimited'): string {
  const v = String(memlock);
  const row = (name: string, soft: string, hard: string, unit: string) => `${name.padEnd(26)}${soft.padEnd(21)}${hard.padEnd(21)}${unit}`;
  return [
    row('Limit', 'Soft Limit', 'Hard Limit', 'Units'),
    row('Max cpu time', 'unlimited', 'unlimited', 'seconds'),
    row('Max open files', '1024', '1048576', 'files'),
    row('Max locked memory', v, v, 'bytes'),
    row('Max address space', 'unlimited', 'unlimited', 'bytes'),
    '',
  ].join('\n');
}

export function makeSysfsTree(devices: FakePciDevice[] = []): SysfsTree {
  const root = mkdtempSync(join(tmpdir(), 'vfio-sysfs-'));
  const sys = join(root, 'sys');
  mkdirSync(join(sys, 'bus/pci/devices'), { recursive: true });
  mkdirSync(join(sys, 'devices/pci0000:00'), { recursive: true });
  writeFileSync(join(sys, 'bus/pci/drivers_probe'), '');
  const defaults = new Map<string, string | null>();
  const writes: SysfsWrite[] = [];
  const realDir = (address: string) => join(sys, 'devices/pci0000:00', address);
  const ensureDriver = (name: string) => {
    const dir = join(sys, 'bus/pci/drivers', name);
    mkdirSync(dir, { recursive: true });
    for (const f of ['bind', 'unbind', 'new_id']) if (!existsSync(join(dir, f))) writeFileSync(join(dir, f), '');
  };
  const driverOf = (address: string): string | null => {
    try {
      return basename(readlinkSync(join(realDir(address), 'driver')));
    } catch {
      return null;
    }
  };
  const bindTo = (address: string, driver: string) => {
    symlinkSync(`../../../bus/pci/drivers/${driver}`, join(realDir(address), 'driver'));
    symlinkSync(`../../../../devices/pci0000:00/${address}`, join(sys, 'bus/pci/drivers', driver, address));
  };
  const unbindFrom = (address: string) => {
    const driver = driverOf(address);
    if (driver === null) throw sysError('ENODEV', 19, `${address} has no driver`);
    rmSync(join(realDir(address), 'driver'));
    rmSync(join(sys, 'bus/pci/drivers', driver, address), { force: true });
  };
  const override = (address: string): string | null => {
    const v = readFileSync(join(realDir(address), 'driver_override'), 'utf8').trim();
    return v === '(null)' || v === '' ? null : v;
  };
  const tree: SysfsTree = {
    root,
    writes,
    addDevice(d) {
      const real = realDir(d.address);
      mkdirSync(real, { recursive: true });
      writeFileSync(join(real, 'vendor'), hex(d.vendor, 4));
      writeFileSync(join(real, 'device'), hex(d.device, 4));
      writeFileSync(join(real, 'class'), hex(d.classCode ?? 0xff0000, 6));
      writeFileSync(join(real, 'driver_override'), `${d.driverOverride ?? '(null)'}\n`);
      if (d.resetMethod !== undefined) writeFileSync(join(real, 'reset_method'), `${d.resetMethod}\n`);
      defaults.set(d.address, d.defaultDriver ?? null);
      symlinkSync(`../../../devices/pci0000:00/${d.address}`, join(sys, 'bus/pci/devices', d.address));
      if (d.driver) {
        ensureDriver(d.driver);
        bindTo(d.address, d.driver);
      }
      if (d.group !== null && d.group !== undefined) {
        const g = join(sys, 'kernel/iommu_groups', String(d.group), 'devices');
        mkdirSync(g, { recursive: true });
        symlinkSync(`../../../../devices/pci0000:00/${d.address}`, join(g, d.address));
        symlinkSync(`../../../kernel/iommu_groups/${d.group}`, join(real, 'iommu_group'));
      }
    },
    addIommuUnit(name, opts = {}) {
      const dir = join(sys, 'class/iommu', name);
      mkdirSync(dir, { recursive: true });
      if (opts.ecap !== undefined) {
        mkdirSync(join(dir, 'intel-iommu'), { recursive: true });
        writeFileSync(join(dir, 'intel-iommu/ecap'), `${opts.ecap}\n`);
      }
      if (opts.driver !== undefined) {
        const dev = join(sys, 'devices/virtual-iommu', name);
        mkdirSync(join(sys, 'bus/virtio/drivers', opts.driver), { recursive: true });
        mkdirSync(dev, { recursive: true });
        symlinkSync(join(sys, 'bus/virtio/drivers', opts.driver), join(dev, 'driver'));
        symlinkSync(dev, join(dir, 'device'));
      }
    },
    addDevNode(name, mode) {
      tree.writeFile(join('dev/vfio', name), '', mode);
    },
    writeFile(path, content = '', mode) {
      const full = join(root, path);
      mkdirSync(join(full, '..'), { recursive: true });
      writeFileSync(full, content);
      if (mode !== undefined) chmodSync(full, mode);
    },
    addModule(name, params = {}) {
      mkdirSync(join(sys, 'module', name), { recursive: true });
      for (const [k, v] of Object.entries(params)) tree.writeFile(join('sys/module', name, 'parameters', k), `${v}\n`);
    },
    addDriver(name) {
      ensureDriver(name);
    },
    setProc(p) {
      if (p.cmdline !== undefined) tree.writeFile('proc/cmdline', `${p.cmdline}\n`);
      if (p.memlock !== undefined) tree.writeFile('proc/self/limits', limitsFile(p.memlock));
      if (p.capEff !== undefined) tree.writeFile('proc/self/status', `Name:\tnode\nCapInh:\t0000000000000000\nCapEff:\t${p.capEff.padStart(16, '0')}\n`);
      if (p.hugepages !== undefined) {
        const { total, free, sizeKb = 2048 } = p.hugepages;
        tree.writeFile(
          'proc/meminfo',
          `MemTotal:       24000000 kB\nHugePages_Total:   ${total}\nHugePages_Free:    ${free}\nHugePages_Rsvd:        0\nHugepagesize:       ${sizeKb} kB\n`,
        );
      }
      if (p.interrupts !== undefined) tree.writeFile('proc/interrupts', p.interrupts);
      if (p.cpuVendor !== undefined || p.hypervisor !== undefined) {
        const flags = `fpu vme de pse${p.hypervisor ? ' hypervisor' : ''}`;
        tree.writeFile('proc/cpuinfo', `processor\t: 0\nvendor_id\t: ${p.cpuVendor ?? 'GenuineIntel'}\nflags\t\t: ${flags}\n`);
      }
    },
    addHealthyHost() {
      tree.addIommuUnit('dmar0', { ecap: 'f0201e' });
      tree.addModule('vfio', { enable_unsafe_noiommu_mode: 'N' });
      tree.addModule('vfio_iommu_type1', { allow_unsafe_interrupts: 'N' });
      tree.addModule('vfio_pci');
      tree.addDriver('vfio-pci');
      tree.addDevNode('vfio', 0o666);
      mkdirSync(join(sys, 'kernel/iommu_groups'), { recursive: true });
      tree.setProc({
        cmdline: 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 intel_iommu=on',
        memlock: 8 * 2 ** 20,
        capEff: '000001ffffffffff',
        hugepages: { total: 512, free: 500 },
        interrupts: '           CPU0       CPU1\n  9:          0          0  IR-IO-APIC    9-fasteoi   acpi\n 24:          5          0  IR-PCI-MSI 49152-edge      eth0\n',
        cpuVendor: 'GenuineIntel',
      });
    },
    kernelWrite(path, data) {
      const rel = relative(root, path);
      writes.push({ path: rel, data });
      const value = data.trim();
      let m: RegExpExecArray | null;
      if ((m = /^sys\/bus\/pci\/devices\/([^/]+)\/driver_override$/.exec(rel))) {
        writeFileSync(join(realDir(m[1] as string), 'driver_override'), `${value === '' ? '(null)' : value}\n`);
      } else if ((m = /^sys\/bus\/pci\/devices\/([^/]+)\/driver\/unbind$/.exec(rel))) {
        if (value !== m[1]) throw sysError('ENODEV', 19, `${value} is not ${m[1]}`);
        unbindFrom(value);
      } else if ((m = /^sys\/bus\/pci\/drivers\/([^/]+)\/unbind$/.exec(rel))) {
        if (driverOf(value) !== m[1]) throw sysError('ENODEV', 19, `${value} is not bound to ${m[1]}`);
        unbindFrom(value);
      } else if ((m = /^sys\/bus\/pci\/drivers\/([^/]+)\/bind$/.exec(rel))) {
        if (!existsSync(realDir(value))) throw sysError('ENODEV', 19, `no device ${value}`);
        if (driverOf(value) !== null) throw sysError('EBUSY', 16, `${value} already has a driver`);
        const ov = override(value);
        if (ov !== null && ov !== m[1]) throw sysError('EINVAL', 22, `driver_override of ${value} names ${ov}`);
        bindTo(value, m[1] as string);
      } else if (rel === 'sys/bus/pci/drivers_probe') {
        if (!existsSync(realDir(value))) throw sysError('ENODEV', 19, `no device ${value}`);
        if (driverOf(value) !== null) return;
        const ov = override(value);
        const want = ov ?? defaults.get(value) ?? null;
        if (want !== null && existsSync(join(sys, 'bus/pci/drivers', want))) bindTo(value, want);
      } else {
        throw sysError('EACCES', 13, `kernelWrite does not emulate ${rel}`);
      }
    },
    driverOf,
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
  for (const d of devices) tree.addDevice(d);
  return tree;
}
