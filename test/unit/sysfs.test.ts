import { afterEach, describe, expect, it } from 'vitest';
import { VfioError, findPciDevices, groupMembers, normalizePciAddress, openDevice, readPciDevice } from '../../src/index.js';
import { makeSysfsTree, type SysfsTree } from '../helpers/sysfs-tree.js';

let tree: SysfsTree | undefined;
afterEach(() => tree?.cleanup());

function expectVfioError(fn: () => unknown, code: string, hint?: RegExp): VfioError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VfioError);
    const v = e as VfioError;
    expect(v.code).toBe(code);
    if (hint) expect(v.hint).toMatch(hint);
    return v;
  }
  throw new Error(`expected a VfioError ${code}`);
}

describe('PCI addresses', () => {
  it('normalises short and upper-case forms', () => {
    expect(normalizePciAddress('00:03.0')).toBe('0000:00:03.0');
    expect(normalizePciAddress('0000:3B:1F.7')).toBe('0000:3b:1f.7');
  });
  it.each(['', '0000:00:03', '00:20.0', '00:03.8', 'zz:00.0', '0000:00:03.0 extra'])('rejects %j with a named error', (a) => {
    const e = expectVfioError(() => normalizePciAddress(a), 'ERR_VFIO_BAD_ADDRESS', /domain:bus:device\.function/);
    expect(e.op).toBe('parse PCI address');
  });
});

describe('sysfs discovery', () => {
  it('reads vendor, device, class, driver and group', () => {
    tree = makeSysfsTree([{ address: '0000:00:03.0', vendor: 0x1234, device: 0x11e8, classCode: 0x00ff00, driver: 'vfio-pci', group: 4 }]);
    const d = readPciDevice('00:03.0', { root: tree.root });
    expect(d).toEqual({ address: '0000:00:03.0', vendor: 0x1234, device: 0x11e8, classCode: 0x00ff00, driver: 'vfio-pci', iommuGroup: 4 });
  });
  it('lists group members and filters by id', () => {
    tree = makeSysfsTree([
      { address: '0000:01:01.0', vendor: 0x1234, device: 0x11e8, driver: 'vfio-pci', group: 7 },
      { address: '0000:01:02.0', vendor: 0x1af4, device: 0x1000, driver: 'virtio-pci', group: 7 },
      { address: '0000:00:02.0', vendor: 0x8086, device: 0x10d3, driver: null, group: 3 },
    ]);
    const opts = { root: tree.root };
    expect(groupMembers(7, opts).map((m) => [m.address, m.driver])).toEqual([
      ['0000:01:01.0', 'vfio-pci'],
      ['0000:01:02.0', 'virtio-pci'],
    ]);
    expect(findPciDevices({ vendor: 0x8086 }, opts).map((d) => d.address)).toEqual(['0000:00:02.0']);
    expect(readPciDevice('0000:00:02.0', opts).driver).toBeNull();
  });
});

describe('openDevice explains setup mistakes', () => {
  it('unknown PCI address', () => {
    tree = makeSysfsTree();
    const e = expectVfioError(() => openDevice('0000:00:09.0', { root: tree!.root }), 'ERR_VFIO_NO_DEVICE', /lspci -D/);
    expect(e.device).toBe('0000:00:09.0');
  });
  it('no IOMMU at all', () => {
    tree = makeSysfsTree([{ address: '0000:00:03.0', vendor: 0x1234, device: 0x11e8, driver: 'vfio-pci', group: null }]);
    expectVfioError(() => openDevice('0000:00:03.0', { root: tree!.root }), 'ERR_VFIO_NO_IOMMU', /intel_iommu=on/);
  });
  it('IOMMU present but the device is outside it', () => {
    tree = makeSysfsTree([{ address: '0000:00:03.0', vendor: 0x1234, device: 0x11e8, driver: 'vfio-pci', group: null }]);
    tree.addIommuUnit('dmar0');
    expectVfioError(() => openDevice('0000:00:03.0', { root: tree!.root }), 'ERR_VFIO_NO_IOMMU', /dmar0/);
  });
  it('device bound to another driver', () => {
    tree = makeSysfsTree([{ address: '0000:00:02.0', vendor: 0x8086, device: 0x10d3, driver: 'e1000e', group: 3 }]);
    const e = expectVfioError(() => openDevice('0000:00:02.0', { root: tree!.root }), 'ERR_VFIO_NOT_BOUND', /driver_override/);
    expect(e.message).toMatch(/bound to e1000e/);
    expect(e.group).toBe(3);
  });
  it('vfio modules not loaded (/dev/vfio/vfio missing)', () => {
    tree = makeSysfsTree([{ address: '0000:00:03.0', vendor: 0x1234, device: 0x11e8, driver: 'vfio-pci', group: 4 }]);
    const e = expectVfioError(() => openDevice('0000:00:03.0', { root: tree!.root }), 'ENOENT', /modprobe vfio-pci/);
    expect(e.op).toMatch(/^open .*dev\/vfio\/vfio$/);
    expect(e.errno).toBe(2);
  });
  it('a container that is not a VFIO container', () => {
    tree = makeSysfsTree([{ address: '0000:00:03.0', vendor: 0x1234, device: 0x11e8, driver: 'vfio-pci', group: 4 }]);
    tree.addDevNode('vfio');
    // A plain file answers ioctl with ENOTTY: the error names the step.
    const e = expectVfioError(() => openDevice('0000:00:03.0', { root: tree!.root }), 'ENOTTY');
    expect(e.op).toBe('VFIO_GET_API_VERSION');
  });
});
