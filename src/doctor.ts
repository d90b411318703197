/**
 * `vfio doctor` as a library: one check per thing that stands between a user
 * and a working VFIO device, each pass / warn / fail with the fix for a failure.
 * Everything is read under `root` (sysfs, /dev) and `proc` (procfs), so tests
 * run it against synthetic trees.
 */
import { accessSync, constants, existsSync, readFileSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { formatBytes, memlockLimit } from './limits.js';
import {
  VFIO_PCI_DRIVER,
  describeMembers,
  groupViability,
  isBridgeClass,
  isVfioPciDriver,
  iommuUnits,
  normalizePciAddress,
  pciId,
  readPciDevice,
  sysPath,
  vfioGroupNode,
  type SysfsOptions,
} from './sysfs.js';
import { pciClassName } from './uapi/pci-class.js';
import { vfioCdevName } from './iommufd.js';
import { isNoIommuGroup } from './noiommu.js';

export type DoctorStatus = 'pass' | 'warn' | 'fail';

export interface DoctorCheck {
  /** 'iommu', 'vfio', 'vfio-pci', 'iommufd', 'noiommu', 'interrupt-remapping', 'memlock', 'hugepages'; per device 'device', 'bound', 'group', 'access', 'interface' (which kernel interface openDevice takes). */
  readonly id: string;
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

export interface DoctorUser {
  readonly uid: number;
  readonly gids: readonly number[];
}

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

export const DEFAULT_MEMLOCK_NEEDED = 64 * 2 ** 20;

/** CAP_IPC_LOCK: locked memory beyond RLIMIT_MEMLOCK (VFIO type1 and iommufd honour it). */
const CAP_IPC_LOCK = 14n;
/** Intel VT-d extended capability register: interrupt remapping support. */
const ECAP_IR = 1n << 3n;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function listDir(path: string): string[] {
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

interface Env {
  opts: DoctorOptions;
  proc: string;
  sys: (...parts: string[]) => string;
  cmdline: string[];
  units: { name: string; kind: string }[];
  groups: string[];
  cpuVendor: 'intel' | 'amd' | null;
  hypervisor: boolean;
}

function iommuKind(name: string, opts: SysfsOptions): string {
  if (name.startsWith('dmar')) return 'Intel VT-d';
  if (name.startsWith('ivhd')) return 'AMD-Vi';
  const driver = linkBase(sysPath(opts, 'sys/class/iommu', name, 'device/driver'));
  if (name.startsWith('virtio') || driver === 'virtio_iommu') return 'virtio-iommu';
  if (/smmu/i.test(name) || (driver !== null && /smmu/.test(driver))) return 'Arm SMMU';
  return driver ?? name;
}

function environment(opts: DoctorOptions): Env {
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
function iommuArgs(cmdline: readonly string[]): string[] {
  return cmdline.filter((w) => /^(intel_iommu|amd_iommu|iommu|iommu\.passthrough|iommu\.strict)=/.test(w));
}

function checkIommu(env: Env): DoctorCheck {
  const args = iommuArgs(env.cmdline);
  const argText = args.length ? `kernel command line: ${args.join(' ')}` : 'no IOMMU words on the kernel command line';
  if (env.units.length > 0) {
    const kinds = [...new Set(env.units.map((u) => u.kind))].join(', ');
    const names = env.units.map((u) => u.name).join(', ');
    if (env.groups.length === 0) {
      return {
        id: 'iommu',
        status: 'fail',
        summary: `${kinds} (${names}) is registered but the kernel made no IOMMU groups`,
        detail: argText,
        fix: 'check `dmesg | grep -i -e DMAR -e IOMMU -e AMD-Vi` for errors; `iommu=pt` is fine, `intel_iommu=off`/`amd_iommu=off` is not',
      };
    }
    const pt = args.some((a) => a === 'iommu=pt' || a === 'iommu.passthrough=1');
    return {
      id: 'iommu',
      status: 'pass',
      summary: `${kinds} (${names}), ${env.groups.length} IOMMU group${env.groups.length === 1 ? '' : 's'}`,
      detail: argText + (pt ? ' (passthrough for kernel drivers; VFIO still translates)' : ''),
    };
  }
  const off = args.filter((a) => /^(intel_iommu|amd_iommu|iommu)=off$/.test(a) || a === 'iommu.passthrough=1');
  const noiommuGroups = env.groups.length > 0 ? ` (the ${env.groups.length} IOMMU groups present are vfio no-IOMMU groups)` : '';
  const fix: string[] = [];
  if (off.length) fix.push(`remove ${off.join(' ')} from the kernel command line`);
  if (env.hypervisor) {
    fix.push(
      'this is a virtual machine: give it a virtual IOMMU, e.g. QEMU `-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on` ' +
        '(before the other -device options) or `-device virtio-iommu-pci`, and boot the guest with intel_iommu=on',
    );
  }
  if (env.cpuVendor !== 'amd') {
    fix.push(
      'Intel: enable VT-d in the firmware setup and add intel_iommu=on to the kernel command line ' +
        '(GRUB_CMDLINE_LINUX in /etc/default/grub, then `update-grub` and reboot)',
    );
  }
  if (env.cpuVendor !== 'intel') {
    fix.push('AMD: enable the IOMMU (AMD-Vi, sometimes "IOMMU" or "SVM") in the firmware setup; the kernel turns it on by default (amd_iommu=on)');
  }
  fix.push('after the reboot `ls /sys/kernel/iommu_groups` lists groups; `dmesg | grep -i -e DMAR -e AMD-Vi` says what the kernel found');
  return {
    id: 'iommu',
    status: 'fail',
    summary: `no IOMMU is enabled (/sys/class/iommu is empty)${noiommuGroups}`,
    detail: argText + (off.length ? `; ${off.join(' ')} turns it off` : ''),
    fix: fix.join('\n'),
  };
}

function checkVfio(env: Env): DoctorCheck {
  const vfio = existsSync(env.sys('sys/module/vfio'));
  const type1 = existsSync(env.sys('sys/module/vfio_iommu_type1'));
  const iommufd = existsSync(env.sys('sys/module/iommufd'));
  const node = existsSync(env.sys('dev/vfio/vfio'));
  if (vfio && node && (type1 || iommufd)) {
    return {
      id: 'vfio',
      status: 'pass',
      summary: `vfio and ${type1 ? 'vfio_iommu_type1' : 'iommufd (container compatibility)'} loaded; /dev/vfio/vfio present`,
    };
  }
  const missing = [!vfio && 'vfio', !type1 && !iommufd && 'vfio_iommu_type1'].filter((m): m is string => typeof m === 'string');
  if (missing.length) {
    return {
      id: 'vfio',
      status: 'fail',
      summary: `not loaded: ${missing.join(', ')}`,
      detail: node ? undefined : '/dev/vfio/vfio is missing too',
      fix: 'modprobe -a vfio vfio_iommu_type1 vfio-pci   (to load them at boot: list them in /etc/modules-load.d/vfio.conf)',
    };
  }
  return {
    id: 'vfio',
    status: 'fail',
    summary: 'vfio is loaded but /dev/vfio/vfio is missing',
    fix: 'is devtmpfs mounted on /dev? (mount -t devtmpfs devtmpfs /dev); by hand: mkdir -p /dev/vfio && mknod /dev/vfio/vfio c 10 196',
  };
}

function checkVfioPci(env: Env): DoctorCheck {
  const dir = env.sys('sys/bus/pci/drivers', VFIO_PCI_DRIVER);
  if (existsSync(dir)) {
    const bound = listDir(dir).filter((n) => /^[0-9a-f]{4}:/.test(n));
    return { id: 'vfio-pci', status: 'pass', summary: `vfio-pci driver loaded, ${bound.length} device${bound.length === 1 ? '' : 's'} bound` };
  }
  return {
    id: 'vfio-pci',
    status: 'fail',
    summary: 'the vfio-pci driver is not loaded',
    fix: 'modprobe vfio-pci   (to load it at boot: echo vfio-pci > /etc/modules-load.d/vfio-pci.conf)',
  };
}

function checkIommufd(env: Env): DoctorCheck {
  if (existsSync(env.sys('dev/iommu'))) {
    const cdev = existsSync(env.sys('dev/vfio/devices'));
    return {
      id: 'iommufd',
      status: 'pass',
      summary: `iommufd available (/dev/iommu${cdev ? ', /dev/vfio/devices' : ''})`,
    };
  }
  return {
    id: 'iommufd',
    status: 'warn',
    summary: 'iommufd is not available (no /dev/iommu); the legacy container API (/dev/vfio/vfio) is used',
    fix: 'optional: Linux 6.2 or later with CONFIG_IOMMUFD: modprobe iommufd',
  };
}

function checkNoIommu(env: Env): DoctorCheck {
  const param = readText(env.sys('sys/module/vfio/parameters/enable_unsafe_noiommu_mode'))?.trim();
  if (param === 'Y' || param === '1') {
    return {
      id: 'noiommu',
      status: 'warn',
      summary: 'NO-IOMMU MODE IS ON: a device bound to vfio-pci without an IOMMU can DMA anywhere in memory, and vfio cannot stop it',
      detail: 'such devices appear as /dev/vfio/noiommu-N, open only to root with CAP_SYS_RAWIO; nothing isolates them',
      fix: 'unless you mean it: echo N > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode (and drop vfio enable_unsafe_noiommu_mode=1 from modprobe.d)',
    };
  }
  if (param === undefined) {
    const vfio = existsSync(env.sys('sys/module/vfio'));
    return { id: 'noiommu', status: 'pass', summary: vfio ? 'no-IOMMU mode is not built into this kernel' : 'no-IOMMU mode is off (vfio not loaded)' };
  }
  return { id: 'noiommu', status: 'pass', summary: 'no-IOMMU mode is off' };
}

function checkInterruptRemapping(env: Env): DoctorCheck {
  const interrupts = readText(join(env.proc, 'interrupts')) ?? '';
  const chips = [...new Set(interrupts.split(/\s+/).filter((t) => /^(IR|ITS)-/.test(t)))];
  const unsafe = readText(env.sys('sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts'))?.trim();
  const unsafeOn = unsafe === 'Y' || unsafe === '1';
  if (chips.length) {
    return {
      id: 'interrupt-remapping',
      status: 'pass',
      summary: `interrupt remapping is on (${chips.slice(0, 3).join(', ')} in /proc/interrupts)`,
    };
  }
  const irUnits = env.units.filter((u) => {
    const ecap = readText(env.sys('sys/class/iommu', u.name, 'intel-iommu/ecap'))?.trim();
    if (!ecap) return false;
    try {
      return (BigInt(ecap.startsWith('0x') ? ecap : `0x${ecap}`) & ECAP_IR) !== 0n;
    } catch {
      return false;
    }
  });
  const off = env.cmdline.filter((w) => /^intremap=off$|^nointremap$|^intremap=nosid$/.test(w));
  if (unsafeOn) {
    return {
      id: 'interrupt-remapping',
      status: 'warn',
      summary: 'no remapped interrupts seen; vfio_iommu_type1 allow_unsafe_interrupts=Y lets VFIO run without them',
      detail: 'without interrupt remapping a device can forge MSI writes and inject interrupts into the host',
      fix: 'enable interrupt remapping (firmware: VT-d/AMD-Vi with x2APIC; QEMU: -device intel-iommu,intremap=on), then echo N > /sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts',
    };
  }
  if (irUnits.length && !off.length) {
    return {
      id: 'interrupt-remapping',
      status: 'warn',
      summary: `${irUnits.map((u) => u.name).join(', ')} support interrupt remapping (ecap bit 3) but no IR- interrupt is listed in /proc/interrupts`,
      fix: 'check `dmesg | grep -i remapping`; it should say "Enabled IRQ remapping"',
    };
  }
  const fix = [
    off.length ? `remove ${off.join(' ')} from the kernel command line` : '',
    env.units.length === 0 ? 'it needs the IOMMU: fix the iommu check first' : '',
    'enable interrupt remapping in the firmware (VT-d / AMD-Vi, x2APIC); in a QEMU guest: -machine q35,kernel-irqchip=split -device intel-iommu,intremap=on',
    'unsafe, at your own risk: modprobe vfio_iommu_type1 allow_unsafe_interrupts=1',
  ].filter(Boolean);
  return {
    id: 'interrupt-remapping',
    status: 'fail',
    summary:
      env.units.length === 0
        ? 'no interrupt remapping (there is no IOMMU)'
        : 'no interrupt remapping: vfio_iommu_type1 refuses to attach groups (VFIO_SET_IOMMU fails with EPERM)',
    fix: fix.join('\n'),
  };
}

function hasCapIpcLock(procSelf: string): boolean {
  const hex = /^CapEff:\s*([0-9a-f]+)/im.exec(readText(join(procSelf, 'status')) ?? '')?.[1];
  if (!hex) return false;
  return ((BigInt(`0x${hex}`) >> CAP_IPC_LOCK) & 1n) === 1n;
}

function checkMemlock(env: Env): DoctorCheck {
  const needed = env.opts.memlock ?? DEFAULT_MEMLOCK_NEEDED;
  const procSelf = join(env.proc, 'self');
  const limit = memlockLimit(procSelf);
  const limitText = limit === undefined ? 'unknown' : formatBytes(limit);
  if (hasCapIpcLock(procSelf)) {
    return {
      id: 'memlock',
      status: 'pass',
      summary: `CAP_IPC_LOCK: pinned DMA memory is not limited (RLIMIT_MEMLOCK ${limitText})`,
    };
  }
  if (limit === undefined) {
    return {
      id: 'memlock',
      status: 'warn',
      summary: `cannot read RLIMIT_MEMLOCK from ${join(procSelf, 'limits')}`,
      fix: 'check `ulimit -l`: DMA buffers are pinned and count against it',
    };
  }
  if (limit >= needed) {
    return { id: 'memlock', status: 'pass', summary: `RLIMIT_MEMLOCK ${limitText}, at least the ${formatBytes(needed)} a driver needs` };
  }
  const kib = Math.ceil(needed / 1024);
  return {
    id: 'memlock',
    status: 'fail',
    summary: `RLIMIT_MEMLOCK is ${limitText}; a driver needs about ${formatBytes(needed)} (DMA buffers are pinned and count against it)`,
    detail: 'mapping more fails with ENOMEM in VFIO_IOMMU_MAP_DMA; `--memlock SIZE` sets what your driver needs',
    fix: [
      `this shell: ulimit -l ${kib}   (up to the hard limit; root can raise it: prlimit --memlock=${needed}:${needed} --pid $$)`,
      `for good: "<user> - memlock ${kib}" in /etc/security/limits.conf (log in again); systemd: LimitMEMLOCK=${formatBytes(needed).replace(' ', '')}`,
      'containers: docker run --ulimit memlock=-1:-1; or give the process CAP_IPC_LOCK',
    ].join('\n'),
  };
}

function meminfoField(text: string, name: string): number | undefined {
  const m = new RegExp(`^${name}:\\s*(\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

function checkHugepages(env: Env): DoctorCheck {
  const meminfo = readText(join(env.proc, 'meminfo'));
  if (meminfo === undefined) {
    return { id: 'hugepages', status: 'warn', summary: `cannot read ${join(env.proc, 'meminfo')}` };
  }
  const sizes = listDir(env.sys('sys/kernel/mm/hugepages'))
    .map((dir) => {
      const kb = Number(/^hugepages-(\d+)kB$/.exec(dir)?.[1]);
      const num = (f: string) => Number(readText(env.sys('sys/kernel/mm/hugepages', dir, f))?.trim() ?? 0);
      return { size: kb * 1024, total: num('nr_hugepages'), free: num('free_hugepages') };
    })
    .filter((s) => Number.isFinite(s.size) && s.size > 0);
  if (sizes.length === 0) {
    const size = (meminfoField(meminfo, 'Hugepagesize') ?? 2048) * 1024;
    sizes.push({ size, total: meminfoField(meminfo, 'HugePages_Total') ?? 0, free: meminfoField(meminfo, 'HugePages_Free') ?? 0 });
  }
  const describe = sizes
    .filter((s) => s.total > 0)
    .map((s) => `${s.free} of ${s.total} ${formatBytes(s.size)} pages free`)
    .join(', ');
  const fix =
    'echo 512 > /proc/sys/vm/nr_hugepages   (1 GiB of 2 MiB pages; for good: vm.nr_hugepages = 512 in /etc/sysctl.d/hugepages.conf)';
  if (sizes.some((s) => s.free > 0)) return { id: 'hugepages', status: 'pass', summary: `hugepages: ${describe}` };
  if (sizes.some((s) => s.total > 0)) {
    return { id: 'hugepages', status: 'warn', summary: `hugepages all in use: ${describe}; DMA buffers fall back to 4 KiB pages`, fix };
  }
  return {
    id: 'hugepages',
    status: 'warn',
    summary: 'no hugepages reserved: DMA buffers use 4 KiB pages (more IOMMU entries, slower for large rings)',
    fix,
  };
}

function canReadWrite(path: string, user: DoctorUser | undefined): boolean {
  if (!user) {
    try {
      accessSync(path, constants.R_OK | constants.W_OK);
      return true;
    } catch {
      return false;
    }
  }
  let st;
  try {
    st = statSync(path);
  } catch {
    return false;
  }
  if (user.uid === 0) return true;
  const bits = st.uid === user.uid ? (st.mode >> 6) & 7 : user.gids.includes(st.gid) ? (st.mode >> 3) & 7 : st.mode & 7;
  return (bits & 6) === 6;
}

function ownerText(path: string): string {
  try {
    const st = statSync(path);
    return `owner ${st.uid}:${st.gid}, mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}`;
  } catch {
    return 'cannot stat it';
  }
}

function deviceChecks(address: string, env: Env): DoctorCheck[] {
  const opts = env.opts;
  let addr: string;
  try {
    addr = normalizePciAddress(address);
  } catch {
    return [
      {
        id: 'device',
        status: 'fail',
        device: address,
        summary: `${JSON.stringify(address)} is not a PCI address`,
        fix: "write it as domain:bus:device.function, e.g. 0000:00:03.0 (see `lspci -D` or `vfio ls`)",
      },
    ];
  }
  if (!existsSync(env.sys('sys/bus/pci/devices', addr))) {
    return [
      {
        id: 'device',
        status: 'fail',
        device: addr,
        summary: `no PCI device at ${addr}`,
        fix: 'list the devices with `vfio ls` or `lspci -D`; a VF appears only after SR-IOV is enabled',
      },
    ];
  }
  const d = readPciDevice(addr, opts);
  const checks: DoctorCheck[] = [
    { id: 'device', status: 'pass', device: addr, summary: `${addr} is ${pciId(d.vendor, d.device)} (${pciClassName(d.classCode)})` },
  ];
  const byHand =
    `or by hand: modprobe vfio-pci; echo vfio-pci > /sys/bus/pci/devices/${addr}/driver_override; ` +
    (d.driver ? `echo ${addr} > /sys/bus/pci/devices/${addr}/driver/unbind; ` : '') +
    `echo ${addr} > /sys/bus/pci/drivers_probe`;
  if (d.driver === VFIO_PCI_DRIVER) {
    checks.push({ id: 'bound', status: 'pass', device: addr, summary: 'bound to vfio-pci' });
  } else if (isVfioPciDriver(d.driver)) {
    checks.push({ id: 'bound', status: 'pass', device: addr, summary: `bound to ${d.driver} (a vfio-pci variant driver)` });
  } else {
    checks.push({
      id: 'bound',
      status: 'fail',
      device: addr,
      summary: d.driver ? `bound to ${d.driver}, not vfio-pci` : 'bound to no driver, not vfio-pci',
      fix: `vfio bind ${addr}\n${byHand}`,
    });
  }
  if (d.iommuGroup === null) {
    checks.push({
      id: 'group',
      status: 'fail',
      device: addr,
      summary: env.units.length ? `no IOMMU group: ${env.units.map((u) => u.name).join(', ')} do not cover this device` : 'no IOMMU group: the IOMMU is off',
      fix: env.units.length ? "check the firmware's DMAR/IVRS tables (dmesg | grep -i -e DMAR -e IVRS)" : 'turn the IOMMU on (see the iommu check)',
    });
    return checks;
  }
  const g = groupViability(d.iommuGroup, opts);
  const others = g.members.filter((m) => m.address !== addr);
  if (g.viable) {
    checks.push({
      id: 'group',
      status: 'pass',
      device: addr,
      summary: `IOMMU group ${g.group} is viable` + (others.length ? ` (with ${describeMembers(others)})` : ' (this device alone)'),
    });
  } else {
    const fixes = [];
    const devs = g.blockers.filter((b) => !isBridgeClass(b.classCode));
    const bridges = g.blockers.filter((b) => isBridgeClass(b.classCode));
    if (devs.length) {
      fixes.push(`vfio bind --group ${addr}   (binds every device of the group to vfio-pci)`);
      fixes.push(`or unbind them: ${devs.map((b) => `echo ${b.address} > /sys/bus/pci/devices/${b.address}/driver/unbind`).join('; ')}`);
    }
    for (const b of bridges) fixes.push(`the bridge ${b.address} must not have a driver: echo ${b.address} > /sys/bus/pci/devices/${b.address}/driver/unbind`);
    checks.push({
      id: 'group',
      status: 'fail',
      device: addr,
      summary: `IOMMU group ${g.group} is not viable: ${describeMembers(g.blockers)} ${g.blockers.length === 1 ? 'is' : 'are'} bound to another driver`,
      detail: `the group holds ${describeMembers(g.members)}; every member must be bound to vfio-pci, a bridge driver (pcieport) or to no driver`,
      fix: fixes.join('\n'),
    });
  }
  const node = vfioGroupNode(g.group, opts);
  if (node === null) {
    checks.push({
      id: 'access',
      status: 'fail',
      device: addr,
      summary: `/dev/vfio/${g.group} does not exist`,
      fix: isVfioPciDriver(d.driver)
        ? 'the device is bound, so the node should exist: is devtmpfs mounted on /dev? (udevadm trigger -s vfio)'
        : `it appears once the device is bound to vfio-pci: vfio bind ${addr}`,
    });
    return checks;
  }
  const nodePath = env.sys(node.slice(1));
  const containerPath = env.sys('dev/vfio/vfio');
  const who = opts.user ? `uid ${opts.user.uid}` : `this user (uid ${process.getuid?.() ?? '?'})`;
  const bad = [nodePath, containerPath].filter((p) => existsSync(p) && !canReadWrite(p, opts.user));
  if (bad.length === 0) {
    checks.push({ id: 'access', status: 'pass', device: addr, summary: `${node} is readable and writable by ${who}` });
    checks.push(interfaceCheck(addr, g.group, node, who, env, opts));
  } else {
    const names = bad.map((p) => (p === nodePath ? node : '/dev/vfio/vfio'));
    checks.push({
      id: 'access',
      status: 'fail',
      device: addr,
      summary: `${who} cannot open ${names.join(' and ')} read-write (${ownerText(bad[0] as string)})`,
      fix: [
        `for now: sudo chown $(id -un) ${names.join(' ')}`,
        `for good, a udev rule and a group: echo 'SUBSYSTEM=="vfio", GROUP="vfio", MODE="0660"' | sudo tee /etc/udev/rules.d/90-vfio.rules; ` +
          'sudo groupadd -f vfio; sudo usermod -aG vfio $(id -un); sudo udevadm trigger (log in again)',
        'or run as root',
      ].join('\n'),
    });
  }
  return checks;
}

/**
 * Which interface openDevice({ iommu: 'auto' }) takes for this device, as this user: the
 * iommufd cdev, the legacy container, or -- only with the opt-in -- no-IOMMU mode.
 */
function interfaceCheck(addr: string, group: number, node: string, who: string, env: Env, opts: DoctorOptions): DoctorCheck {
  if (isNoIommuGroup(group, opts)) {
    const root = (opts.user?.uid ?? process.getuid?.()) === 0;
    return {
      id: 'interface',
      status: root ? 'warn' : 'fail',
      device: addr,
      summary: `no-IOMMU group (${node}): DMA is not translated; openDevice needs { unsafeNoIommu: true }` + (root ? '' : `, and root: ${who} cannot use it`),
      detail: 'DMA addresses are physical (device.dmaTranslated is false); buffers must be physically contiguous (hugepages); the kernel is tainted',
      ...(!root && { fix: 'no-IOMMU devices open only with CAP_SYS_RAWIO: run as root, or enable the IOMMU' }),
    };
  }
  const cdev = vfioCdevName(addr, opts);
  const iommu = env.sys('dev/iommu');
  if (cdev !== null && existsSync(iommu)) {
    const cdevPath = `/dev/vfio/devices/${cdev}`;
    const blocked = [iommu, env.sys(cdevPath.slice(1))].filter((p) => !canReadWrite(p, opts.user));
    if (blocked.length === 0)
      return { id: 'interface', status: 'pass', device: addr, summary: `openDevice uses iommufd: /dev/iommu and ${cdevPath} (the container ${node} also works)` };
    return {
      id: 'interface',
      status: 'pass',
      device: addr,
      summary: `openDevice uses the legacy container (${node}): ${who} cannot open ${blocked.length === 2 ? `/dev/iommu and ${cdevPath}` : blocked[0] === iommu ? '/dev/iommu' : cdevPath}`,
      detail: `to use iommufd, grant ${who} /dev/iommu and ${cdevPath} as well`,
    };
  }
  return { id: 'interface', status: 'pass', device: addr, summary: `openDevice uses the legacy container (${node})${existsSync(iommu) ? '' : '; this kernel has no iommufd'}` };
}

/**
 * Runs every system check, then the device checks for each address given.
 * Never throws for what it finds; a failure is a check with status 'fail'.
 */
export function runDoctor(opts: DoctorOptions = {}): DoctorCheck[] {
  const env = environment(opts);
  const checks = [
    checkIommu(env),
    checkVfio(env),
    checkVfioPci(env),
    checkIommufd(env),
    checkNoIommu(env),
    checkInterruptRemapping(env),
    checkMemlock(env),
    checkHugepages(env),
  ];
  const addresses = opts.address === undefined ? [] : typeof opts.address === 'string' ? [opts.address] : opts.address;
  for (const a of addresses) checks.push(...deviceChecks(a, env));
  return checks;
}

/** True when any check failed (the CLI's exit status 1). */
export function doctorFailed(checks: readonly DoctorCheck[]): boolean {
  return checks.some((c) => c.status === 'fail');
}
