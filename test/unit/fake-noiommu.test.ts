/**
 * The fake kernel in no-IOMMU mode (vfio.enable_unsafe_noiommu_mode=1, no IOMMU
 * hardware) at the raw Backend level, and dmaPhysical's "physical" memory.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import type { FdHandle } from '../../src/backend/backend.js';
import { errno } from '../conformance/held.js';
import { Dmaer } from './fixtures/dmaer.js';
import * as io from '../../src/uapi/ioctl.js';
import { encodeIommuInfoQuery } from '../../src/uapi/vfio-iommu.js';
import { iommuUnits, noIommuModeOn, vfioGroupNode } from '../../src/host/groups.js';

const EDU = '0000:00:02.0';



let k: FakeKernel;
afterEach(() => k.dispose());

const groupNode = (g = 0) => join(k.root, `dev/vfio/noiommu-${g}`);
/** Container + noiommu group 0 + the no-IOMMU driver + the device: [container, group, device]. */
function openNoiommu(): [FdHandle, FdHandle, FdHandle] {
  const c = k.open(join(k.root, 'dev/vfio/vfio'));
  const g = k.open(groupNode());
  k.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c);
  k.ioctl(c, io.VFIO_SET_IOMMU, io.VFIO_NOIOMMU_IOMMU);
  return [c, g, k.groupDeviceFd(g, EDU)];
}

describe('fake kernel: no-IOMMU mode', () => {
  it('lays out sysfs and /dev as the kernel does, and discovery agrees', () => {
    k = new FakeKernel({ noIommu: true, iommufd: true });
    k.addDevice(EDU, new EduModel(), { group: 0 });
    const opts = { root: k.root };
    expect(iommuUnits(opts)).toEqual([]);
    expect(noIommuModeOn(opts)).toBe(true);
    expect(readFileSync(join(k.root, 'sys/kernel/iommu_groups/0/name'), 'utf8')).toBe('vfio-noiommu\n');
    expect(vfioGroupNode(0, opts)).toBe('/dev/vfio/noiommu-0');
    expect(existsSync(join(k.root, 'dev/vfio/0'))).toBe(false);
    // The vfio device exists in sysfs, but the kernel makes no cdev for a no-IOMMU device.
    expect(readdirSync(join(k.root, 'sys/bus/pci/devices', EDU, 'vfio-dev'))).toEqual(['vfio0']);
    expect(existsSync(join(k.root, 'dev/vfio/devices/vfio0'))).toBe(false);
    errno(() => k.open(join(k.root, 'dev/vfio/devices/vfio0')), 'ENOENT');
    errno(() => k.open(join(k.root, 'dev/vfio/0')), 'ENOENT');
  });

  it('the IOMMU mode (the default) has a unit, numeric group nodes and no module parameter', () => {
    k = new FakeKernel();
    k.addDevice(EDU, new EduModel(), { group: 0 });
    expect(iommuUnits({ root: k.root })).toEqual(['dmar0']);
    expect(noIommuModeOn({ root: k.root })).toBe(false);
    expect(vfioGroupNode(0, { root: k.root })).toBe('/dev/vfio/0');
    errno(() => k.open(groupNode()), 'ENOENT');
    const c = k.open(join(k.root, 'dev/vfio/vfio'));
    expect(k.ioctl(c, io.VFIO_CHECK_EXTENSION, io.VFIO_NOIOMMU_IOMMU)).toBe(0);
  });

  it('opening a no-IOMMU group needs CAP_SYS_RAWIO (vfio_group_fops_open)', () => {
    k = new FakeKernel({ noIommu: true, capSysRawio: false });
    k.addDevice(EDU, new EduModel(), { group: 0 });
    errno(() => k.open(groupNode()), 'EPERM');
    k.setCapability('CAP_SYS_RAWIO', true);
    const c = k.open(join(k.root, 'dev/vfio/vfio'));
    const g = k.open(groupNode());
    // Dropped after the open: joining a container checks again (vfio_container_attach_group).
    k.setCapability('CAP_SYS_RAWIO', false);
    errno(() => k.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c), 'EPERM');
    k.setCapability('CAP_SYS_RAWIO', true);
    k.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c);
    k.setCapability('CAP_SYS_RAWIO', false);
    errno(() => k.ioctl(c, io.VFIO_SET_IOMMU, io.VFIO_NOIOMMU_IOMMU), 'EPERM');
  });

  it('a no-IOMMU container offers only the no-IOMMU driver once such a group joined (vfio_iommu_driver_allowed)', () => {
    k = new FakeKernel({ noIommu: true });
    k.addDevice(EDU, new EduModel(), { group: 0 });
    const c = k.open(join(k.root, 'dev/vfio/vfio'));
    expect(k.ioctl(c, io.VFIO_CHECK_EXTENSION, io.VFIO_NOIOMMU_IOMMU)).toBe(1);
    expect(k.ioctl(c, io.VFIO_CHECK_EXTENSION, io.VFIO_TYPE1v2_IOMMU)).toBe(1);
    const g = k.open(groupNode());
    k.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c);
    expect(k.ioctl(c, io.VFIO_CHECK_EXTENSION, io.VFIO_NOIOMMU_IOMMU)).toBe(1);
    expect(k.ioctl(c, io.VFIO_CHECK_EXTENSION, io.VFIO_TYPE1v2_IOMMU)).toBe(0);
    expect(k.ioctl(c, io.VFIO_CHECK_EXTENSION, io.VFIO_UNMAP_ALL)).toBe(0);
    // No device before a driver is set.
    errno(() => k.groupDeviceFd(g, EDU), 'EINVAL');
    errno(() => k.ioctl(c, io.VFIO_SET_IOMMU, io.VFIO_TYPE1v2_IOMMU), 'ENODEV');
    k.ioctl(c, io.VFIO_SET_IOMMU, io.VFIO_NOIOMMU_IOMMU);
    errno(() => k.ioctl(c, io.VFIO_SET_IOMMU, io.VFIO_NOIOMMU_IOMMU), 'EINVAL');
    expect(k.ioctl(c, io.VFIO_CHECK_EXTENSION, io.VFIO_NOIOMMU_IOMMU)).toBe(1);
    expect(k.ioctl(c, io.VFIO_CHECK_EXTENSION, io.VFIO_TYPE1_IOMMU)).toBe(0);
    expect(k.groupDeviceFd(g, EDU).kind).toBe('device');
  });

  it('the no-IOMMU driver answers nothing but CHECK_EXTENSION: no info, no DMA mapping (vfio_noiommu_ioctl)', () => {
    k = new FakeKernel({ noIommu: true });
    k.addDevice(EDU, new EduModel(), { group: 0 });
    const [c] = openNoiommu();
    errno(() => k.ioctl(c, io.VFIO_IOMMU_GET_INFO, encodeIommuInfoQuery()), 'ENOTTY');
    const { buffer } = k.dmaAlloc(4096, 'never');
    errno(() => k.dmaMap(c, buffer, 0, 4096, 0x100000n, 3), 'ENOTTY');
    errno(() => k.dmaUnmap(c, 0x100000n, 4096n, 0), 'ENOTTY');
    k.dmaFree(buffer);
  });

  it('the last group to leave takes the no-IOMMU driver with it', () => {
    k = new FakeKernel({ noIommu: true });
    k.addDevice(EDU, new EduModel(), { group: 0 });
    const [c, g, dev] = openNoiommu();
    k.close(dev);
    k.ioctl(g, io.VFIO_GROUP_UNSET_CONTAINER);
    errno(() => k.ioctl(c, io.VFIO_IOMMU_GET_INFO, encodeIommuInfoQuery()), 'EINVAL');
    k.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c);
    k.ioctl(c, io.VFIO_SET_IOMMU, io.VFIO_NOIOMMU_IOMMU);
  });

  it('no-IOMMU groups share a container', () => {
    k = new FakeKernel({ noIommu: true });
    k.addDevice(EDU, new EduModel(), { group: 0 });
    k.addDevice('0000:00:03.0', new EduModel(), { group: 1 });
    const c = k.open(join(k.root, 'dev/vfio/vfio'));
    k.ioctl(k.open(groupNode(0)), io.VFIO_GROUP_SET_CONTAINER, c);
    k.ioctl(k.open(groupNode(1)), io.VFIO_GROUP_SET_CONTAINER, c);
    k.ioctl(c, io.VFIO_SET_IOMMU, io.VFIO_NOIOMMU_IOMMU);
  });
});

describe('fake kernel: physical addresses (dmaPhysical)', () => {
  it('refuses what is not DMA memory, and hides frames without CAP_SYS_ADMIN', () => {
    k = new FakeKernel({ capSysAdmin: false });
    expect(() => k.dmaPhysical(new ArrayBuffer(4096))).toThrow(TypeError);
    expect(() => k.dmaPhysical({} as ArrayBuffer)).toThrow(TypeError);
    const { buffer } = k.dmaAlloc(8192, 'never');
    errno(() => k.dmaPhysical(buffer), 'EPERM');
    k.setCapability('CAP_SYS_ADMIN', true);
    expect(k.dmaPhysical(buffer)).toHaveLength(2);
    k.dmaFree(buffer);
    expect(() => k.dmaPhysical(buffer)).toThrow(TypeError);
  });

  it('4 KiB pages are never adjacent; a 2 MiB hugepage is contiguous', () => {
    k = new FakeKernel({ hugepages: 2 });
    const small = k.dmaAlloc(4 * 4096, 'never');
    const pa = k.dmaPhysical(small.buffer);
    expect(pa).toHaveLength(4);
    for (let i = 1; i < pa.length; i++) expect(pa[i]! - pa[i - 1]!).not.toBe(4096n);
    expect(pa.every((a) => a % 4096n === 0n)).toBe(true);
    const huge = k.dmaAlloc(2 ** 22, 'require');
    expect(huge.pageSize).toBe(2 ** 21);
    const ph = k.dmaPhysical(huge.buffer);
    expect(ph).toHaveLength(1024);
    expect(ph[0]! % BigInt(2 ** 21)).toBe(0n);
    for (let i = 1; i < 512; i++) expect(ph[i]! - ph[i - 1]!).toBe(4096n);
    // Two hugepages of one buffer are contiguous inside, not with each other.
    expect(ph[512]! - ph[511]!).not.toBe(4096n);
  });

  it('mlock counts against RLIMIT_MEMLOCK once per buffer and is released with it', () => {
    k = new FakeKernel({ memlockLimit: 3 * 4096 });
    const a = k.dmaAlloc(2 * 4096, 'never');
    const b = k.dmaAlloc(2 * 4096, 'never');
    k.dmaPhysical(a.buffer);
    k.dmaPhysical(a.buffer);
    expect(k.lockedBytes).toBe(2 * 4096);
    errno(() => k.dmaPhysical(b.buffer), 'ENOMEM');
    k.dmaFree(a.buffer);
    expect(k.lockedBytes).toBe(0);
    k.dmaPhysical(b.buffer);
    k.setMemlockLimit(0);
    const c = k.dmaAlloc(4096, 'never');
    errno(() => k.dmaPhysical(c.buffer), 'EPERM');
  });

  it('devices DMA to physical addresses in no-IOMMU mode; an address that is no buffer is a recorded fault', () => {
    k = new FakeKernel({ noIommu: true });
    const model = new Dmaer();
    k.addDevice(EDU, model, { group: 0 });
    const [, , dev] = openNoiommu();
    k.pwrite(dev, new Uint8Array(new Uint16Array([0x6]).buffer), 7 * 2 ** 40 + 4);
    const { buffer } = k.dmaAlloc(2 * 4096, 'never');
    const pa = k.dmaPhysical(buffer);
    const bytes = new Uint8Array(buffer);
    expect(model.bus.dmaWrite(Number(pa[1]!) + 8, new Uint8Array([1, 2, 3]))).toBe(true);
    expect(bytes.subarray(4096 + 8, 4096 + 11)).toEqual(new Uint8Array([1, 2, 3]));
    bytes[0] = 0xaa;
    expect(model.bus.dmaRead(Number(pa[0]!), 1)).toEqual(new Uint8Array([0xaa]));
    // Past the end of page 0 is not page 1: the frames are not adjacent.
    expect(model.bus.dmaRead(Number(pa[0]!) + 4094, 4)).toBeNull();
    expect(k.faults.at(-1)).toMatchObject({ device: EDU, iova: Number(pa[0]!) + 4094, reason: 'no memory at this physical address' });
    // Freed while the device is open: parked, so the device's DMA still lands in it.
    k.dmaFree(buffer);
    expect(model.bus.dmaWrite(Number(pa[1]!), new Uint8Array([1]))).toBe(true);
    // Once no no-IOMMU device is open, freed memory is gone from the device's view too.
    k.close(dev);
    expect(model.bus.dmaWrite(Number(pa[1]!), new Uint8Array([1]))).toBe(false);
  });

  it('memory whose addresses were handed out is parked when freed while a no-IOMMU device is open, until the last one closes', () => {
    k = new FakeKernel({ noIommu: true });
    const model = new Dmaer();
    k.addDevice(EDU, model, { group: 0 });
    const [, g, dev] = openNoiommu();
    const dev2 = k.groupDeviceFd(g, EDU);
    k.pwrite(dev, new Uint8Array(new Uint16Array([0x6]).buffer), 7 * 2 ** 40 + 4);
    const a = k.dmaAlloc(2 * 4096, 'never');
    const pa = k.dmaPhysical(a.buffer);
    // Never handed out: nothing to park, released at once.
    const unseen = k.dmaAlloc(4096, 'never');
    k.dmaFree(unseen.buffer);
    k.dmaFree(a.buffer);
    expect(a.buffer.byteLength).toBe(0); // the caller's buffer is detached as ever
    expect(k.lockedBytes).toBe(2 * 4096);
    // A new allocation does not get the parked addresses; the device's DMA lands in the parked memory.
    const b = k.dmaAlloc(2 * 4096, 'never');
    const pb = k.dmaPhysical(b.buffer);
    expect([...pb].filter((x) => pa.includes(x))).toEqual([]);
    expect(model.bus.dmaWrite(Number(pa[0]!), new Uint8Array([7]))).toBe(true);
    expect(model.bus.dmaRead(Number(pa[0]!), 1)).toEqual(new Uint8Array([7]));
    expect(new Uint8Array(b.buffer).every((x) => x === 0)).toBe(true);
    expect(k.lockedBytes).toBe(4 * 4096);
    k.close(dev);
    expect(k.lockedBytes).toBe(4 * 4096); // another no-IOMMU device file is still open
    k.close(dev2);
    expect(k.lockedBytes).toBe(2 * 4096);
    expect(model.bus.dmaRead(Number(pa[0]!), 1)).toBeNull();
    expect(k.faults.at(-1)).toMatchObject({ reason: 'no memory at this physical address' });
    // Released: no device is open, so a free now releases at once, and the addresses come round again.
    k.dmaFree(b.buffer);
    expect(k.lockedBytes).toBe(0);
    const c = k.dmaAlloc(2 * 4096, 'never');
    expect(k.dmaPhysical(c.buffer)[0]).toBe(pa[0]);
  });

  it('edu copies through physical memory end to end', async () => {
    k = new FakeKernel({ noIommu: true });
    k.addDevice(EDU, new EduModel({ dmaBits: 64, dmaDelayMs: 0 }), { group: 0 });
    const [, , dev] = openNoiommu();
    k.pwrite(dev, new Uint8Array(new Uint16Array([0x6]).buffer), 7 * 2 ** 40 + 4);
    const { buffer } = k.dmaAlloc(4096, 'never');
    const pa = Number(k.dmaPhysical(buffer)[0]!);
    const bytes = new Uint8Array(buffer);
    bytes.set([5, 6, 7, 8]);
    // edu takes the low halves of its 64-bit registers from 4-byte writes; the addresses fit.
    expect(pa).toBeLessThan(2 ** 32);
    const w64 = (at: number, v: number) => k.pwrite(dev, new Uint8Array(new Uint32Array([v]).buffer), at);
    const run = async (src: number, dst: number, toRam: boolean) => {
      w64(0x80, src);
      w64(0x88, dst);
      w64(0x90, 4);
      w64(0x98, 1 | (toRam ? 2 : 0));
      const u = new Uint32Array(1);
      for (let i = 0; i < 500; i++) {
        k.pread(dev, new Uint8Array(u.buffer), 0x98);
        if ((u[0]! & 1) === 0) return;
        await new Promise((r) => setTimeout(r, 2));
      }
      throw new Error('edu DMA did not complete');
    };
    await run(pa, 0x40000, false);
    await run(0x40000, pa + 16, true);
    expect(bytes.subarray(16, 20)).toEqual(new Uint8Array([5, 6, 7, 8]));
  });
});
