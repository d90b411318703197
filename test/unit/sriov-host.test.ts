/**
 * enableSriov / disableSriov / sriovInfo / listVfs against the fake kernel's sysfs: the VFs
 * they make, and each refusal as a named error that says what to do.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { EduModel } from '../../src/backend/fake/index.js';
import { disableSriov, enableSriov, listVfs, openDevice, physfnOf, sriovInfo, vfTokenNeeded } from '../../src/index.js';
import { makeSysfsTree, type SysfsTree } from '../helpers/sysfs-tree.js';
import { PF, VF0, VF1, sriovBench, type SriovBench } from '../helpers/sriov.js';
import { refused } from '../helpers/vfio-refusal.js';

let bench: SriovBench | undefined;
let tree: SysfsTree | undefined;
afterEach(() => {
  bench?.dispose();
  bench = undefined;
  tree?.cleanup();
  tree = undefined;
});


describe('enableSriov / disableSriov', () => {
  it('makes VFs, reports them with their groups, and removes them', () => {
    const b = (bench = sriovBench('igb', { vfDriver: 'igbvf' }));
    const o = b.kernel.options;
    expect(sriovInfo(PF, o)).toMatchObject({ address: PF, totalVfs: 8, numVfs: 0, driversAutoprobe: true, vfDevice: 0x10ca, vfs: [] });
    const info = enableSriov(PF, 2, o);
    expect(info.numVfs).toBe(2);
    expect(info.vfs.map((v) => [v.index, v.address, v.driver])).toEqual([[0, VF0, 'igbvf'], [1, VF1, 'igbvf']]);
    expect(info.vfs.every((v) => v.iommuGroup !== null)).toBe(true);
    expect(listVfs(PF, o).map((v) => v.address)).toEqual([VF0, VF1]);
    expect(physfnOf(VF1, o)).toBe(PF);
    expect(physfnOf(PF, o)).toBeNull();
    expect(enableSriov(PF, 2, o).numVfs).toBe(2); // the current number: nothing written
    expect(disableSriov(PF, o)).toMatchObject({ numVfs: 0, vfs: [] });
    expect(disableSriov(PF, o).numVfs).toBe(0);
  });

  it('autoprobe: false leaves the VFs without a driver, for vfio-pci', () => {
    const b = (bench = sriovBench('igb', { vfDriver: 'igbvf' }));
    const info = enableSriov(PF, 1, { ...b.kernel.options, autoprobe: false });
    expect(info.driversAutoprobe).toBe(false);
    expect(info.vfs[0]!.driver).toBeNull();
  });

  it('names each refusal: too many, already enabled, not a PF (a VF says which PF), in use', () => {
    const b = (bench = sriovBench('vfio-pci'));
    const o = b.kernel.options;
    expect(refused(() => enableSriov(PF, 9, o), 'ERR_VFIO_SRIOV_TOO_MANY').message).toContain('sriov_totalvfs (8)');
    enableSriov(PF, 2, o);
    expect(refused(() => enableSriov(PF, 3, o), 'ERR_VFIO_SRIOV_ENABLED').hint).toContain('--vfs 0');
    expect(refused(() => enableSriov(VF0, 1, o), 'ERR_VFIO_NOT_SRIOV').message).toContain(`a VF of ${PF}`);
    b.kernel.addDevice('0000:00:02.0', new EduModel());
    expect(refused(() => enableSriov('0000:00:02.0', 1, o), 'ERR_VFIO_NOT_SRIOV').hint).toContain('SR-IOV capability');
    refused(() => enableSriov('0000:00:09.0', 1, o), 'ERR_VFIO_NO_DEVICE');
    // A VF open through VFIO: the kernel would block removing it; the error says so.
    const pf = openDevice(PF, o);
    pf.setVfToken('bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3');
    const vf = openDevice(VF0, { ...o, vfToken: 'bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3' });
    expect(vfTokenNeeded(VF0, o)).toEqual({ pf: PF });
    refused(() => disableSriov(PF, o), 'ERR_VFIO_SRIOV_VFS_IN_USE');
    vf.close();
    pf.close();
    disableSriov(PF, o);
    for (const bad of [-1, 1.5, NaN, 65536]) expect(() => enableSriov(PF, bad, o)).toThrow(RangeError);
  });

  it("the PF's driver refuses: no driver, vfio-pci without enable_sriov (the hint says how), a driver without sysfs SR-IOV", () => {
    const b = (bench = sriovBench('vfio-pci', { vfioPciEnableSriov: false }));
    const o = b.kernel.options;
    const e = refused(() => enableSriov(PF, 1, o), 'ERR_VFIO_SRIOV_REFUSED');
    expect(e.errno).toBe(2);
    expect(e.hint).toContain('enable_sriov');
    b.kernel.bindDriver(PF, null);
    expect(refused(() => enableSriov(PF, 1, o), 'ERR_VFIO_SRIOV_REFUSED').hint).toContain('no driver is bound');
    b.kernel.bindDriver(PF, 'vfio-pci');
    b.kernel.writeSysfs(`${b.kernel.root}/sys/module/vfio_pci/parameters/enable_sriov`, 'Y');
    expect(enableSriov(PF, 1, o).vfs[0]!.driver).toBe('vfio-pci');
  });

  it('a caller who may not write sriov_numvfs (not root): ERR_VFIO_SRIOV_PERMISSION, not a refusal of the driver', () => {
    const b = (bench = sriovBench('igb', { vfDriver: 'igbvf' }));
    const denied = (code: 'EACCES' | 'EPERM') => ({
      ...b.kernel.options,
      write: (path: string) => {
        throw Object.assign(new Error(`${code}: permission denied, open '${path}'`), { code, errno: code === 'EACCES' ? -13 : -1, syscall: 'open', path });
      },
    });
    const e = refused(() => enableSriov(PF, 2, denied('EACCES')), 'ERR_VFIO_SRIOV_PERMISSION');
    expect(e.errno).toBe(13);
    expect(e.message).toContain('sriov_numvfs');
    expect(e.hint).toContain(`sudo vfio sriov ${PF} --vfs 2`);
    expect(sriovInfo(PF, b.kernel.options)!.numVfs).toBe(0);
    enableSriov(PF, 1, b.kernel.options);
    expect(refused(() => disableSriov(PF, denied('EPERM')), 'ERR_VFIO_SRIOV_PERMISSION').hint).toContain('--vfs 0');
    expect(sriovInfo(PF, b.kernel.options)!.numVfs).toBe(1);
  });

  it('no IOMMU: the VFs would have no group, so it refuses before writing', () => {
    tree = makeSysfsTree([{ address: PF, vendor: 0x8086, device: 0x10c9, classCode: 0x020000, driver: 'igb', group: null }]);
    tree.writeFile(`sys/devices/pci0000:00/${PF}/sriov_totalvfs`, '7\n');
    tree.writeFile(`sys/devices/pci0000:00/${PF}/sriov_numvfs`, '0\n');
    const e = refused(() => enableSriov(PF, 2, { root: tree!.root, write: tree!.kernelWrite }), 'ERR_VFIO_NO_IOMMU');
    expect(e.hint).toContain('intel_iommu=on');
    expect(tree.writes).toEqual([]);
  });
});
