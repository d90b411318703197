/**
 * The `vfio` command on the real kernel in the guest, as a user runs it: the built bin
 * (dist/cli/main.js, built by `npm run test:vm`) against the real sysfs. ls finds the test
 * devices and their groups; info opens one; bind/unbind round-trip the e1000e and the
 * bridged group; doctor passes for the solo edu and names the failure when the device is
 * unbound, the memlock limit is low, or the group is not viable. Every device ends bound
 * as guest-init.sh left it, for the other test files.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDevice, readPciDevice } from '../../src/index.js';
import { findPciDevices } from '../../src/host/pci.js';
import { E1000E, bridgedEdu, soloEdu, vmMode, vmOpenOptions } from './guest.js';

const MAIN = join(process.cwd(), 'dist/cli/main.js');

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

// Plain text, as through any pipe: nothing inherited from vitest turns colour on.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'FORCE_COLOR' && k !== 'NO_COLOR'));

function vfio(args: string[], opts: SpawnSyncOptions = {}): Run {
  expect(existsSync(MAIN), 'dist/ is built before the guest runs (npm run build:ts)').toBe(true);
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 90_000, env, ...opts });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

function json<T>(r: Run): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (status ${r.status}): ${r.stdout}\n${r.stderr}`);
  }
}

interface LsEntry {
  address: string;
  id: string;
  driver: string | null;
  iommuGroup: number | null;
  groupViable: boolean | null;
  vfioNode: string | null;
}
interface Check {
  id: string;
  status: 'pass' | 'warn' | 'fail';
  summary: string;
  fix?: string;
}

const check = (checks: Check[], id: string) => checks.find((c) => c.id === id)!;
const nic = () => findPciDevices(E1000E)[0]!;
const BRIDGED_NET_ID = { vendor: 0x1af4, device: 0x1000 };

/** Puts a device back on `driver` by hand if a test left it elsewhere. */
function restore(address: string, driver: string | null): void {
  const sys = `/sys/bus/pci/devices/${address}`;
  const now = readPciDevice(address).driver;
  if (now === driver) return;
  if (now !== null) writeFileSync(`${sys}/driver/unbind`, address);
  writeFileSync(`${sys}/driver_override`, driver === 'vfio-pci' ? 'vfio-pci' : '\n');
  if (driver !== null) writeFileSync(`/sys/bus/pci/drivers/${driver}/bind`, address);
}

afterAll(() => {
  restore(nic().address, 'vfio-pci');
  const net = findPciDevices(BRIDGED_NET_ID)[0];
  if (net) restore(net.address, 'virtio-pci');
});

describe('vfio ls', () => {
  it('shows edu, e1000e and virtio-net with their groups, viability and nodes', () => {
    const text = vfio(['ls']);
    expect(text.status, text.stderr).toBe(0);
    console.log(`vfio ls in the guest:\n${text.stdout}`);
    expect(text.stdout).toMatch(/^ADDRESS +ID +CLASS +DRIVER +GROUP +VIABLE +NODE$/m);
    for (const id of ['1234:11e8', '8086:10d3', '1af4:1041']) expect(text.stdout).toMatch(new RegExp(`${id} .* vfio-pci +\\d+ +(yes|no) +/dev/vfio/\\d+$`, 'm'));

    const list = json<LsEntry[]>(vfio(['ls', '--json']));
    for (const id of ['1234:11e8', '8086:10d3', '1af4:1041']) {
      const found = list.filter((d) => d.id === id);
      expect(found.length, id).toBeGreaterThanOrEqual(1);
      for (const d of found) {
        expect(d.driver, d.address).toBe('vfio-pci');
        expect(d.iommuGroup, d.address).not.toBeNull();
        expect(d.vfioNode).toBe(`/dev/vfio/${d.iommuGroup}`);
      }
    }
    const solo = soloEdu();
    const bridged = bridgedEdu();
    expect(list.find((d) => d.address === solo.address)).toMatchObject({ iommuGroup: solo.iommuGroup, groupViable: true });
    expect(list.find((d) => d.address === bridged.address)).toMatchObject({ iommuGroup: bridged.iommuGroup, groupViable: false });
  });
  it('filters by class and by vendor:device', () => {
    const nets = json<LsEntry[]>(vfio(['ls', '--class', 'network', '--json'])).map((d) => d.id);
    expect(nets).toEqual(expect.arrayContaining(['8086:10d3', '1af4:1041', '1af4:1000']));
    expect(nets).not.toContain('1234:11e8');
    const nics = json<LsEntry[]>(vfio(['ls', '--id', '8086:10d3', '--json']));
    expect(nics.map((d) => d.address).sort()).toEqual(findPciDevices(E1000E).map((d) => d.address).sort());
  });
});

describe('vfio info', () => {
  it('opens the e1000e and lists its regions, MSI-X table, PCIe capability and reset', () => {
    const text = vfio(['info', nic().address]);
    expect(text.status, text.stderr).toBe(0);
    console.log(`vfio info in the guest:\n${text.stdout}`);
    expect(text.stdout).toMatch(/^ {2}0 +BAR0 +128 KiB +rw +whole/m);
    expect(text.stdout).toMatch(/MSI-X +5 vectors, table BAR3/);
    expect(text.stdout).toMatch(/PCI Express +Root Complex Integrated Endpoint/);
    const d = json<{
      regions: { name: string; size: number; mmap: boolean }[];
      irqs: { name: string; count: number }[];
      msix?: { tableSize: number };
      pcie?: { type: string; flr: boolean };
      canReset: boolean;
      groupMembers: unknown[];
    }>(vfio(['info', '--json', nic().address]));
    expect(d.regions.find((r) => r.name === 'BAR0')).toMatchObject({ size: 128 * 1024, mmap: true });
    expect(d.irqs.find((i) => i.name === 'MSI-X')?.count).toBeGreaterThanOrEqual(5);
    expect(d.msix?.tableSize).toBeGreaterThanOrEqual(5);
    // On q35's root bus QEMU makes it a Root Complex Integrated Endpoint.
    expect(d.pcie?.type).toMatch(/Endpoint$/);
    expect(d.canReset).toBe(true);
    expect(d.groupMembers).toEqual([]);
  });
  it('for the edu: MSI and no reset; the bridged edu fails with the group in the way', () => {
    const d = json<{ msi?: { vectors: number }; canReset: boolean }>(vfio(['info', '--json', soloEdu().address]));
    expect(d.msi?.vectors).toBeGreaterThanOrEqual(1);
    expect(d.canReset).toBe(false);
    const r = vfio(['info', bridgedEdu().address]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/not viable/);
    expect(r.stderr).toMatch(/virtio-pci/);
  });
});

describe('vfio doctor', () => {
  it('passes for the solo edu', () => {
    const { address } = soloEdu();
    const text = vfio(['doctor', address]);
    console.log(`vfio doctor ${address} in the guest:\n${text.stdout}`);
    expect(text.status, text.stdout + text.stderr).toBe(0);
    const out = json<{ ok: boolean; checks: Check[] }>(vfio(['doctor', '--json', address]));
    expect(out.ok).toBe(true);
    expect(check(out.checks, 'iommu')).toMatchObject({ status: 'pass', summary: expect.stringMatching(/^Intel VT-d \(dmar0\)/) });
    for (const id of ['vfio', 'vfio-pci', 'noiommu', 'interrupt-remapping', 'memlock', 'device', 'bound', 'group', 'access']) {
      expect(check(out.checks, id).status, `${id}: ${check(out.checks, id).summary}`).toBe('pass');
    }
    // Root on the custom kernel can open /dev/iommu and the cdev: openDevice's 'auto' takes iommufd there.
    expect(check(out.checks, 'interface')).toMatchObject({
      status: 'pass',
      summary: process.env.VFIO_VM_KERNEL === 'custom' ? expect.stringMatching(/^openDevice uses iommufd: \/dev\/iommu and \/dev\/vfio\/devices\/vfio\d+/) : expect.stringMatching(/^openDevice uses the legacy container \(\/dev\/vfio\/\d+\); this kernel has no iommufd$/),
    });
    expect(check(out.checks, 'iommufd').status).toBe(process.env.VFIO_VM_KERNEL === 'custom' ? 'pass' : 'warn');
  });
  it('reports the bridged edu\'s group not viable, naming virtio-pci', () => {
    const r = vfio(['doctor', '--json', bridgedEdu().address]);
    expect(r.status).toBe(1);
    const g = check(json<{ checks: Check[] }>(r).checks, 'group');
    expect(g.status).toBe('fail');
    expect(g.summary).toMatch(/not viable: .*\(virtio-pci\)/);
    expect(g.fix).toMatch(/vfio bind --group/);
  });
  it('fails memlock for a user whose limit was lowered (and access to the root-owned node)', () => {
    const { address } = soloEdu();
    const r = spawnSync('/bin/sh', ['-c', 'ulimit -l 64 && exec "$0" "$@"', process.execPath, MAIN, 'doctor', '--json', address], {
      env,
      uid: 1000,
      gid: 1000,
      encoding: 'utf8',
      timeout: 90_000,
    });
    expect(r.status, r.stderr).toBe(1);
    const checks = json<{ checks: Check[] }>({ status: r.status, stdout: r.stdout, stderr: r.stderr }).checks;
    expect(check(checks, 'memlock')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/RLIMIT_MEMLOCK is 64 KiB/) });
    expect(check(checks, 'memlock').fix).toMatch(/ulimit -l/);
    expect(check(checks, 'access')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/\(uid 1000\) cannot open \/dev\/vfio\/\d+ read-write \(owner 0:0, mode 0600\)/) });
    expect(check(checks, 'access').fix).toMatch(/chown/);
  });
});

describe('vfio bind / unbind', () => {
  it('round-trips the e1000e: unbind leaves it driverless, doctor fails "bound", bind makes it usable again', () => {
    const { address, iommuGroup } = nic();
    try {
      const u = vfio(['unbind', address]);
      expect(u.status, u.stdout + u.stderr).toBe(0);
      expect(u.stdout).toMatch(/vfio-pci -> none/);
      const after = readPciDevice(address).driver;
      expect(after === null || after === 'e1000e').toBe(true);
      expect(existsSync(`/dev/vfio/${iommuGroup}`)).toBe(false);
      expect(json<LsEntry[]>(vfio(['ls', '--id', '8086:10d3', '--json'])).find((d) => d.address === address)).toMatchObject({ driver: after, vfioNode: null });

      const d = vfio(['doctor', '--json', address]);
      expect(d.status).toBe(1);
      const checks = json<{ checks: Check[] }>(d).checks;
      expect(check(checks, 'bound')).toMatchObject({ status: 'fail', summary: 'bound to no driver, not vfio-pci' });
      expect(check(checks, 'bound').fix).toMatch(new RegExp(`^vfio bind ${address}`));
      console.log(`vfio doctor ${address} (unbound) in the guest:\n${vfio(['doctor', address]).stdout}`);

      const b = vfio(['bind', address]);
      expect(b.status, b.stdout + b.stderr).toBe(0);
      expect(b.stdout).toMatch(/none -> vfio-pci/);
      expect(readPciDevice(address).driver).toBe('vfio-pci');
      expect(existsSync(`/dev/vfio/${iommuGroup}`)).toBe(true);
      expect(vfio(['bind', address]).stdout).toMatch(/already bound to vfio-pci/);
      openDevice(address, vmOpenOptions()).close();
    } finally {
      restore(address, 'vfio-pci');
    }
  });
  it('unbind leaves a device alone while a process holds its group open', () => {
    const { address, iommuGroup } = soloEdu();
    const dev = openDevice(address, vmOpenOptions());
    try {
      const r = vfio(['unbind', address]);
      expect(r.status).toBe(1);
      const node = vmMode() === 'iommufd' ? '/dev/vfio/devices/vfio\\d+' : `/dev/vfio/${iommuGroup}`;
      expect(r.stdout).toMatch(new RegExp(`${node} is open by pid ${process.pid} \\(`));
      expect(readPciDevice(address).driver).toBe('vfio-pci');
    } finally {
      dev.close();
    }
  });
  it('--group makes the bridged group viable; unbind gives the virtio-net back to virtio-pci', () => {
    const edu = bridgedEdu();
    const net = findPciDevices(BRIDGED_NET_ID)[0]!;
    expect(net.driver).toBe('virtio-pci');
    try {
      const plain = vfio(['bind', edu.address]);
      expect(plain.status).toBe(1);
      expect(plain.stdout).toMatch(new RegExp(`group ${edu.iommuGroup} is not viable: ${net.address} \\(virtio-pci\\)`));

      const g = vfio(['bind', '--group', edu.address]);
      expect(g.status, g.stdout + g.stderr).toBe(0);
      expect(readPciDevice(net.address).driver).toBe('vfio-pci');
      expect(check(json<{ checks: Check[] }>(vfio(['doctor', '--json', edu.address])).checks, 'group').status).toBe('pass');
      openDevice(edu.address, vmOpenOptions()).close();

      const u = vfio(['unbind', net.address]);
      expect(u.status, u.stdout + u.stderr).toBe(0);
      expect(readPciDevice(net.address).driver).toBe('virtio-pci');
      expect(readPciDevice(edu.address).driver).toBe('vfio-pci');
      expect(check(json<{ checks: Check[] }>(vfio(['doctor', '--json', edu.address])).checks, 'group').status).toBe('fail');
    } finally {
      restore(net.address, 'virtio-pci');
    }
  });
});
