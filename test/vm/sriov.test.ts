/**
 * SR-IOV on the real kernel (VFIO_VM_CONFIG=sriov: QEMU 10.0's igb, an 82576 PF 8086:10c9, on
 * Debian 12's 6.1 or the custom 6.12 with the Intel vIOMMU; run by test/vm/commands/sriov.sh).
 * Opens without a token go through the run's interface (container, or iommufd on 6.12), with
 * one through the group path. In order:
 *  - enabling VFs through sysfs and each refusal as a named error (too many, already enabled,
 *    not a PF, no driver, vfio-pci without enable_sriov);
 *  - flow 1's setup: the PF stays on igb, VFs made without a driver, bound to vfio-pci and
 *    opened without a token (a token is refused);
 *  - flow 2: the PF on vfio-pci with enable_sriov, its owner sets the VF token, the VFs
 *    (bound to vfio-pci by the kernel) open with it; missing or wrong tokens are named
 *    errors; `vfio doctor` says a token is needed; `vfio ls` and `vfio sriov` show it all.
 * Everything ends as guest-init.sh left it: the PF on igb, no VFs.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  bindVfioPci,
  disableSriov,
  enableSriov,
  findPciDevices,
  openDevice,
  readPciDevice,
  sriovInfo,
  unbindVfioPci,
  type Device,
} from '../../src/index.js';
import { EDU, vmOpenOptions } from './guest.js';
import { refused } from '../helpers/vfio-refusal.js';

const PF_ID = { vendor: 0x8086, device: 0x10c9 };
const T = 'bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3';
const OTHER = '5e0d1c1a-3f44-4d2b-9a51-0c8e5d4b7a10';
const ENABLE_SRIOV = '/sys/module/vfio_pci/parameters/enable_sriov';
const MAIN = join(process.cwd(), 'dist/cli/main.js');
const opened: Device[] = [];

const pf = (): string => {
  const d = findPciDevices(PF_ID)[0];
  if (!d) throw new Error('guest: no 82576 PF (8086:10c9): was it booted with VFIO_VM_CONFIG=sriov?');
  return d.address;
};


/** Without a token through this run's interface; with one, 'auto' takes the group path (on the guest's 6.12, the token's only way in). */
function open(address: string, vfToken?: string): Device {
  const d = openDevice(address, vfToken !== undefined ? { vfToken } : vmOpenOptions());
  opened.push(d);
  return d;
}

function vfio(args: string[]): { status: number | null; stdout: string; stderr: string } {
  expect(existsSync(MAIN), 'dist/ is built before the guest runs (npm run build:ts)').toBe(true);
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 90_000 });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

afterAll(() => {
  for (const d of opened.splice(0)) d.close();
  const a = pf();
  if (readPciDevice(a).driver === 'vfio-pci') {
    try {
      disableSriov(a);
    } catch {
      // reported by the tests
    }
    unbindVfioPci([a]);
  }
  if (readPciDevice(a).driver === null) writeFileSync('/sys/bus/pci/drivers/igb/bind', a);
  try {
    disableSriov(a);
  } catch {
    // reported by the tests
  }
  writeFileSync(ENABLE_SRIOV, 'N');
});

describe('SR-IOV on the real kernel', () => {
  it('the 82576 PF is on igb, SR-IOV capable (sriov_totalvfs 7), no VFs yet', () => {
    const a = pf();
    expect(readPciDevice(a).driver).toBe('igb');
    expect(sriovInfo(a)).toMatchObject({ totalVfs: 7, numVfs: 0, vfs: [] });
  });

  it('enables VFs through igb (autoprobe: igbvf takes them), each in a group of its own; refusals are named', () => {
    const a = pf();
    expect(refused(() => enableSriov(a, 8), 'ERR_VFIO_SRIOV_TOO_MANY').message).toContain('sriov_totalvfs (7)');
    const info = enableSriov(a, 2);
    expect(info.vfs).toHaveLength(2);
    expect(info.vfs.map((v) => [v.vendor, v.device])).toEqual([[0x8086, 0x10ca], [0x8086, 0x10ca]]);
    const groups = info.vfs.map((v) => v.iommuGroup);
    expect(groups.every((g) => g !== null)).toBe(true);
    expect(new Set([...groups, readPciDevice(a).iommuGroup]).size).toBe(3);
    expect(info.vfs.map((v) => v.driver)).toEqual(['igbvf', 'igbvf']);
    expect(refused(() => enableSriov(a, 3), 'ERR_VFIO_SRIOV_ENABLED').hint).toContain('--vfs 0');
    expect(refused(() => enableSriov(info.vfs[0]!.address, 1), 'ERR_VFIO_NOT_SRIOV').message).toContain(`a VF of ${a}`);
    refused(() => enableSriov(findPciDevices(EDU)[0]!.address, 1), 'ERR_VFIO_NOT_SRIOV');
    expect(disableSriov(a).numVfs).toBe(0);
  });

  it('no driver on the PF: ERR_VFIO_SRIOV_REFUSED (ENOENT) saying to bind one', () => {
    const a = pf();
    writeFileSync(`/sys/bus/pci/devices/${a}/driver/unbind`, a);
    try {
      const e = refused(() => enableSriov(a, 1), 'ERR_VFIO_SRIOV_REFUSED');
      expect(e.errno).toBe(2);
      expect(e.hint).toContain('no driver is bound');
    } finally {
      writeFileSync('/sys/bus/pci/drivers/igb/bind', a);
    }
    expect(readPciDevice(a).driver).toBe('igb');
  });

  it('flow 1 setup: PF on igb, VFs without a driver, bound to vfio-pci, opened without a token (a token is refused)', () => {
    const a = pf();
    const info = enableSriov(a, 2, { autoprobe: false });
    expect(info.driversAutoprobe).toBe(false);
    expect(info.vfs.map((v) => v.driver)).toEqual([null, null]);
    const report = bindVfioPci(info.vfs.map((v) => v.address));
    expect(report.ok, JSON.stringify(report)).toBe(true);
    const vf = info.vfs[0]!.address;
    refused(() => open(vf, T), 'ERR_VFIO_VF_TOKEN_UNUSED');
    const dev = open(vf);
    expect(dev.config.vendorId).toBe(0x8086);
    const doctor = JSON.parse(vfio(['doctor', '--json', vf]).stdout) as { checks: { id: string; status: string; summary: string }[] };
    expect(doctor.checks.find((c) => c.id === 'vf-token')).toMatchObject({ status: 'pass', summary: expect.stringContaining('no VF token needed') });
    dev.close();
    unbindVfioPci(info.vfs.map((v) => v.address));
    writeFileSync(`/sys/bus/pci/devices/${a}/sriov_drivers_autoprobe`, '1');
    expect(disableSriov(a).numVfs).toBe(0);
  });

  it('flow 2: PF on vfio-pci needs enable_sriov; its owner sets the VF token; VFs open with it only', () => {
    const a = pf();
    writeFileSync(ENABLE_SRIOV, 'N');
    expect(bindVfioPci([a]).ok).toBe(true);
    expect(refused(() => enableSriov(a, 2), 'ERR_VFIO_SRIOV_REFUSED').hint).toContain('enable_sriov');
    writeFileSync(ENABLE_SRIOV, 'Y');
    const owner = open(a);
    owner.setVfToken(T);
    const info = enableSriov(a, 2);
    // vfio-pci's bus notifier gives the new VFs driver_override=vfio-pci.
    expect(info.vfs.map((v) => v.driver)).toEqual(['vfio-pci', 'vfio-pci']);
    const [vf0, vf1] = info.vfs.map((v) => v.address) as [string, string];
    // The group path checks tokens (6.12's cdev checks none: test/vm/unprivileged/sriov/flow2.test.ts).
    expect(refused(() => openDevice(vf0, { iommu: 'container' }), 'ERR_VFIO_VF_TOKEN_REQUIRED').errno).toBe(13);
    expect(refused(() => open(vf0, OTHER), 'ERR_VFIO_VF_TOKEN_MISMATCH').errno).toBe(13);
    const vf = open(vf0, T);
    expect(vf.config.deviceId).toBe(0x10ca);
    // A new token holds for later opens.
    owner.setVfToken(OTHER);
    refused(() => open(vf1, T), 'ERR_VFIO_VF_TOKEN_MISMATCH');
    open(vf1, OTHER).close();
    refused(() => vf.setVfToken(T), 'ERR_VFIO_NOT_SRIOV');
    const doctor = JSON.parse(vfio(['doctor', '--json', vf1]).stdout) as { checks: { id: string; status: string; summary: string }[] };
    expect(doctor.checks.find((c) => c.id === 'vf-token')).toMatchObject({ status: 'warn', summary: `a VF token is needed: its PF ${a} is bound to vfio-pci` });
    // sriov_totalvfs is the capability's 8 here: igb lowers it to 7 only while it drives the PF.
    const ls = vfio(['ls', '--id', '8086:']);
    expect(ls.stdout).toMatch(new RegExp(`${a}.*PF 2/8 VFs`));
    expect(ls.stdout).toMatch(new RegExp(`${vf1}.*VF 1 of ${a}`));
    // The PF's owner reopening while a VF is in use presents the token too.
    owner.close();
    refused(() => openDevice(a, { iommu: 'container' }), 'ERR_VFIO_VF_TOKEN_REQUIRED');
    open(a, OTHER).close();
    vf.close();
    expect(disableSriov(a).numVfs).toBe(0);
    expect(unbindVfioPci([a]).ok).toBe(true);
    writeFileSync(ENABLE_SRIOV, 'N');
  });
});
