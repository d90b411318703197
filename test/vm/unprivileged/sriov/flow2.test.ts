/**
 * SR-IOV flow 2 as an unprivileged user (VFIO_VM_CONFIG=sriov; test/vm/commands/sriov.sh):
 * root bound the 82576 PF to vfio-pci with enable_sriov, made two VFs (vfio-pci took them)
 * and gave uid 1000 the nodes of the PF and both VFs, with 1 MiB of locked memory. The user is
 * the PF's owner: sets the VF token, then opens VFs with it; without it or with another token
 * the group path refuses (named errors). Under iommufd the cdev depends on the kernel
 * (../../guest.ts cdevVfTokens): 6.12's bind takes no token (ERR_VFIO_VF_TOKEN_IOMMUFD, from
 * the kernel's EINVAL) and checks none; a newer one (trixie-backports' 7.x) takes and checks it.
 * IgbvfPort on such a VF finds no PF driver to answer its mailbox: ERR_VFIO_NET_MBX_TIMEOUT.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { release } from 'node:os';
import { join } from 'node:path';
import { disableSriov, findPciDevices, openDevice, sriovInfo, type Device, type SriovInfo } from '../../../../src/index.js';
import { IgbvfPort } from '../../../../src/net/index.js';
import { cdevVfTokens, vmMode, vmOpenOptions } from '../../guest.js';
import { refused } from '../../../helpers/vfio-refusal.js';

const PF_ID = { vendor: 0x8086, device: 0x10c9 };
const T = '0f4c7a52-8d3e-4b8f-9a0e-6c2d1b5e7f31';
const OTHER = 'a3b9e2d4-71c5-4e6a-8f10-2d4b6c8e0a12';
const MAIN = join(process.cwd(), 'dist/cli/main.js');
const opened: Device[] = [];


function open(address: string, options: Parameters<typeof openDevice>[1]): Device {
  const d = openDevice(address, options);
  opened.push(d);
  return d;
}

afterAll(() => {
  for (const d of opened.splice(0).reverse()) d.close();
});

describe('SR-IOV flow 2, unprivileged: the PF on vfio-pci, its owner sets the VF token', () => {
  const pf = findPciDevices(PF_ID)[0]!;
  const info = sriovInfo(pf.address) as SriovInfo;
  const [vf0, vf1] = info.vfs.map((v) => v.address) as [string, string];
  let owner: Device | null = null;

  it("runs as uid 1000; root left the PF and two VFs on vfio-pci; removing them is root's (ERR_VFIO_SRIOV_PERMISSION)", () => {
    expect(process.getuid?.()).toBe(1000);
    expect(pf.driver).toBe('vfio-pci');
    expect(info.vfs.map((v) => v.driver)).toEqual(['vfio-pci', 'vfio-pci']);
    expect(refused(() => disableSriov(pf.address), 'ERR_VFIO_SRIOV_PERMISSION').errno).toBe(13);
  });

  it("the user opens the PF through this run's interface and sets the token", () => {
    owner = open(pf.address, vmOpenOptions());
    expect(owner.config.deviceId).toBe(0x10c9);
    owner.setVfToken(T);
  });

  it('the group path checks it: none is ERR_VFIO_VF_TOKEN_REQUIRED, another MISMATCH (EACCES); the right one opens the VF', () => {
    const none = refused(() => open(vf0, { iommu: 'container' }), 'ERR_VFIO_VF_TOKEN_REQUIRED');
    expect(none.errno).toBe(13);
    expect(none.hint).toContain('setVfToken');
    expect(refused(() => open(vf0, { iommu: 'container', vfToken: OTHER }), 'ERR_VFIO_VF_TOKEN_MISMATCH').errno).toBe(13);
    // 'auto' (the default) takes the group path for a token, also where iommufd is there.
    const vf = open(vf0, { vfToken: T });
    expect(vf.config.deviceId).toBe(0x10ca);
    expect(vf.iommuApi).toBe('container');
  });

  if (vmMode() === 'iommufd' && cdevVfTokens() === 'works') {
    it(`${release()}: the cdev bind takes the token (VFIO_DEVICE_BIND_FLAG_TOKEN) and checks it as the group path does`, () => {
      expect(refused(() => open(vf1, { iommu: 'iommufd' }), 'ERR_VFIO_VF_TOKEN_REQUIRED').errno).toBe(13);
      expect(refused(() => open(vf1, { iommu: 'iommufd', vfToken: OTHER }), 'ERR_VFIO_VF_TOKEN_MISMATCH').errno).toBe(13);
      const viaCdev = open(vf1, { iommu: 'iommufd', vfToken: T });
      expect(viaCdev.config.deviceId).toBe(0x10ca);
      expect(viaCdev.iommuApi).toBe('iommufd');
    });
  } else if (vmMode() === 'iommufd' && cdevVfTokens() === 'broken') {
    it(`${release()}: the cdev bind checks tokens but refuses one with E2BIG: ERR_VFIO_VF_TOKEN_IOMMUFD; without one REQUIRED`, () => {
      expect(refused(() => open(vf1, { iommu: 'iommufd', vfToken: T }), 'ERR_VFIO_VF_TOKEN_IOMMUFD').errno).toBe(7);
      refused(() => open(vf1, { iommu: 'iommufd' }), 'ERR_VFIO_VF_TOKEN_REQUIRED');
    });
  } else if (vmMode() === 'iommufd') {
    it(`${release()}: the cdev bind takes no token: asking for one is ERR_VFIO_VF_TOKEN_IOMMUFD (the kernel's EINVAL); it checks none either, so the cdev opens the VF without one`, () => {
      const e = refused(() => open(vf1, { iommu: 'iommufd', vfToken: T }), 'ERR_VFIO_VF_TOKEN_IOMMUFD');
      expect(e.hint).toContain("iommu: 'container'");
      const viaCdev = open(vf1, { iommu: 'iommufd' });
      expect(viaCdev.config.deviceId).toBe(0x10ca);
      expect(viaCdev.iommuApi).toBe('iommufd');
    });
  } else {
    it('a new token holds for later opens', () => {
      owner!.setVfToken(OTHER);
      refused(() => open(vf1, { iommu: 'container', vfToken: T }), 'ERR_VFIO_VF_TOKEN_MISMATCH');
      expect(open(vf1, { iommu: 'container', vfToken: OTHER }).config.deviceId).toBe(0x10ca);
      owner!.setVfToken(T);
    });
  }

  it('`vfio doctor` on VF 1 as the user: a VF token is needed', () => {
    const r = spawnSync(process.execPath, [MAIN, 'doctor', '--json', vf1], { encoding: 'utf8', timeout: 90_000 });
    const doctor = JSON.parse(r.stdout) as { checks: { id: string; status: string; summary: string }[] };
    expect(doctor.checks.find((c) => c.id === 'vf-token')).toMatchObject({ status: 'warn', summary: `a VF token is needed: its PF ${pf.address} is bound to vfio-pci` });
  });

  it('IgbvfPort on a VF of a vfio-pci PF: nobody answers its mailbox, ERR_VFIO_NET_MBX_TIMEOUT naming the cause', () => {
    const vf = opened.find((d) => d.address === vf0)!;
    const e = refused(() => IgbvfPort.open(vf, { mailboxTimeoutMs: 300, rxDescriptors: 64, txDescriptors: 32 }), 'ERR_VFIO_NET_MBX_TIMEOUT');
    console.log(`igbvf on a VF of a vfio-pci PF: ${e.message}; hint: ${e.hint}`);
    expect(e.hint).toContain('vfio-pci');
  });

  it("the PF's owner reopening while a VF is open presents the token too", () => {
    owner!.close();
    refused(() => openDevice(pf.address, { iommu: 'container' }), 'ERR_VFIO_VF_TOKEN_REQUIRED');
    open(pf.address, { iommu: 'container', vfToken: T }).close();
    if (vmMode() === 'iommufd' && cdevVfTokens() === 'works') {
      refused(() => openDevice(pf.address, { iommu: 'iommufd' }), 'ERR_VFIO_VF_TOKEN_REQUIRED');
      open(pf.address, { iommu: 'iommufd', vfToken: T }).close();
    }
  });
});
