/**
 * The fake kernel's SR-IOV, as drivers/pci/iov.c and vfio-pci keep it: sriov_numvfs makes VFs
 * (8086:10ca at routing ID + 0x80 + 2n) with physfn/virtfnN links, each in a group of its own,
 * probed as sriov_drivers_autoprobe and the PF's driver say; the store's refusals with the
 * kernel's errnos; vfio-pci's enable_sriov and its refusal to take a PF with VFs.
 */
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { I82576Model } from '../../src/backend/fake/index.js';
import { readPciDevice } from '../../src/host/pci.js';
import { PF, VF0, VF1, sriovBench, type SriovBench } from '../helpers/sriov.js';

let bench: SriovBench | undefined;
afterEach(() => {
  bench?.dispose();
  bench = undefined;
});

const errno = (fn: () => unknown, code: string) => expect(fn).toThrow(expect.objectContaining({ code }));
const dev = (b: SriovBench, a: string, f = '') => join(b.kernel.root, 'sys/bus/pci/devices', a, f);
const attr = (b: SriovBench, a: string, f: string) => readFileSync(dev(b, a, f), 'utf8').trim();

describe('fake SR-IOV: sriov_numvfs', () => {
  it('makes VFs with physfn/virtfn links and the VF ID, each in a group of its own; 0 removes them', () => {
    const b = (bench = sriovBench('igb'));
    expect(attr(b, PF, 'sriov_totalvfs')).toBe('8');
    expect(attr(b, PF, 'sriov_numvfs')).toBe('0');
    expect(attr(b, PF, 'sriov_vf_device')).toBe('10ca');
    b.write('sriov_numvfs', '2\n');
    expect(attr(b, PF, 'sriov_numvfs')).toBe('2');
    expect(readlinkSync(dev(b, PF, 'virtfn0'))).toBe(`../${VF0}`);
    expect(readlinkSync(dev(b, PF, 'virtfn1'))).toBe(`../${VF1}`);
    expect(readlinkSync(dev(b, VF1, 'physfn'))).toBe(`../${PF}`);
    const [vf0, vf1, pf] = [VF0, VF1, PF].map((a) => readPciDevice(a, b.kernel.options));
    expect(vf0).toMatchObject({ vendor: 0x8086, device: 0x10ca, classCode: 0x020000, driver: null });
    expect(new Set([pf!.iommuGroup, vf0!.iommuGroup, vf1!.iommuGroup]).size).toBe(3);
    b.write('sriov_numvfs', '0');
    expect(existsSync(dev(b, PF, 'virtfn0'))).toBe(false);
    expect(existsSync(dev(b, VF0))).toBe(false);
    expect(existsSync(join(b.kernel.root, 'sys/kernel/iommu_groups', String(vf0!.iommuGroup)))).toBe(false);
  });

  it('refuses as sriov_numvfs_store does: EINVAL, ERANGE, EBUSY (VFs exist), ENOENT (no driver, or no sriov_configure)', () => {
    const b = (bench = sriovBench('igb'));
    errno(() => b.write('sriov_numvfs', 'two'), 'EINVAL');
    errno(() => b.write('sriov_numvfs', '9'), 'ERANGE');
    b.write('sriov_numvfs', '0x2');
    b.write('sriov_numvfs', '2'); // the current count: nothing to do
    errno(() => b.write('sriov_numvfs', '3'), 'EBUSY');
    b.write('sriov_numvfs', '0');
    b.kernel.bindDriver(PF, null);
    errno(() => b.write('sriov_numvfs', '1'), 'ENOENT');
    b.kernel.addDevice('0000:02:00.0', new I82576Model(), { driver: 'oldigb', sriovConfigure: false });
    errno(() => b.write('sriov_numvfs', '1', '0000:02:00.0'), 'ENOENT');
    errno(() => b.write('sriov_numvfs', '1', '0000:09:00.0'), 'ENODEV');
  });

  it('probes new VFs: the VF driver while autoprobe is on, nothing when it is off; drivers_probe and bind take them later', () => {
    const b = (bench = sriovBench('igb', { vfDriver: 'igbvf' }));
    b.write('sriov_numvfs', '1');
    expect(readPciDevice(VF0, b.kernel.options).driver).toBe('igbvf');
    b.write('sriov_numvfs', '0');
    b.write('sriov_drivers_autoprobe', '0');
    b.write('sriov_numvfs', '2');
    expect(attr(b, PF, 'sriov_drivers_autoprobe')).toBe('0');
    expect(readPciDevice(VF0, b.kernel.options).driver).toBeNull();
    b.kernel.writeSysfs(join(b.kernel.root, 'sys/bus/pci/drivers_probe'), VF0);
    expect(readPciDevice(VF0, b.kernel.options).driver).toBe('igbvf');
    b.write('driver_override', 'vfio-pci', VF1);
    b.kernel.writeSysfs(join(b.kernel.root, 'sys/bus/pci/drivers_probe'), VF1);
    expect(readPciDevice(VF1, b.kernel.options).driver).toBe('vfio-pci');
    expect(existsSync(join(b.kernel.root, 'dev/vfio', String(readPciDevice(VF1, b.kernel.options).iommuGroup)))).toBe(true);
  });

  it('vfio-pci makes VFs only with enable_sriov, gives them driver_override=vfio-pci, and will not take a PF with VFs', () => {
    const b = (bench = sriovBench('vfio-pci', { vfioPciEnableSriov: false }));
    errno(() => b.write('sriov_numvfs', '1'), 'ENOENT');
    b.kernel.writeSysfs(join(b.kernel.root, 'sys/module/vfio_pci/parameters/enable_sriov'), '1');
    expect(readFileSync(join(b.kernel.root, 'sys/module/vfio_pci/parameters/enable_sriov'), 'utf8').trim()).toBe('Y');
    b.write('sriov_numvfs', '2');
    expect(attr(b, VF0, 'driver_override')).toBe('vfio-pci');
    expect(readPciDevice(VF0, b.kernel.options).driver).toBe('vfio-pci');
    // Unbinding the PF from vfio-pci removes its VFs (pci_disable_sriov); igb then makes new ones,
    // and vfio-pci refuses the PF while they exist.
    b.kernel.writeSysfs(join(b.kernel.root, 'sys/bus/pci/drivers/vfio-pci/unbind'), PF);
    expect(existsSync(dev(b, VF0))).toBe(false);
    b.kernel.bindDriver(PF, 'igb');
    b.write('sriov_numvfs', '1');
    b.kernel.writeSysfs(join(b.kernel.root, 'sys/bus/pci/devices', PF, 'driver/unbind'), PF);
    expect(existsSync(dev(b, VF0))).toBe(false);
    b.kernel.bindDriver(PF, 'igb');
    b.write('sriov_numvfs', '1');
    b.kernel.bindDriver(VF0, null);
    expect(() => b.kernel.writeSysfs(join(b.kernel.root, 'sys/bus/pci/drivers/vfio-pci/bind'), PF)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
  });
});
