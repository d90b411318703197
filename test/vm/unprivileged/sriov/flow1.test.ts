/**
 * SR-IOV flow 1 as an unprivileged user (VFIO_VM_CONFIG=sriov; test/vm/commands/sriov.sh):
 * root made two VFs of the 82576 PF, which stays on the kernel's igb with its interface up,
 * bound them to vfio-pci and gave uid 1000 the nodes of VF 0 and of the first e1000e, with
 * 1 MiB of locked memory. The user cannot make or remove VFs (a named error, nothing changes),
 * cannot open VF 1 (not handed over), needs no VF token, and drives VF 0 with IgbvfPort
 * against the e1000e: 1,000 frames of mixed sizes each way, paced (../../paced.ts), in order.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { disableSriov, findPciDevices, openContext, sriovInfo, type SriovInfo } from '../../../../src/index.js';
import { IgbvfPort, PacketPool, openPort, type PortBase } from '../../../../src/net/index.js';
import { E1000E, vmOpenOptions } from '../../guest.js';
import { pacedOneWay } from '../../paced.js';
import { refused } from '../../../helpers/vfio-refusal.js';

const PF_ID = { vendor: 0x8086, device: 0x10c9 };
const N = 1000;
const MAIN = join(process.cwd(), 'dist/cli/main.js');


describe('SR-IOV flow 1, unprivileged: VFs root made, driven by uid 1000', () => {
  const pf = findPciDevices(PF_ID)[0]!;
  const info = sriovInfo(pf.address) as SriovInfo;
  const [vf0, vf1] = info.vfs.map((v) => v.address) as [string, string];

  it('runs as uid 1000; root left the PF on igb and two VFs on vfio-pci', () => {
    expect(process.getuid?.()).toBe(1000);
    expect(pf.driver).toBe('igb');
    expect(info.vfs.map((v) => v.driver)).toEqual(['vfio-pci', 'vfio-pci']);
  });

  it('making or removing VFs is root\'s: ERR_VFIO_SRIOV_PERMISSION (EACCES), and nothing changes', () => {
    const e = refused(() => disableSriov(pf.address), 'ERR_VFIO_SRIOV_PERMISSION');
    expect(e.errno).toBe(13);
    expect(e.hint).toContain(`sudo vfio sriov ${pf.address} --vfs 0`);
    expect(sriovInfo(pf.address)!.numVfs).toBe(2);
    const cli = spawnSync(process.execPath, [MAIN, 'sriov', pf.address, '--vfs', '0'], { encoding: 'utf8', timeout: 60_000 });
    expect(cli.status).not.toBe(0);
    expect(cli.stderr).toContain('not allowed to write sriov_numvfs');
    expect(cli.stderr).toContain('hint: run it as root');
  });

  it('VF 1 was not handed over: opening it is EACCES', () => {
    const ctx = openContext(vmOpenOptions());
    try {
      expect(() => ctx.openDevice(vf1)).toThrow(expect.objectContaining({ name: 'VfioError', code: 'EACCES' }));
    } finally {
      ctx.close();
    }
  });

  it('`vfio doctor` on VF 0 as the user: no VF token needed (the PF is on igb)', () => {
    const r = spawnSync(process.execPath, [MAIN, 'doctor', '--json', vf0], { encoding: 'utf8', timeout: 90_000 });
    const doctor = JSON.parse(r.stdout) as { checks: { id: string; status: string; summary: string }[] };
    expect(doctor.checks.find((c) => c.id === 'vf-token')).toMatchObject({ status: 'pass', summary: expect.stringContaining('no VF token needed') });
  });

  it(`IgbvfPort on VF 0 ↔ e1000e: ${N} frames of mixed sizes each way, in order, within 1 MiB of locked memory`, async () => {
    const ctx = openContext(vmOpenOptions());
    let pool: PacketPool | null = null;
    let v: PortBase | null = null;
    let e: PortBase | null = null;
    try {
      const vdev = ctx.openDevice(vf0);
      const edev = ctx.openDevice(findPciDevices(E1000E)[0]!.address);
      pool = PacketPool.create(ctx, { count: 192, hugepages: 'never' });
      v = IgbvfPort.open(vdev, { pool, rxDescriptors: 64, txDescriptors: 32, portId: 0 });
      e = openPort(edev, { pool, rxDescriptors: 64, txDescriptors: 32, promiscuous: true, portId: 1 });
      expect(v.driver).toBe('igbvf');
      expect(await v.waitForLink(10_000)).toBe(true);
      expect(await e.waitForLink(5000)).toBe(true);
      await pacedOneWay(e, v, N, 0x00f10001, 'igbvf guest');
      await pacedOneWay(v, e, N, 0x00f10002, 'igbvf guest');
    } finally {
      v?.close();
      e?.close();
      pool?.close();
      ctx.close();
    }
  }, 300_000);
});
