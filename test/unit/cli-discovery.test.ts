/**
 * The library under `vfio ls`, `vfio bind` and `vfio unbind`, on synthetic sysfs
 * trees: class names, filters, group viability, /dev/vfio nodes; binding with
 * driver_override and back, with the tree playing the kernel's part.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import {
  bindVfioPci,
  filterPciDevices,
  groupViability,
  listPciDeviceStatus,
  parseClassFilter,
  parsePciIdFilter,
  pciDeviceStatus,
  readDriverOverride,
  unbindVfioPci,
  vfioGroupNode,
  vfioGroupUsers,
  type BindOptions,
} from '../../src/index.js';
import { makeSysfsTree, type FakePciDevice, type SysfsTree } from '../helpers/sysfs-tree.js';

let tree: SysfsTree | undefined;
afterEach(() => {
  tree?.cleanup();
  tree = undefined;
});

const HOST_BRIDGE: FakePciDevice = { address: '0000:00:00.0', vendor: 0x8086, device: 0x29c0, classCode: 0x060000, driver: null, group: 0 };
const EDU: FakePciDevice = { address: '0000:00:02.0', vendor: 0x1234, device: 0x11e8, classCode: 0x00ff00, driver: 'vfio-pci', group: 2 };
const NIC: FakePciDevice = { address: '0000:00:03.0', vendor: 0x8086, device: 0x10d3, classCode: 0x020000, driver: 'e1000e', group: 3, defaultDriver: 'e1000e' };
const VNET: FakePciDevice = { address: '0000:00:04.0', vendor: 0x1af4, device: 0x1041, classCode: 0x020000, driver: 'vfio-pci', group: 4 };
const NVME: FakePciDevice = { address: '0000:00:06.0', vendor: 0x1b36, device: 0x0010, classCode: 0x010802, driver: 'nvme', group: 6 };
const BRIDGE: FakePciDevice = { address: '0000:00:05.0', vendor: 0x1b36, device: 0x000e, classCode: 0x060400, driver: null, group: 5 };
const BRIDGED_EDU: FakePciDevice = { address: '0000:01:01.0', vendor: 0x1234, device: 0x11e8, classCode: 0x00ff00, driver: 'vfio-pci', group: 5 };
const BRIDGED_NET: FakePciDevice = { address: '0000:01:02.0', vendor: 0x1af4, device: 0x1000, classCode: 0x020000, driver: 'virtio-pci', group: 5, defaultDriver: 'virtio-pci' };
const NO_GROUP: FakePciDevice = { address: '0000:00:07.0', vendor: 0x1af4, device: 0x1045, classCode: 0x00ff00, driver: 'virtio-pci', group: null };

function guestLike(): SysfsTree {
  tree = makeSysfsTree([HOST_BRIDGE, EDU, NIC, VNET, BRIDGE, NVME, BRIDGED_EDU, BRIDGED_NET, NO_GROUP]);
  for (const g of [2, 4, 5]) tree.addDevNode(String(g), 0o600);
  tree.addDevNode('vfio', 0o666);
  return tree;
}

describe('vfio ls, as a library', () => {
  it('lists every device with id, class name, driver, group, viability and node', () => {
    guestLike();
    const all = listPciDeviceStatus({}, { root: tree!.root });
    expect(all.map((d) => d.address)).toEqual([
      '0000:00:00.0', '0000:00:02.0', '0000:00:03.0', '0000:00:04.0', '0000:00:05.0', '0000:00:06.0', '0000:00:07.0', '0000:01:01.0', '0000:01:02.0',
    ]);
    const byAddr = new Map(all.map((d) => [d.address, d]));
    expect(byAddr.get(EDU.address)).toMatchObject({
      id: '1234:11e8', className: 'Unclassified device', driver: 'vfio-pci', iommuGroup: 2, groupViable: true, vfioNode: '/dev/vfio/2', groupPeers: [],
    });
    expect(byAddr.get(NIC.address)).toMatchObject({ id: '8086:10d3', className: 'Ethernet controller', driver: 'e1000e', groupViable: false, vfioNode: null });
    expect(byAddr.get(NVME.address)?.className).toBe('NVMe controller');
    expect(byAddr.get(BRIDGE.address)?.className).toBe('PCI bridge');
    expect(byAddr.get(NO_GROUP.address)).toMatchObject({ iommuGroup: null, groupViable: null, vfioNode: null, groupPeers: [] });
    const bridged = byAddr.get(BRIDGED_EDU.address)!;
    expect(bridged.groupViable).toBe(false);
    expect(bridged.groupPeers.map((p) => `${p.address} ${p.driver}`)).toEqual(['0000:00:05.0 null', '0000:01:02.0 virtio-pci']);
  });
  it('a driverless group is viable (no driver claims DMA)', () => {
    guestLike();
    expect(pciDeviceStatus(HOST_BRIDGE.address, { root: tree!.root }).groupViable).toBe(true);
  });
  it('filters by class name, hex class, vendor:device and driver', () => {
    guestLike();
    const ls = (f: Parameters<typeof listPciDeviceStatus>[0]) => listPciDeviceStatus(f, { root: tree!.root }).map((d) => d.address);
    expect(ls({ class: 'network' })).toEqual([NIC.address, VNET.address, BRIDGED_NET.address]);
    expect(ls({ class: 'Ethernet' })).toEqual([NIC.address, VNET.address, BRIDGED_NET.address]);
    expect(ls({ class: '02' })).toEqual([NIC.address, VNET.address, BRIDGED_NET.address]);
    expect(ls({ class: '0x010802' })).toEqual([NVME.address]);
    expect(ls({ class: 'nvme' })).toEqual([NVME.address]);
    expect(ls({ class: 'storage' })).toEqual([NVME.address]);
    expect(ls({ class: 'bridge' })).toEqual([HOST_BRIDGE.address, BRIDGE.address]);
    expect(ls({ id: '1234:11e8' })).toEqual([EDU.address, BRIDGED_EDU.address]);
    expect(ls({ id: '1af4:' })).toEqual([VNET.address, NO_GROUP.address, BRIDGED_NET.address]);
    expect(ls({ id: ':10d3' })).toEqual([NIC.address]);
    expect(ls({ id: '8086' })).toEqual([HOST_BRIDGE.address, NIC.address]);
    expect(ls({ driver: 'vfio-pci', class: 'network' })).toEqual([VNET.address]);
    expect(ls({ driver: 'none' })).toEqual([HOST_BRIDGE.address, BRIDGE.address]);
    expect(ls({ class: 'display' })).toEqual([]);
  });
  it('rejects malformed filters with a RangeError saying how to write them', () => {
    expect(() => parsePciIdFilter('intel')).toThrow(/8086:10d3/);
    expect(() => parsePciIdFilter(':')).toThrow(RangeError);
    expect(() => parsePciIdFilter('12345:1')).toThrow(RangeError);
    expect(() => parseClassFilter(' ')).toThrow(/class name/);
    expect(parsePciIdFilter('8086:*')).toEqual({ vendor: 0x8086 });
    expect(() => filterPciDevices([], { id: 'x' })).toThrow(RangeError);
  });
  it('reads driver_override, the group node (or its no-IOMMU name) and viability', () => {
    tree = makeSysfsTree([{ ...NIC, driverOverride: 'vfio-pci' }, { ...EDU, group: 9 }]);
    const opts = { root: tree.root };
    expect(readDriverOverride(NIC.address, opts)).toBe('vfio-pci');
    expect(readDriverOverride(EDU.address, opts)).toBeNull();
    expect(readDriverOverride('0000:00:1f.0', opts)).toBeNull();
    expect(vfioGroupNode(9, opts)).toBeNull();
    tree.addDevNode('noiommu-9');
    expect(vfioGroupNode(9, opts)).toBe('/dev/vfio/noiommu-9');
    expect(groupViability(3, opts)).toMatchObject({ group: 3, viable: false, blockers: [expect.objectContaining({ driver: 'e1000e' })] });
  });
});

describe('bind and unbind', () => {
  function opts(extra: Partial<BindOptions> = {}): BindOptions {
    return { root: tree!.root, write: tree!.kernelWrite, modprobe: () => false, ...extra };
  }
  it('bind: driver_override, unbind from the old driver, drivers_probe; unbind hands it back', () => {
    guestLike();
    const report = bindVfioPci(['00:03.0'], opts());
    expect(report.ok).toBe(true);
    expect(report.results).toEqual([
      expect.objectContaining({ address: NIC.address, before: 'e1000e', after: 'vfio-pci', ok: true, changed: true, message: 'bound to vfio-pci (was e1000e)' }),
    ]);
    expect(tree!.writes).toEqual([
      { path: `sys/bus/pci/devices/${NIC.address}/driver_override`, data: 'vfio-pci' },
      { path: `sys/bus/pci/devices/${NIC.address}/driver/unbind`, data: NIC.address },
      { path: 'sys/bus/pci/drivers_probe', data: NIC.address },
    ]);
    expect(report.groups).toEqual([expect.objectContaining({ group: 3, viable: true })]);
    expect(readFileSync(join(tree!.root, 'run/vfio', `${NIC.address}.driver`), 'utf8')).toBe('e1000e\n');

    tree!.writes.length = 0;
    const back = unbindVfioPci([NIC.address], opts());
    expect(back.ok).toBe(true);
    expect(back.results[0]).toMatchObject({ before: 'vfio-pci', after: 'e1000e', message: 'unbound from vfio-pci; driver now: e1000e' });
    expect(tree!.writes).toEqual([
      { path: `sys/bus/pci/devices/${NIC.address}/driver_override`, data: '\n' },
      { path: 'sys/bus/pci/drivers/vfio-pci/unbind', data: NIC.address },
      { path: 'sys/bus/pci/drivers_probe', data: NIC.address },
    ]);
    expect(readDriverOverride(NIC.address, { root: tree!.root })).toBeNull();
    expect(existsSync(join(tree!.root, 'run/vfio', `${NIC.address}.driver`))).toBe(false);
  });
  it('bind leaves a device already on vfio-pci alone; unbind leaves one on another driver alone', () => {
    guestLike();
    expect(bindVfioPci([EDU.address], opts()).results[0]).toMatchObject({ ok: true, changed: false, message: 'already bound to vfio-pci' });
    expect(unbindVfioPci([NIC.address], opts()).results[0]).toMatchObject({ ok: true, changed: false, message: 'not bound to vfio-pci (driver: e1000e)' });
    expect(tree!.writes).toEqual([]);
  });
  it('unbind binds the remembered driver when the kernel has no default for the device', () => {
    tree = makeSysfsTree([{ ...NIC, driver: 'pci-stub', defaultDriver: null }]);
    tree.addDriver('vfio-pci');
    bindVfioPci([NIC.address], opts());
    expect(tree.driverOf(NIC.address)).toBe('vfio-pci');
    const r = unbindVfioPci([NIC.address], opts()).results[0]!;
    expect(r).toMatchObject({ ok: true, after: 'pci-stub' });
    expect(tree.writes.at(-1)).toEqual({ path: 'sys/bus/pci/drivers/pci-stub/bind', data: NIC.address });
  });
  it('unbind refuses while a process holds the group open, naming it, unless forced', () => {
    guestLike();
    tree!.writeFile('proc/4242/comm', 'mydriver\n');
    tree!.writeFile('proc/4242/fd/0', '');
    symlinkSync('/dev/vfio/2', join(tree!.root, 'proc/4242/fd/7'));
    symlinkSync('/dev/null', join(tree!.root, 'proc/4242/fd/8'));
    tree!.writeFile('proc/self/limits', '');
    expect(vfioGroupUsers(2, { root: tree!.root })).toEqual([{ pid: 4242, node: '/dev/vfio/2', command: 'mydriver' }]);
    expect(vfioGroupUsers(4, { root: tree!.root })).toEqual([]);
    const r = unbindVfioPci([EDU.address], opts()).results[0]!;
    expect(r).toMatchObject({ ok: false, changed: false, after: 'vfio-pci' });
    expect(r.message).toBe('/dev/vfio/2 is open by pid 4242 (mydriver): the kernel would wait for it to let go; stop it first, or use --force');
    expect(tree!.writes).toEqual([]);
    expect(unbindVfioPci([EDU.address], opts({ force: true })).results[0]).toMatchObject({ ok: true, after: null });
  });
  it('unbind of a device with no driver to go back to leaves it driverless', () => {
    tree = makeSysfsTree([{ ...NIC, driver: 'vfio-pci', defaultDriver: null }]);
    expect(unbindVfioPci([NIC.address], opts()).results[0]).toMatchObject({ ok: true, after: null, message: 'unbound from vfio-pci; driver now: none' });
  });
  it('bind names the group members that keep the group from being viable', () => {
    guestLike();
    const report = bindVfioPci([BRIDGED_EDU.address], opts());
    expect(report.results[0]).toMatchObject({ ok: true, changed: false });
    expect(report.ok).toBe(false);
    expect(report.groups[0]).toMatchObject({ group: 5, viable: false });
    expect(report.notes.join('\n')).toMatch(/group 5 is not viable: 0000:01:02\.0 \(virtio-pci\) is bound to another driver/);
    expect(report.notes.join('\n')).toMatch(/vfio bind --group 0000:01:01\.0/);
  });
  it('--group binds every non-bridge member, and unbind --group hands them all back', () => {
    guestLike();
    const report = bindVfioPci([BRIDGED_EDU.address], opts({ group: true }));
    expect(report.ok).toBe(true);
    expect(report.results.map((r) => r.address)).toEqual([BRIDGED_EDU.address, BRIDGED_NET.address]);
    expect(tree!.driverOf(BRIDGE.address)).toBeNull();
    expect(tree!.driverOf(BRIDGED_NET.address)).toBe('vfio-pci');
    expect(report.groups[0]?.viable).toBe(true);
    const back = unbindVfioPci([BRIDGED_NET.address], opts());
    expect(back.results.map((r) => [r.address, r.after])).toEqual([[BRIDGED_NET.address, 'virtio-pci']]);
    expect(tree!.driverOf(BRIDGED_EDU.address)).toBe('vfio-pci');
    bindVfioPci([BRIDGED_EDU.address], opts({ group: true }));
    const all = unbindVfioPci([BRIDGED_EDU.address], opts({ group: true }));
    expect(all.results.map((r) => [r.address, r.after])).toEqual([
      [BRIDGED_EDU.address, null],
      [BRIDGED_NET.address, 'virtio-pci'],
    ]);
  });
  it('loads vfio-pci when its driver is missing, and says so when it cannot', () => {
    tree = makeSysfsTree([NIC]);
    const loaded: string[] = [];
    const report = bindVfioPci([NIC.address], opts({ modprobe: (m) => (loaded.push(m), tree!.addDriver('vfio-pci'), true) }));
    expect(loaded).toEqual(['vfio-pci']);
    expect(report.notes).toContain('loaded vfio-pci (modprobe vfio-pci)');
    expect(report.ok).toBe(true);
    tree.cleanup();
    tree = makeSysfsTree([NIC]);
    const failed = bindVfioPci([NIC.address], opts());
    expect(failed.ok).toBe(false);
    expect(failed.results[0]).toMatchObject({ ok: false, changed: false, after: 'e1000e' });
    expect(failed.notes[0]).toMatch(/did not load it/);
    expect(tree.writes).toEqual([]);
  });
  it('reports a refused write and a device vfio-pci would not take', () => {
    guestLike();
    const refuse = (path: string) => {
      throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES', errno: 13 });
    };
    const r = bindVfioPci([NIC.address], opts({ write: refuse })).results[0]!;
    expect(r).toMatchObject({ ok: false, after: 'e1000e' });
    expect(r.message).toMatch(/set driver_override failed \(EACCES: permission denied/);
  });
  it('when vfio-pci does not take the device, gives it back to its driver instead of leaving it driverless', () => {
    guestLike();
    // The kernel accepts the writes but vfio-pci's probe fails.
    const failProbe = (path: string, data: string) => {
      if (path.endsWith('vfio-pci/bind')) throw Object.assign(new Error('ENODEV: no such device'), { code: 'ENODEV', errno: 19 });
      if (path.endsWith('drivers_probe') && data.trim() === NIC.address && tree!.driverOf(NIC.address) === null) {
        const ov = readDriverOverride(NIC.address, { root: tree!.root });
        if (ov === 'vfio-pci') return;
      }
      tree!.kernelWrite(path, data);
    };
    const r = bindVfioPci([NIC.address], opts({ write: failProbe })).results[0]!;
    expect(r).toMatchObject({ ok: false, changed: true, before: 'e1000e', after: 'e1000e' });
    expect(r.message).toBe('vfio-pci did not take it; given back to e1000e; `dmesg | tail` says why');
    expect(readDriverOverride(NIC.address, { root: tree!.root })).toBeNull();
    expect(existsSync(join(tree!.root, 'run/vfio', `${NIC.address}.driver`))).toBe(false);
  });
  it('refuses a device with no IOMMU group before touching it (unless no-IOMMU mode is on)', () => {
    guestLike();
    tree!.addDriver('virtio-pci');
    const r = bindVfioPci([NO_GROUP.address], opts()).results[0]!;
    expect(r).toMatchObject({ ok: false, changed: false, after: 'virtio-pci', message: expect.stringMatching(/no IOMMU group/) });
    expect(tree!.writes).toEqual([]);
    tree!.addModule('vfio', { enable_unsafe_noiommu_mode: 'Y' });
    expect(bindVfioPci([NO_GROUP.address], opts()).results[0]).toMatchObject({ ok: true, after: 'vfio-pci' });
  });
  it('refuses a NIC whose interface is up, unless forced', () => {
    guestLike();
    tree!.writeFile(`sys/devices/pci0000:00/${NIC.address}/net/eth0/operstate`, 'up\n');
    tree!.writeFile(`sys/devices/pci0000:00/${NIC.address}/net/eth1/operstate`, 'down\n');
    const r = bindVfioPci([NIC.address], opts()).results[0]!;
    expect(r).toMatchObject({ ok: false, changed: false, after: 'e1000e' });
    expect(r.message).toMatch(/network interface eth0 is up; .*ip link set eth0 down first, or use --force/);
    expect(tree!.writes).toEqual([]);
    expect(bindVfioPci([NIC.address], opts({ force: true })).results[0]).toMatchObject({ ok: true, after: 'vfio-pci' });
  });
  it('an unknown address is a VfioError before anything is written', () => {
    guestLike();
    expect(() => bindVfioPci([NIC.address, '0000:00:1f.7'], opts())).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NO_DEVICE' }));
    expect(() => unbindVfioPci(['nonsense'], opts())).toThrow(expect.objectContaining({ code: 'ERR_VFIO_BAD_ADDRESS' }));
    expect(tree!.writes).toEqual([]);
  });
  it('the default modprobe does nothing for a tree that is not /', () => {
    tree = makeSysfsTree([NIC]);
    const report = bindVfioPci([NIC.address], { root: tree.root, write: tree.kernelWrite });
    expect(report.ok).toBe(false);
    expect(report.notes[0]).toMatch(/did not load it/);
  });
});
