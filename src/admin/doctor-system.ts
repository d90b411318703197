// The doctor's checks of the machine: IOMMU, vfio modules, iommufd, no-IOMMU mode, interrupt remapping, memlock, hugepages.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { formatBytes, memlockLimit } from '../host/limits.js';
import { VFIO_PCI_DRIVER } from '../host/pci.js';
import { DEFAULT_MEMLOCK_NEEDED, listDir, readText, type DoctorCheck, type Env } from './doctor-env.js';


/** CAP_IPC_LOCK: locked memory beyond RLIMIT_MEMLOCK (VFIO type1 and iommufd honour it). */
const CAP_IPC_LOCK = 14n;
/** Intel VT-d extended capability register: interrupt remapping support. */
const ECAP_IR = 1n << 3n;

function iommuArgs(cmdline: readonly string[]): string[] {
  return cmdline.filter((w) => /^(intel_iommu|amd_iommu|iommu|iommu\.passthrough|iommu\.strict)=/.test(w));
}

export function checkIommu(env: Env): DoctorCheck {
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

export function checkVfio(env: Env): DoctorCheck {
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

export function checkVfioPci(env: Env): DoctorCheck {
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

export function checkIommufd(env: Env): DoctorCheck {
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

export function checkNoIommu(env: Env): DoctorCheck {
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

export function checkInterruptRemapping(env: Env): DoctorCheck {
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

export function checkMemlock(env: Env): DoctorCheck {
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

export function checkHugepages(env: Env): DoctorCheck {
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

