/**
 * SR-IOV at the command line, on the fake kernel: `vfio sriov PF [--vfs N]`, the SR-IOV
 * column of `vfio ls`, and `vfio doctor VF` saying when a VF token is needed.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { run, type CliIo } from '../../src/cli/run.js';
import type { CliOverrides } from '../../src/cli/command.js';
import { PF, VF0, VF1, sriovBench, type SriovBench } from '../helpers/sriov.js';

let bench: SriovBench | undefined;
afterEach(() => {
  bench?.dispose();
  bench = undefined;
});

function cli(argv: string[], overrides: CliOverrides = {}): { status: number; stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  const io: CliIo = { stdout: { write: (s: string) => (stdout += s), isTTY: false }, stderr: { write: (s: string) => (stderr += s) }, env: {} };
  const status = run(argv, io, overrides) as number;
  return { status, stdout, stderr };
}

describe('vfio sriov', () => {
  it('shows the PF, enables VFs (--no-autoprobe --bind hands them to vfio-pci), disables them', () => {
    const b = (bench = sriovBench('igb', { vfDriver: 'igbvf' }));
    const root = b.kernel.root;
    const o: CliOverrides = { write: b.kernel.options.write, modprobe: () => true, stateDir: `${root}/run` };
    expect(cli(['sriov', '--root', root, PF], o)).toMatchObject({ status: 0, stdout: expect.stringContaining(`${PF}: 0 of 8 VFs enabled`) });
    const on = cli(['sriov', '--root', root, PF, '--vfs', '2', '--no-autoprobe', '--bind'], o);
    expect(on.status).toBe(0);
    expect(on.stdout).toContain(`${PF}: 2 of 8 VFs enabled (drivers_autoprobe off)`);
    expect(on.stdout).toMatch(new RegExp(`VF 0\\s+${VF0}\\s+vfio-pci\\s+group \\d+`));
    const json = JSON.parse(cli(['sriov', '--root', root, PF, '--json'], o).stdout) as { numVfs: number; vfs: { address: string; driver: string }[]; vfTokenNeeded: boolean };
    expect(json).toMatchObject({ numVfs: 2, vfTokenNeeded: false });
    expect(json.vfs.map((v) => v.driver)).toEqual(['vfio-pci', 'vfio-pci']);
    const again = cli(['sriov', '--root', root, PF, '--vfs', '3'], o);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/2 VFs are enabled already\n {2}hint: the kernel changes the number only from 0/);
    expect(cli(['sriov', '--root', root, PF, '--vfs', '0'], o)).toMatchObject({ status: 0, stdout: expect.stringContaining('0 of 8') });
    expect(cli(['sriov', '--root', root, PF, '--vfs', 'two'], o)).toMatchObject({ status: 2 });
    expect(cli(['sriov', '--root', root, PF, '--bind'], o)).toMatchObject({ status: 2 });
  });

  it('says what to do when the PF is on vfio-pci without enable_sriov, or is not a PF', () => {
    const b = (bench = sriovBench('vfio-pci', { vfioPciEnableSriov: false }));
    const root = b.kernel.root;
    const r = cli(['sriov', '--root', root, PF, '--vfs', '1'], { write: b.kernel.options.write });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('enable_sriov');
    b.kernel.writeSysfs(`${root}/sys/module/vfio_pci/parameters/enable_sriov`, '1');
    const ok = cli(['sriov', '--root', root, PF, '--vfs', '1'], { write: b.kernel.options.write });
    expect(ok.stdout).toContain('opening a VF needs the VF token');
    expect(cli(['sriov', '--root', root, VF0], {})).toMatchObject({ status: 1, stderr: expect.stringContaining('not SR-IOV capable') });
  });
});

describe('vfio ls and vfio doctor with SR-IOV', () => {
  it('ls marks the PF and each VF with its PF; groups are per VF', () => {
    const b = (bench = sriovBench('igb'));
    b.write('sriov_numvfs', '2');
    const r = cli(['ls', '--root', b.kernel.root]);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/NODE\s+SR-IOV$/);
    expect(lines.find((l) => l.startsWith(PF))).toMatch(/PF 2\/8 VFs$/);
    expect(lines.find((l) => l.startsWith(VF1))).toMatch(new RegExp(`VF 1 of ${PF}$`));
    const json = JSON.parse(cli(['ls', '--root', b.kernel.root, '--json']).stdout) as { address: string; iommuGroup: number; sriov: unknown; physfn: unknown }[];
    expect(json.find((d) => d.address === PF)!.sriov).toEqual({ totalVfs: 8, numVfs: 2, vfs: [VF0, VF1] });
    expect(json.find((d) => d.address === VF0)!.physfn).toEqual({ address: PF, index: 0 });
    expect(new Set(json.map((d) => d.iommuGroup)).size).toBe(3);
  });

  it('doctor VF: a token is needed when the PF is on vfio-pci, none when it is on igb', () => {
    const b = (bench = sriovBench('vfio-pci'));
    b.write('sriov_numvfs', '1');
    const r = cli(['doctor', '--root', b.kernel.root, '--json', VF0]);
    const { checks } = JSON.parse(r.stdout) as { checks: { id: string; status: string; summary: string; fix?: string }[] };
    const token = checks.find((c) => c.id === 'vf-token')!;
    expect(token).toMatchObject({ status: 'warn', summary: `a VF token is needed: its PF ${PF} is bound to vfio-pci` });
    expect(token.fix).toContain('vfToken');
    const pf = (JSON.parse(cli(['doctor', '--root', b.kernel.root, '--json', PF]).stdout) as { checks: { id: string; summary: string }[] }).checks.find((c) => c.id === 'vf-token')!;
    expect(pf.summary).toContain('setVfToken');
    bench.dispose();
    const c = (bench = sriovBench('igb'));
    c.write('sriov_numvfs', '1');
    const igb = (JSON.parse(cli(['doctor', '--root', c.kernel.root, '--json', VF0]).stdout) as { checks: { id: string; status: string; summary: string }[] }).checks.find((x) => x.id === 'vf-token')!;
    expect(igb).toMatchObject({ status: 'pass', summary: expect.stringContaining('no VF token needed') });
  });
});
