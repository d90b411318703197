/**
 * The `vfio` command line: argument handling and exit statuses (0 ok, 1 failed,
 * 2 usage), help on every command, text and JSON output, colour rules, bind and
 * unbind through the CLI with the synthetic tree playing the kernel, and the
 * bin itself spawned through tsx. Never reads the host's /sys.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, COMMANDS, type CliIo } from '../../src/cli/run.js';
import type { CliOverrides } from '../../src/cli/command.js';
import { parseSize } from '../../src/cli/command.js';
import { formatDeviceDescription } from '../../src/cli/info.js';
import type { DeviceDescription } from '../../src/admin/describe.js';
import { makeStyle, stripAnsi, table, wantColor } from '../../src/cli/output.js';
import { makeSysfsTree, type FakePciDevice, type SysfsTree } from '../helpers/sysfs-tree.js';

let tree: SysfsTree | undefined;
afterEach(() => {
  tree?.cleanup();
  tree = undefined;
});

interface Result {
  status: number;
  stdout: string;
  stderr: string;
}

function cli(argv: string[], opts: { tty?: boolean; env?: Record<string, string>; overrides?: CliOverrides } = {}): Result {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s), isTTY: opts.tty ?? false },
    stderr: { write: (s: string) => (stderr += s) },
    env: opts.env ?? {},
  };
  const status = run(argv, io, opts.overrides) as number; // these commands are synchronous; `vfio net` is tested in cli-net.test.ts
  return { status, stdout, stderr };
}

const EDU: FakePciDevice = { address: '0000:00:02.0', vendor: 0x1234, device: 0x11e8, classCode: 0x00ff00, driver: 'vfio-pci', group: 2 };
const NIC: FakePciDevice = { address: '0000:00:03.0', vendor: 0x8086, device: 0x10d3, classCode: 0x020000, driver: 'e1000e', group: 3, defaultDriver: 'e1000e' };
const BRIDGE: FakePciDevice = { address: '0000:00:05.0', vendor: 0x1b36, device: 0x000e, classCode: 0x060400, driver: null, group: 5 };
const BRIDGED_EDU: FakePciDevice = { address: '0000:01:01.0', vendor: 0x1234, device: 0x11e8, classCode: 0x00ff00, driver: 'vfio-pci', group: 5 };
const BRIDGED_NET: FakePciDevice = { address: '0000:01:02.0', vendor: 0x1af4, device: 0x1000, classCode: 0x020000, driver: 'virtio-pci', group: 5, defaultDriver: 'virtio-pci' };

function healthyTree(): SysfsTree {
  tree = makeSysfsTree([EDU, NIC, BRIDGE, BRIDGED_EDU, BRIDGED_NET]);
  tree.addHealthyHost();
  tree.addDevNode('2', 0o600);
  tree.addDevNode('5', 0o600);
  return tree;
}

function noIommuTree(): SysfsTree {
  tree = makeSysfsTree([{ ...NIC, group: null }]);
  tree.setProc({ cmdline: 'console=ttyS0 quiet', memlock: 8 * 2 ** 20, capEff: '000001ffffffffff', hugepages: { total: 0, free: 0 }, interrupts: '' });
  return tree;
}

const noStack = (r: Result) => expect(r.stdout + r.stderr).not.toMatch(/\n\s+at .*\(.*:\d+:\d+\)/);

describe('arguments and exit statuses', () => {
  it('no command: the overview on stderr, status 2', () => {
    const r = cli([]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^Usage: vfio <command>/);
    expect(r.stdout).toBe('');
  });
  it('--help, -h and `help` list every command, status 0', () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const r = cli(argv);
      expect(r.status).toBe(0);
      for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c.name}`);
    }
  });
  it.each(['ls', 'info', 'bind', 'unbind', 'doctor'])('%s --help / help %s: usage, options, --json, status 0', (name) => {
    for (const argv of [[name, '--help'], [name, '-h'], ['help', name], [name, 'whatever', '--help']]) {
      const r = cli(argv);
      expect(r.status, argv.join(' ')).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: vfio ${name}`));
      expect(r.stdout).toContain('--json');
      expect(r.stdout).toContain('-h, --help');
    }
  });
  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as { version: string };
    expect(cli(['--version'])).toMatchObject({ status: 0, stdout: `${pkg.version}\n` });
    expect(cli(['-V']).stdout).toBe(`${pkg.version}\n`);
  });
  it('an unknown command or a leading option: a message and the overview, status 2', () => {
    const r = cli(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^vfio: unknown command 'frobnicate'/);
    expect(r.stderr).toContain('Commands:');
    expect(cli(['--json', 'ls']).stderr).toMatch(/unknown option '--json' \(options go after the command\)/);
    expect(cli(['help', 'nope']).status).toBe(2);
  });
  it('an unknown option, or a value missing: the command usage, status 2', () => {
    const r = cli(['ls', '--bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^vfio ls: Unknown option '--bogus'\nUsage: vfio ls /);
    expect(r.stderr).toContain("Run 'vfio ls --help' for more.");
    const m = cli(['doctor', '--memlock']);
    expect(m.status).toBe(2);
    expect(m.stderr).toMatch(/--memlock/);
    noStack(r);
  });
  it('a bad PCI address: the reason and the usage, status 2, no stack trace', () => {
    for (const argv of [['info', 'eth0'], ['bind', '00:03.0', 'zz'], ['unbind', '1:2:3'], ['doctor', 'not-an-address']]) {
      const r = cli(argv);
      expect(r.status, argv.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/is not a PCI address; write it as domain:bus:device\.function/);
      expect(r.stderr).toMatch(/Usage: vfio /);
      noStack(r);
    }
  });
  it('missing or extra arguments: status 2', () => {
    expect(cli(['info'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/^vfio info: expects one PCI address/) });
    expect(cli(['info', '00:02.0', '00:03.0'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/at most 1/) });
    expect(cli(['bind'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/expects at least one PCI address/) });
    expect(cli(['unbind'])).toMatchObject({ status: 2 });
    expect(cli(['ls', 'extra'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/takes no arguments, got 'extra'/) });
  });
  it('bad filter and size values: status 2 with how to write them', () => {
    healthyTree();
    expect(cli(['ls', '--root', tree!.root, '--id', 'intel'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/8086:10d3/) });
    expect(cli(['ls', '--root', tree!.root, '--class', ''])).toMatchObject({ status: 2 });
    expect(cli(['doctor', '--root', tree!.root, '--memlock', 'lots'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/64M/) });
  });
  it('parses sizes with binary suffixes', () => {
    expect(parseSize('64M')).toBe(64 * 2 ** 20);
    expect(parseSize('1g')).toBe(2 ** 30);
    expect(parseSize('512KiB')).toBe(512 * 1024);
    expect(parseSize('65536')).toBe(65536);
    expect(parseSize('1.5M')).toBe(1.5 * 2 ** 20);
  });
});

describe('vfio ls', () => {
  it('prints aligned columns', () => {
    healthyTree();
    const r = cli(['ls', '--root', tree!.root]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ADDRESS\s+ID\s+CLASS\s+DRIVER\s+GROUP\s+VIABLE\s+NODE$/);
    expect(lines).toHaveLength(6);
    const col = (name: string) => lines[0]!.indexOf(name);
    for (const l of lines.slice(1)) {
      expect(l.slice(col('ID'), col('ID') + 9)).toMatch(/^[0-9a-f]{4}:[0-9a-f]{4}$/);
    }
    const edu = lines.find((l) => l.startsWith(EDU.address))!;
    expect(edu.slice(col('DRIVER')).split(/\s+/).slice(0, 4)).toEqual(['vfio-pci', '2', 'yes', '/dev/vfio/2']);
    const bridged = lines.find((l) => l.startsWith(BRIDGED_EDU.address))!;
    expect(bridged.slice(col('VIABLE')).split(/\s+/)).toEqual(['no', '/dev/vfio/5']);
    const nic = lines.find((l) => l.startsWith(NIC.address))!;
    expect(nic).toMatch(/Ethernet controller\s+e1000e\s+3\s+no\s+-$/);
    expect(r.stdout).not.toContain('\x1b[');
  });
  it('--json gives every field; filters narrow it', () => {
    healthyTree();
    const r = cli(['ls', '--root', tree!.root, '--json', '--class', 'network']);
    expect(r.status).toBe(0);
    const list = JSON.parse(r.stdout) as { address: string; id: string; className: string; iommuGroup: number; groupViable: boolean; vfioNode: string | null; groupPeers: unknown[] }[];
    expect(list.map((d) => d.address)).toEqual([NIC.address, BRIDGED_NET.address]);
    expect(list[1]).toMatchObject({ id: '1af4:1000', className: 'Ethernet controller', iommuGroup: 5, groupViable: false, vfioNode: '/dev/vfio/5' });
    expect(list[1]!.groupPeers).toEqual([
      { address: BRIDGE.address, driver: null },
      { address: BRIDGED_EDU.address, driver: 'vfio-pci' },
    ]);
    const byId = JSON.parse(cli(['ls', '--root', tree!.root, '--json', '--id', '1234:11e8']).stdout) as unknown[];
    expect(byId).toHaveLength(2);
    expect(cli(['ls', '--root', tree!.root, '--id', 'ffff:ffff'])).toMatchObject({ status: 0, stdout: 'no PCI device matches\n' });
  });
  it('colour only on a TTY, and never with NO_COLOR', () => {
    healthyTree();
    expect(cli(['ls', '--root', tree!.root], { tty: true }).stdout).toContain('\x1b[32myes');
    expect(cli(['ls', '--root', tree!.root], { tty: true, env: { NO_COLOR: '1' } }).stdout).not.toContain('\x1b[');
    expect(cli(['ls', '--root', tree!.root, '--json'], { tty: true }).stdout).not.toContain('\x1b[');
    expect(wantColor(true, { NO_COLOR: '' })).toBe(true);
    expect(wantColor(true, { TERM: 'dumb' })).toBe(false);
    expect(wantColor(false, { FORCE_COLOR: '1' })).toBe(true);
    expect(wantColor(undefined, {})).toBe(false);
  });
  it('columns are measured before painting', () => {
    const s = makeStyle(true);
    const lines = table([[['ab', s.red], 'x'], ['abcd', 'y']]);
    expect(lines.map(stripAnsi)).toEqual(['ab    x', 'abcd  y']);
  });
});

describe('vfio doctor', () => {
  it('a healthy host and device: status 0, one line per check, warnings with their fix', () => {
    healthyTree();
    const r = cli(['doctor', '--root', tree!.root, '00:02.0']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^pass  iommu +Intel VT-d \(dmar0\)/m);
    expect(r.stdout).toMatch(/^warn  iommufd +iommufd is not available/m);
    expect(r.stdout).toMatch(/^ +fix: optional: Linux 6\.2/m);
    expect(r.stdout).toMatch(/^device 0000:00:02\.0$/m);
    expect(r.stdout).toMatch(/^pass  bound +bound to vfio-pci$/m);
    expect(r.stdout).toMatch(/^doctor: 12 pass, 1 warn, 0 fail -- ready for VFIO$/m);
  });
  it('no IOMMU at all (like this host): fails the iommu check with the fix, status 1, no crash', () => {
    noIommuTree();
    const r = cli(['doctor', '--root', tree!.root, NIC.address]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL  iommu +no IOMMU is enabled \(\/sys\/class\/iommu is empty\)$/m);
    expect(r.stdout).toMatch(/fix: .*intel_iommu=on/);
    expect(r.stdout).toMatch(/^FAIL  bound +bound to e1000e, not vfio-pci$/m);
    expect(r.stdout).toMatch(/^FAIL  group +no IOMMU group: the IOMMU is off$/m);
    expect(r.stderr).toBe('');
    noStack(r);
  });
  it('--json: ok and the checks', () => {
    noIommuTree();
    const r = cli(['doctor', '--root', tree!.root, '--json']);
    expect(r.status).toBe(1);
    const out = JSON.parse(r.stdout) as { ok: boolean; checks: { id: string; status: string; fix?: string }[] };
    expect(out.ok).toBe(false);
    expect(out.checks.find((c) => c.id === 'iommu')).toMatchObject({ status: 'fail', fix: expect.stringMatching(/intel_iommu=on/) });
  });
  it('a group that is not viable names the sibling and its driver', () => {
    healthyTree();
    const r = cli(['doctor', '--root', tree!.root, BRIDGED_EDU.address]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL  group +IOMMU group 5 is not viable: 0000:01:02\.0 \(virtio-pci\) is bound to another driver$/m);
  });
  it('--memlock sets what the driver needs; access is judged for an injected user', () => {
    healthyTree();
    tree!.setProc({ capEff: '0', memlock: 64 * 2 ** 20 });
    expect(cli(['doctor', '--root', tree!.root, '--memlock', '32M']).status).toBe(0);
    const r = cli(['doctor', '--root', tree!.root, '--memlock', '1G']);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAIL  memlock +RLIMIT_MEMLOCK is 64 MiB; a driver needs about 1 GiB/m);
    const a = cli(['doctor', '--root', tree!.root, EDU.address], { overrides: { user: { uid: 4242, gids: [] } } });
    expect(a.stdout).toMatch(/^FAIL  access +uid 4242 cannot open \/dev\/vfio\/2/m);
  });
  it('colours the statuses on a TTY', () => {
    healthyTree();
    const r = cli(['doctor', '--root', tree!.root], { tty: true });
    expect(r.stdout).toContain('\x1b[32mpass');
    expect(r.stdout).toContain('\x1b[33mwarn');
  });
});

describe('vfio bind / unbind', () => {
  const kernel = (): CliOverrides => ({ write: tree!.kernelWrite, modprobe: () => false });
  it('bind then unbind round-trips a device, status 0', () => {
    healthyTree();
    const b = cli(['bind', '--root', tree!.root, NIC.address], { overrides: kernel() });
    expect(b.status).toBe(0);
    expect(b.stdout).toMatch(/^ok  0000:00:03\.0  e1000e -> vfio-pci  bound to vfio-pci \(was e1000e\)$/m);
    expect(b.stdout).toMatch(/^group 3: viable/m);
    expect(tree!.driverOf(NIC.address)).toBe('vfio-pci');
    const u = cli(['unbind', '--root', tree!.root, NIC.address], { overrides: kernel() });
    expect(u.status).toBe(0);
    expect(u.stdout).toMatch(/vfio-pci -> e1000e/);
    expect(tree!.driverOf(NIC.address)).toBe('e1000e');
  });
  it('bind into a group that stays not viable: status 1 and the member in the way', () => {
    healthyTree();
    const r = cli(['bind', '--root', tree!.root, BRIDGED_EDU.address], { overrides: kernel() });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^group 5: NOT viable/m);
    expect(r.stdout).toMatch(/^note: group 5 is not viable: 0000:01:02\.0 \(virtio-pci\)/m);
    const g = cli(['bind', '--root', tree!.root, '--group', BRIDGED_EDU.address, '--json'], { overrides: kernel() });
    expect(g.status).toBe(0);
    const report = JSON.parse(g.stdout) as { ok: boolean; results: { address: string; after: string }[] };
    expect(report.ok).toBe(true);
    expect(report.results.map((x) => [x.address, x.after])).toEqual([
      [BRIDGED_EDU.address, 'vfio-pci'],
      [BRIDGED_NET.address, 'vfio-pci'],
    ]);
  });
  it('a failed bind: status 1, and a permission error says to run as root', () => {
    healthyTree();
    const refuse = (path: string) => {
      throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES', errno: 13 });
    };
    const r = cli(['bind', '--root', tree!.root, NIC.address], { overrides: { write: refuse } });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^FAILED  0000:00:03\.0/m);
    expect(r.stdout).toMatch(/run it as root/);
  });
  it('a device that does not exist: the VfioError and its hint, status 1', () => {
    healthyTree();
    const r = cli(['bind', '--root', tree!.root, '0000:00:1f.7'], { overrides: kernel() });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^vfio bind: find PCI device \(0000:00:1f\.7\): no PCI device at 0000:00:1f\.7/);
    expect(r.stderr).toMatch(/hint: .*lspci -D/);
    noStack(r);
  });
});

describe('vfio info', () => {
  it('a device that cannot be opened: the VfioError message and hint, status 1 (JSON too)', () => {
    healthyTree();
    const r = cli(['info', '--root', tree!.root, NIC.address]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^vfio info: check driver \(0000:00:03\.0\): the device is bound to e1000e, not vfio-pci\n {2}hint: bind it to vfio-pci/);
    expect(r.stdout).toBe('');
    const j = cli(['info', '--root', tree!.root, '--json', NIC.address]);
    expect(j.status).toBe(1);
    expect(JSON.parse(j.stdout)).toEqual({
      error: expect.objectContaining({ code: 'ERR_VFIO_NOT_BOUND', op: 'check driver', device: NIC.address, hint: expect.stringMatching(/driver_override/) }),
    });
  });
  it('no IOMMU: says so, status 1', () => {
    noIommuTree();
    const r = cli(['info', '--root', tree!.root, NIC.address]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no IOMMU group/);
    expect(r.stderr).toMatch(/intel_iommu=on/);
  });

  const E1000E: DeviceDescription = {
    address: '0000:00:03.0',
    id: '8086:10d3',
    vendor: 0x8086,
    device: 0x10d3,
    classCode: 0x020000,
    className: 'Ethernet controller',
    driver: 'vfio-pci',
    iommuGroup: 3,
    groupViable: true,
    vfioNode: '/dev/vfio/3',
    groupMembers: [],
    deviceFlags: ['pci', 'reset'],
    canReset: true,
    resetMethods: ['flr', 'bus'],
    regions: [
      { index: 0, name: 'BAR0', size: 131072, offset: 0, read: true, write: true, mmap: true, mmapAreas: [{ offset: 0, size: 131072 }], sparse: false, msixMappable: false },
      { index: 1, name: 'BAR1', size: 131072, offset: 2 ** 40, read: true, write: true, mmap: true, mmapAreas: [{ offset: 0, size: 131072 }], sparse: false, msixMappable: false },
      { index: 2, name: 'BAR2', size: 32, offset: 2 * 2 ** 40, read: true, write: true, mmap: false, mmapAreas: [], sparse: false, msixMappable: false },
      { index: 3, name: 'BAR3', size: 16384, offset: 3 * 2 ** 40, read: true, write: true, mmap: true, mmapAreas: [{ offset: 0x2000, size: 0x2000 }], sparse: true, msixMappable: true },
      { index: 4, name: 'BAR4', size: 0, offset: 4 * 2 ** 40, read: false, write: false, mmap: false, mmapAreas: [], sparse: false, msixMappable: false },
      { index: 5, name: 'BAR5', size: 0, offset: 5 * 2 ** 40, read: false, write: false, mmap: false, mmapAreas: [], sparse: false, msixMappable: false },
      { index: 6, name: 'ROM', size: 262144, offset: 6 * 2 ** 40, read: true, write: false, mmap: false, mmapAreas: [], sparse: false, msixMappable: false },
      { index: 7, name: 'config', size: 4096, offset: 7 * 2 ** 40, read: true, write: true, mmap: false, mmapAreas: [], sparse: false, msixMappable: false },
      { index: 8, name: 'VGA', size: 0, offset: 0, read: false, write: false, mmap: false, mmapAreas: [], sparse: false, msixMappable: false, error: 'EINVAL' },
    ],
    irqs: [
      { index: 0, name: 'INTx', count: 1, eventfd: true, maskable: true, automasked: true, noresize: false },
      { index: 1, name: 'MSI', count: 1, eventfd: true, maskable: false, automasked: false, noresize: true },
      { index: 2, name: 'MSI-X', count: 5, eventfd: true, maskable: false, automasked: false, noresize: true },
      { index: 3, name: 'ERR', count: 1, eventfd: true, maskable: false, automasked: false, noresize: false },
      { index: 4, name: 'REQ', count: 1, eventfd: true, maskable: false, automasked: false, noresize: false },
    ],
    capabilities: [
      { id: 0x01, offset: 0xc8, name: 'Power Management', detail: 'D0' },
      { id: 0x05, offset: 0xd0, name: 'MSI', detail: '1 vector, 64-bit' },
      { id: 0x10, offset: 0xe0, name: 'PCI Express', detail: 'Endpoint, v2, FLR, link 2.5 GT/s x1' },
      { id: 0x11, offset: 0xa0, name: 'MSI-X', detail: '5 vectors, table BAR3+0x0, PBA BAR3+0x2000' },
    ],
    extendedCapabilities: [
      { id: 0x01, offset: 0x100, version: 2, name: 'Advanced Error Reporting' },
      { id: 0x10, offset: 0x140, version: 1, name: 'SR-IOV', detail: '8 VFs (0 enabled), VF device 10ed' },
    ],
    msix: { tableSize: 5, table: { bar: 3, offset: 0 }, pba: { bar: 3, offset: 0x2000 } },
    pcie: { type: 'Endpoint', version: 2, flr: true, link: '2.5 GT/s x1' },
  };

  it('formats regions, interrupts, capabilities, reset and the group', () => {
    const text = formatDeviceDescription(E1000E, makeStyle(false)).join('\n');
    expect(text).toMatch(/^0000:00:03\.0 {2}8086:10d3 {2}Ethernet controller$/m);
    expect(text).toMatch(/^ {2}driver vfio-pci; IOMMU group 3 \(viable\), \/dev\/vfio\/3$/m);
    expect(text).toMatch(/^ {2}group members: this device alone$/m);
    expect(text).toMatch(/^ {2}reset: yes \(VFIO_DEVICE_RESET\); kernel reset methods: flr bus$/m);
    expect(text).toMatch(/^ {2}0 +BAR0 +128 KiB +rw +whole$/m);
    expect(text).toMatch(/^ {2}2 +BAR2 +32 bytes +rw +-$/m);
    expect(text).toMatch(/^ {2}3 +BAR3 +16 KiB +rw +0x2000-0x4000 +MSI-X table mappable$/m);
    expect(text).toMatch(/^ {2}6 +ROM +256 KiB +r- +-$/m);
    expect(text).toMatch(/^ {2}not implemented: BAR4, BAR5, VGA$/m);
    expect(text).toMatch(/^ {2}2 +MSI-X +5 +eventfd noresize$/m);
    expect(text).toMatch(/^ {2}0 +INTx +1 +eventfd maskable automasked$/m);
    expect(text).toMatch(/^ {2}0xa0 +MSI-X +5 vectors, table BAR3\+0x0, PBA BAR3\+0x2000$/m);
    expect(text).toMatch(/^ {2}0xe0 +PCI Express +Endpoint, v2, FLR, link 2\.5 GT\/s x1$/m);
    expect(text).toMatch(/^ {2}0x140 +SR-IOV v1 +8 VFs \(0 enabled\), VF device 10ed$/m);
  });
  it('formats a device without reset, sharing a group that is not viable', () => {
    const edu: DeviceDescription = {
      ...E1000E,
      address: '0000:01:01.0',
      id: '1234:11e8',
      className: 'Unclassified device',
      iommuGroup: 5,
      groupViable: false,
      vfioNode: '/dev/vfio/5',
      groupMembers: [{ address: '0000:01:02.0', id: '1af4:1000', className: 'Ethernet controller', driver: 'virtio-pci' }],
      canReset: false,
      resetMethods: [],
      extendedCapabilities: [],
      capabilities: [],
    };
    const text = formatDeviceDescription(edu, makeStyle(false)).join('\n');
    expect(text).toMatch(/IOMMU group 5 \(not viable\)/);
    expect(text).toMatch(/group members: 0000:01:02\.0 1af4:1000 \(virtio-pci\)/);
    expect(text).toMatch(/reset: no \(VFIO_DEVICE_RESET not offered\); no kernel reset method/);
    expect(text).toMatch(/PCI capabilities\n {2}none/);
    expect(text).not.toMatch(/extended capabilities/);
  });
  it('formats a virtio function: its type, queues, status and the features it offers (as the guest\'s QEMU virtio-net shows them)', () => {
    const names = ['CTRL_GUEST_OFFLOADS', 'MAC', 'MRG_RXBUF', 'STATUS', 'CTRL_VQ', 'CTRL_RX', 'CTRL_VLAN', 'CTRL_RX_EXTRA', 'GUEST_ANNOUNCE', 'CTRL_MAC_ADDR', 'RING_INDIRECT_DESC', 'RING_EVENT_IDX', 'VERSION_1', 'ACCESS_PLATFORM', 'RING_RESET'];
    const virtio: DeviceDescription = {
      ...E1000E,
      address: '0000:00:04.0',
      id: '1af4:1041',
      virtio: { type: 1, name: 'net', id: 'modern', features: '0x0000010330bf8024', featureNames: names, numQueues: 3, status: '0' },
    };
    const text = formatDeviceDescription(virtio, makeStyle(false)).join('\n');
    expect(text).toMatch(/\nVirtio\n {2}device type 1 \(net\), modern PCI id\n {2}queues 3; device status 0\n {2}features offered 0x0000010330bf8024:\n {4}CTRL_GUEST_OFFLOADS MAC /);
    const listed = text.slice(text.indexOf('features offered')).split('\n').slice(1).join(' ').trim().split(/\s+/);
    expect(listed).toEqual(names);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(90);
    const broken: DeviceDescription = { ...virtio, virtio: { type: 1, name: 'net', id: 'transitional', error: 'ERR_VFIO_VIRTIO_NOT_MODERN: no common configuration' } };
    expect(formatDeviceDescription(broken, makeStyle(false)).join('\n')).toMatch(/device type 1 \(net\), transitional PCI id\n {2}modern interface: ERR_VFIO_VIRTIO_NOT_MODERN: no common configuration$/);
    expect(formatDeviceDescription(E1000E, makeStyle(false)).join('\n')).not.toMatch(/Virtio/);
  });
});

describe('the bin', () => {
  const tsx = join(__dirname, '../../node_modules/tsx/dist/cli.mjs');
  const main = join(__dirname, '../../src/cli/main.ts');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'NO_COLOR' && k !== 'FORCE_COLOR'));
  const spawn = (args: string[]) => spawnSync(process.execPath, [tsx, main, ...args], { encoding: 'utf8', timeout: 60_000, env });

  it('starts with a shebang for npm\'s bin link', () => {
    expect(readFileSync(main, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });
  it('doctor on a host with no IOMMU: exit 1, the failure and its fix, plain text through a pipe', () => {
    noIommuTree();
    const r = spawn(['doctor', '--root', tree!.root]);
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^FAIL  iommu +no IOMMU is enabled/m);
    expect(r.stdout).toMatch(/fix: /);
    expect(r.stdout).not.toContain('\x1b[');
    expect(r.stderr).toBe('');
  });
  it('usage errors exit 2 without a stack trace', () => {
    const r = spawn(['info', 'bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/not a PCI address/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
