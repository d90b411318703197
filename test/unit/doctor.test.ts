/**
 * `vfio doctor` as a library, against synthetic sysfs/procfs trees: every check
 * in pass and in fail (or warn, where warn is the worst it gets).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_MEMLOCK_NEEDED, doctorFailed, runDoctor, type DoctorCheck, type DoctorOptions } from '../../src/admin/doctor.js';
import { makeSysfsTree, type FakePciDevice, type SysfsTree } from '../helpers/sysfs-tree.js';

let tree: SysfsTree | undefined;
afterEach(() => {
  tree?.cleanup();
  tree = undefined;
});

const EDU: FakePciDevice = { address: '0000:00:02.0', vendor: 0x1234, device: 0x11e8, classCode: 0x00ff00, driver: 'vfio-pci', group: 2 };
const NIC: FakePciDevice = { address: '0000:00:03.0', vendor: 0x8086, device: 0x10d3, classCode: 0x020000, driver: 'vfio-pci', group: 3 };
const BRIDGE: FakePciDevice = { address: '0000:00:05.0', vendor: 0x1b36, device: 0x000e, classCode: 0x060400, driver: null, group: 5 };
const BRIDGED_EDU: FakePciDevice = { address: '0000:01:01.0', vendor: 0x1234, device: 0x11e8, classCode: 0x00ff00, driver: 'vfio-pci', group: 5 };
const BRIDGED_NET: FakePciDevice = { address: '0000:01:02.0', vendor: 0x1af4, device: 0x1000, classCode: 0x020000, driver: 'virtio-pci', group: 5 };

/** A host where everything works: dmar0 with IR, modules, nodes, caps, hugepages, and the devices given. */
function healthy(devices: FakePciDevice[] = [EDU]): SysfsTree {
  tree = makeSysfsTree(devices);
  tree.addHealthyHost();
  for (const g of new Set(devices.filter((d) => d.driver === 'vfio-pci').map((d) => d.group))) tree.addDevNode(String(g), 0o600);
  return tree;
}

function doctor(opts: Omit<DoctorOptions, 'root'> = {}): DoctorCheck[] {
  return runDoctor({ root: tree!.root, ...opts });
}

function check(checks: DoctorCheck[], id: string, device?: string): DoctorCheck {
  const c = checks.find((x) => x.id === id && (device === undefined || x.device === device));
  if (!c) throw new Error(`no check ${id} in ${checks.map((x) => x.id).join(', ')}`);
  return c;
}

describe('a healthy host', () => {
  it('passes every check for a bound device in a viable group', () => {
    healthy();
    tree!.writeFile('dev/iommu');
    const checks = doctor({ address: EDU.address });
    expect(checks.map((c) => c.id)).toEqual([
      'iommu', 'vfio', 'vfio-pci', 'iommufd', 'noiommu', 'interrupt-remapping', 'memlock', 'hugepages',
      'device', 'bound', 'group', 'access', 'interface',
    ]);
    for (const c of checks) expect(c.status, `${c.id}: ${c.summary}`).toBe('pass');
    expect(doctorFailed(checks)).toBe(false);
    expect(check(checks, 'iommu').summary).toMatch(/Intel VT-d \(dmar0\), 1 IOMMU group$/);
    expect(check(checks, 'iommu').detail).toMatch(/intel_iommu=on/);
    expect(check(checks, 'device').summary).toContain('1234:11e8');
    expect(check(checks, 'group').summary).toMatch(/group 2 is viable \(this device alone\)/);
    expect(check(checks, 'access').summary).toMatch(/\/dev\/vfio\/2 is readable and writable/);
    // /dev/iommu exists but the device has no cdev: the container it is.
    expect(check(checks, 'interface').summary).toBe('openDevice uses the legacy container (/dev/vfio/2)');
  });
  it('names iommufd as the interface when /dev/iommu and the device cdev are there', () => {
    healthy();
    tree!.writeFile('dev/iommu');
    tree!.writeFile('dev/vfio/devices/vfio0');
    tree!.writeFile(`sys/bus/pci/devices/${EDU.address}/vfio-dev/vfio0/dev`, '511:0');
    const c = check(doctor({ address: EDU.address }), 'interface');
    expect(c).toMatchObject({ status: 'pass', summary: 'openDevice uses iommufd: /dev/iommu and /dev/vfio/devices/vfio0 (the container /dev/vfio/2 also works)' });
  });
  it('device checks carry the address; several devices are checked in turn', () => {
    healthy([EDU, NIC]);
    const checks = doctor({ address: ['00:02.0', EDU.address.toUpperCase().replace('0000:', '')] });
    expect(checks.filter((c) => c.id === 'bound').map((c) => c.device)).toEqual([EDU.address, EDU.address]);
    const both = doctor({ address: [EDU.address, NIC.address] });
    expect(both.filter((c) => c.device !== undefined).map((c) => `${c.id}@${c.device}`)).toContain(`bound@${NIC.address}`);
  });
  it('without an address only the system is checked', () => {
    healthy();
    expect(doctor().every((c) => c.device === undefined)).toBe(true);
  });
});

describe('iommu', () => {
  it('fails with no IOMMU at all (this host): the fix names the firmware and intel_iommu=on, and nothing throws', () => {
    tree = makeSysfsTree([{ ...EDU, group: null, driver: null }]);
    tree.setProc({ cmdline: 'console=ttyS0 quiet', cpuVendor: 'GenuineIntel' });
    const checks = doctor({ address: EDU.address });
    const c = check(checks, 'iommu');
    expect(c.status).toBe('fail');
    expect(c.summary).toMatch(/no IOMMU is enabled/);
    expect(c.fix).toMatch(/VT-d/);
    expect(c.fix).toMatch(/intel_iommu=on/);
    expect(c.fix).toMatch(/update-grub/);
    expect(doctorFailed(checks)).toBe(true);
    expect(check(checks, 'group', EDU.address)).toMatchObject({ status: 'fail', summary: expect.stringMatching(/IOMMU is off/) });
    expect(check(checks, 'interrupt-remapping')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/no IOMMU/) });
  });
  it('fails even with no /proc and no /sys at all', () => {
    tree = makeSysfsTree();
    const checks = doctor({ proc: join(tree.root, 'nonexistent'), address: '0000:00:09.0' });
    expect(check(checks, 'iommu').status).toBe('fail');
    expect(check(checks, 'device').status).toBe('fail');
    expect(check(checks, 'memlock').status).toBe('warn');
    expect(check(checks, 'hugepages').status).toBe('warn');
  });
  it('names a command-line switch that turns it off', () => {
    tree = makeSysfsTree();
    tree.setProc({ cmdline: 'root=/dev/sda intel_iommu=off' });
    const c = check(doctor(), 'iommu');
    expect(c.status).toBe('fail');
    expect(c.fix).toMatch(/remove intel_iommu=off/);
  });
  it('in a virtual machine, says to give it a virtual IOMMU', () => {
    tree = makeSysfsTree();
    tree.setProc({ cpuVendor: 'GenuineIntel', hypervisor: true });
    expect(check(doctor(), 'iommu').fix).toMatch(/-device intel-iommu,intremap=on/);
  });
  it('on AMD, talks about AMD-Vi and not VT-d', () => {
    tree = makeSysfsTree();
    tree.setProc({ cpuVendor: 'AuthenticAMD' });
    const c = check(doctor(), 'iommu');
    expect(c.fix).toMatch(/AMD-Vi/);
    expect(c.fix).not.toMatch(/VT-d/);
  });
  it('recognises AMD-Vi and virtio-iommu units', () => {
    tree = makeSysfsTree([EDU]);
    tree.addIommuUnit('ivhd0');
    expect(check(doctor(), 'iommu')).toMatchObject({ status: 'pass', summary: expect.stringMatching(/^AMD-Vi \(ivhd0\)/) });
    tree.cleanup();
    tree = makeSysfsTree([EDU]);
    tree.addIommuUnit('virtio1', { driver: 'virtio_iommu' });
    expect(check(doctor(), 'iommu')).toMatchObject({ status: 'pass', summary: expect.stringMatching(/^virtio-iommu \(virtio1\)/) });
  });
  it('fails when units exist but there are no groups', () => {
    tree = makeSysfsTree();
    tree.addIommuUnit('dmar0');
    expect(check(doctor(), 'iommu')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/no IOMMU groups/) });
  });
  it('says passthrough is fine', () => {
    healthy();
    tree!.setProc({ cmdline: 'intel_iommu=on iommu=pt' });
    expect(check(doctor(), 'iommu').detail).toMatch(/VFIO still translates/);
  });
});

describe('vfio, vfio-pci, iommufd, no-IOMMU mode', () => {
  it('vfio fails when the modules are not loaded, with modprobe as the fix', () => {
    tree = makeSysfsTree();
    const c = check(doctor(), 'vfio');
    expect(c.status).toBe('fail');
    expect(c.summary).toMatch(/vfio, vfio_iommu_type1/);
    expect(c.fix).toMatch(/modprobe -a vfio vfio_iommu_type1 vfio-pci/);
  });
  it('vfio fails when the module is loaded but /dev/vfio/vfio is missing', () => {
    tree = makeSysfsTree();
    tree.addModule('vfio');
    tree.addModule('vfio_iommu_type1');
    const c = check(doctor(), 'vfio');
    expect(c).toMatchObject({ status: 'fail', summary: expect.stringMatching(/\/dev\/vfio\/vfio is missing/) });
    expect(c.fix).toMatch(/mknod \/dev\/vfio\/vfio c 10 196/);
  });
  it('vfio passes with iommufd standing in for type1', () => {
    tree = makeSysfsTree();
    tree.addModule('vfio');
    tree.addModule('iommufd');
    tree.addDevNode('vfio');
    expect(check(doctor(), 'vfio')).toMatchObject({ status: 'pass', summary: expect.stringMatching(/iommufd/) });
  });
  it('vfio-pci passes with the driver loaded (counting bound devices) and fails without', () => {
    healthy([EDU, NIC]);
    expect(check(doctor(), 'vfio-pci')).toMatchObject({ status: 'pass', summary: expect.stringMatching(/2 devices bound/) });
    tree!.cleanup();
    tree = makeSysfsTree();
    expect(check(doctor(), 'vfio-pci')).toMatchObject({ status: 'fail', fix: expect.stringMatching(/modprobe vfio-pci/) });
  });
  it('iommufd passes with /dev/iommu and warns without', () => {
    healthy();
    expect(check(doctor(), 'iommufd')).toMatchObject({ status: 'warn', fix: expect.stringMatching(/modprobe iommufd/) });
    tree!.writeFile('dev/iommu');
    expect(check(doctor(), 'iommufd').status).toBe('pass');
  });
  it('no-IOMMU mode: off passes, on warns loudly', () => {
    healthy();
    expect(check(doctor(), 'noiommu')).toMatchObject({ status: 'pass', summary: 'no-IOMMU mode is off' });
    tree!.addModule('vfio', { enable_unsafe_noiommu_mode: 'Y' });
    const c = check(doctor(), 'noiommu');
    expect(c.status).toBe('warn');
    expect(c.summary).toMatch(/NO-IOMMU MODE IS ON/);
    expect(c.fix).toMatch(/echo N > \/sys\/module\/vfio\/parameters\/enable_unsafe_noiommu_mode/);
  });
  it('no-IOMMU mode not built in passes', () => {
    tree = makeSysfsTree();
    tree.addModule('vfio');
    expect(check(doctor(), 'noiommu')).toMatchObject({ status: 'pass', summary: expect.stringMatching(/not built/) });
  });
});

describe('interrupt remapping', () => {
  it('passes when /proc/interrupts lists IR- chips', () => {
    healthy();
    expect(check(doctor(), 'interrupt-remapping')).toMatchObject({ status: 'pass', summary: expect.stringMatching(/IR-IO-APIC, IR-PCI-MSI/) });
  });
  it('fails without remapping on an IOMMU host, with the fix', () => {
    healthy();
    tree!.setProc({ interrupts: '  9:   0   IO-APIC    9-fasteoi   acpi\n 24:   5   PCI-MSI 49152-edge  eth0\n' });
    tree!.addIommuUnit('dmar0', { ecap: 'f0201e'.replace('e', '0') }); // IR bit 3 clear
    const c = check(doctor(), 'interrupt-remapping');
    expect(c.status).toBe('fail');
    expect(c.summary).toMatch(/VFIO_SET_IOMMU fails with EPERM/);
    expect(c.fix).toMatch(/intremap=on/);
    expect(c.fix).toMatch(/allow_unsafe_interrupts=1/);
  });
  it('warns when the hardware has it (ecap bit 3) but no remapped interrupt is listed', () => {
    healthy();
    tree!.setProc({ interrupts: '  9:   0   IO-APIC    9-fasteoi   acpi\n' });
    expect(check(doctor(), 'interrupt-remapping')).toMatchObject({ status: 'warn', summary: expect.stringMatching(/dmar0 support/) });
  });
  it('warns when VFIO is told to allow unsafe interrupts', () => {
    healthy();
    tree!.setProc({ interrupts: '' });
    tree!.addModule('vfio_iommu_type1', { allow_unsafe_interrupts: 'Y' });
    expect(check(doctor(), 'interrupt-remapping')).toMatchObject({ status: 'warn', summary: expect.stringMatching(/allow_unsafe_interrupts=Y/) });
  });
  it('names intremap=off on the command line', () => {
    healthy();
    tree!.setProc({ interrupts: '', cmdline: 'intel_iommu=on intremap=off' });
    expect(check(doctor(), 'interrupt-remapping').fix).toMatch(/remove intremap=off/);
  });
});

describe('memlock', () => {
  it('passes with CAP_IPC_LOCK whatever the limit', () => {
    healthy();
    tree!.setProc({ memlock: 65536 });
    expect(check(doctor(), 'memlock')).toMatchObject({ status: 'pass', summary: expect.stringMatching(/CAP_IPC_LOCK.*64 KiB/) });
  });
  it('fails below what a driver needs, with ulimit and limits.conf as the fix', () => {
    healthy();
    tree!.setProc({ capEff: '0', memlock: 65536 });
    const c = check(doctor(), 'memlock');
    expect(c.status).toBe('fail');
    expect(c.summary).toMatch(/RLIMIT_MEMLOCK is 64 KiB; a driver needs about 64 MiB/);
    expect(c.fix).toMatch(/ulimit -l 65536/);
    expect(c.fix).toMatch(/limits\.conf/);
    expect(c.fix).toMatch(/LimitMEMLOCK=64MiB/);
  });
  it('passes at or above the amount asked for, and when unlimited', () => {
    healthy();
    tree!.setProc({ capEff: '0', memlock: DEFAULT_MEMLOCK_NEEDED });
    expect(check(doctor(), 'memlock').status).toBe('pass');
    tree!.setProc({ memlock: 8 * 2 ** 20 });
    expect(check(doctor(), 'memlock').status).toBe('fail');
    expect(check(doctor({ memlock: 4 * 2 ** 20 }), 'memlock').status).toBe('pass');
    tree!.setProc({ memlock: 'unlimited' });
    expect(check(doctor({ memlock: 2 ** 40 }), 'memlock')).toMatchObject({ status: 'pass', summary: expect.stringMatching(/unlimited/) });
  });
  it('warns when the limit cannot be read', () => {
    tree = makeSysfsTree();
    expect(check(doctor(), 'memlock').status).toBe('warn');
  });
});

describe('hugepages', () => {
  it('passes with free hugepages', () => {
    healthy();
    expect(check(doctor(), 'hugepages')).toMatchObject({ status: 'pass', summary: expect.stringMatching(/500 of 512 2 MiB pages free/) });
  });
  it('warns (never fails) with none reserved, or all in use', () => {
    healthy();
    tree!.setProc({ hugepages: { total: 0, free: 0 } });
    const none = check(doctor(), 'hugepages');
    expect(none).toMatchObject({ status: 'warn', summary: expect.stringMatching(/no hugepages reserved/) });
    expect(none.fix).toMatch(/nr_hugepages/);
    tree!.setProc({ hugepages: { total: 16, free: 0 } });
    expect(check(doctor(), 'hugepages')).toMatchObject({ status: 'warn', summary: expect.stringMatching(/all in use/) });
  });
  it('counts every size from /sys/kernel/mm/hugepages', () => {
    healthy();
    tree!.setProc({ hugepages: { total: 0, free: 0 } });
    const dir = join(tree!.root, 'sys/kernel/mm/hugepages/hugepages-1048576kB');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'nr_hugepages'), '2\n');
    writeFileSync(join(dir, 'free_hugepages'), '2\n');
    expect(check(doctor(), 'hugepages')).toMatchObject({ status: 'pass', summary: expect.stringMatching(/2 of 2 1 GiB pages free/) });
  });
});

describe('device checks', () => {
  it('an address with no device fails (and stops there)', () => {
    healthy();
    const checks = doctor({ address: '0000:00:1f.7' });
    expect(checks.filter((c) => c.device)).toEqual([expect.objectContaining({ id: 'device', status: 'fail', fix: expect.stringMatching(/vfio ls/) })]);
  });
  it('something that is not an address fails without throwing', () => {
    healthy();
    expect(check(doctor({ address: 'eth0' }), 'device')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/not a PCI address/) });
  });
  it('bound: fails for a device on another driver or none, with vfio bind as the fix', () => {
    healthy([{ ...NIC, driver: 'e1000e' }, { ...EDU, driver: null }]);
    const nic = check(doctor({ address: NIC.address }), 'bound');
    expect(nic).toMatchObject({ status: 'fail', summary: 'bound to e1000e, not vfio-pci' });
    expect(nic.fix).toMatch(new RegExp(`^vfio bind ${NIC.address}`));
    expect(nic.fix).toContain(`echo ${NIC.address} > /sys/bus/pci/devices/${NIC.address}/driver/unbind`);
    const edu = check(doctor({ address: EDU.address }), 'bound');
    expect(edu).toMatchObject({ status: 'fail', summary: 'bound to no driver, not vfio-pci' });
    expect(edu.fix).not.toContain('driver/unbind');
  });
  it('bound: a vfio-pci variant driver passes', () => {
    healthy([{ ...NIC, driver: 'mlx5_vfio_pci' }]);
    expect(check(doctor({ address: NIC.address }), 'bound')).toMatchObject({ status: 'pass', summary: expect.stringMatching(/variant/) });
  });
  it('group: not viable names the members in the way and their drivers', () => {
    healthy([BRIDGE, BRIDGED_EDU, BRIDGED_NET]);
    const c = check(doctor({ address: BRIDGED_EDU.address }), 'group');
    expect(c.status).toBe('fail');
    expect(c.summary).toBe('IOMMU group 5 is not viable: 0000:01:02.0 (virtio-pci) is bound to another driver');
    expect(c.detail).toContain('0000:00:05.0 (no driver), 0000:01:01.0 (vfio-pci), 0000:01:02.0 (virtio-pci)');
    expect(c.fix).toMatch(/vfio bind --group 0000:01:01\.0/);
    expect(c.fix).toContain('echo 0000:01:02.0 > /sys/bus/pci/devices/0000:01:02.0/driver/unbind');
  });
  it('group: viable with a driverless bridge, pcieport and pci-stub members', () => {
    healthy([{ ...BRIDGE, driver: 'pcieport' }, BRIDGED_EDU, { ...BRIDGED_NET, driver: 'pci-stub' }]);
    const c = check(doctor({ address: BRIDGED_EDU.address }), 'group');
    expect(c.status).toBe('pass');
    expect(c.summary).toMatch(/with 0000:00:05\.0 \(pcieport\), 0000:01:02\.0 \(pci-stub\)/);
  });
  it('group: a bridge bound to a hotplug driver blocks it, and the fix unbinds the bridge', () => {
    healthy([{ ...BRIDGE, driver: 'shpchp' }, BRIDGED_EDU]);
    const c = check(doctor({ address: BRIDGED_EDU.address }), 'group');
    expect(c.status).toBe('fail');
    expect(c.fix).toMatch(/bridge 0000:00:05\.0 must not have a driver/);
    expect(c.fix).not.toMatch(/--group/);
  });
  it('group: a device outside every IOMMU group fails, naming the units that exist', () => {
    healthy([{ ...EDU, group: null }]);
    expect(check(doctor({ address: EDU.address }), 'group')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/dmar0 do not cover/) });
  });
  it('access: fails when /dev/vfio/N does not exist, saying how it appears', () => {
    healthy([{ ...EDU, driver: null }]);
    const c = check(doctor({ address: EDU.address }), 'access');
    expect(c).toMatchObject({ status: 'fail', summary: '/dev/vfio/2 does not exist' });
    expect(c.fix).toMatch(/vfio bind 0000:00:02\.0/);
  });
  it('access: judged for another user from owner, group and mode', () => {
    healthy();
    const other = { uid: 4242, gids: [4242] };
    const c = check(doctor({ address: EDU.address, user: other }), 'access');
    expect(c.status).toBe('fail');
    expect(c.summary).toMatch(/uid 4242 cannot open \/dev\/vfio\/2 read-write \(owner \d+:\d+, mode 0600\)/);
    expect(c.fix).toMatch(/chown \$\(id -un\) \/dev\/vfio\/2/);
    expect(c.fix).toMatch(/SUBSYSTEM=="vfio"/);
    // Owner, a member of the owning group with rw group bits, root, and a world-writable node.
    const self = process.getuid!();
    expect(check(doctor({ address: EDU.address, user: { uid: self, gids: [] } }), 'access').status).toBe('pass');
    expect(check(doctor({ address: EDU.address, user: { uid: 0, gids: [] } }), 'access').status).toBe('pass');
    tree!.addDevNode('2', 0o660);
    expect(check(doctor({ address: EDU.address, user: { uid: 4242, gids: [process.getgid!()] } }), 'access').status).toBe('pass');
    tree!.addDevNode('2', 0o666);
    expect(check(doctor({ address: EDU.address, user: other }), 'access').status).toBe('pass');
    // The container node counts too.
    tree!.addDevNode('vfio', 0o600);
    expect(check(doctor({ address: EDU.address, user: other }), 'access').summary).toMatch(/cannot open \/dev\/vfio\/vfio/);
  });
  it('access: the current process by default (root here passes)', () => {
    healthy();
    const c = check(doctor({ address: EDU.address }), 'access');
    if (process.getuid!() === 0) expect(c.status).toBe('pass');
    expect(c.summary).toMatch(/uid \d+/);
  });
  it('access: a no-IOMMU node counts as the group node', () => {
    tree = makeSysfsTree([EDU]);
    tree.addHealthyHost();
    tree.addDevNode('noiommu-2', 0o600);
    expect(check(doctor({ address: EDU.address }), 'access').summary).toMatch(/^\/dev\/vfio\/noiommu-2 is readable/);
  });
});
