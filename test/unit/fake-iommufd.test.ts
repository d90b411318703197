/**
 * The fake kernel's iommufd and VFIO device cdev at the raw Backend level: what
 * the conformance suite cannot check on both kernels (sysfs and /dev layout,
 * pinning and RLIMIT_MEMLOCK, lifetimes, argument errors of the shim's calls).
 */
import { existsSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { FakeIoas } from '../../src/backend/fake/ioas.js';
import type { FdHandle } from '../../src/backend/backend.js';
import { errno } from '../conformance/held.js';
import { Dmaer } from './fixtures/dmaer.js';
import * as io from '../../src/uapi/ioctl.js';
import {
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
  IOMMU_IOAS_UNMAP_ALL_LENGTH,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  iommuDestroy,
  iommuIoasAlloc,
  vfioDeviceAttachIommufdPt,
  vfioDeviceDetachIommufdPt,
} from '../../src/uapi/iommufd.js';
import { encodeHotResetInfoQuery } from '../../src/uapi/vfio-pci.js';

const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
const EDU = '0000:00:02.0';
const EDU2 = '0000:00:03.0';



let k: FakeKernel;
let dmaer: Dmaer;
const cdevOf = (address: string) => join(k.root, 'dev/vfio/devices', readdirSync(join(k.root, 'sys/bus/pci/devices', address, 'vfio-dev'))[0]!);
const iommufd = () => k.open(join(k.root, 'dev/iommu'));
const ioasAlloc = (fd: FdHandle) => {
  const q = iommuIoasAlloc.encode({ size: 12 });
  k.ioctl(fd, IOMMU_IOAS_ALLOC, q);
  return iommuIoasAlloc.decode(q).out_ioas_id;
};
const bind = (dev: FdHandle, fd: FdHandle) => k.bindIommufd(dev, fd);
const attach = (dev: FdHandle, pt: number) => {
  const q = vfioDeviceAttachIommufdPt.encode({ argsz: 12, pt_id: pt });
  k.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, q);
  return vfioDeviceAttachIommufdPt.decode(q).pt_id;
};
/** Sets Bus Master through config space (region 7), as a driver does. */
const busMaster = (model: Dmaer) => (dev: FdHandle) => {
  k.pwrite(dev, new Uint8Array(new Uint16Array([0x6]).buffer), 7 * 2 ** 40 + 4);
  expect(model.bus.busMaster).toBe(true);
};

describe('fake kernel: iommufd layout in sysfs and /dev', () => {
  afterEach(() => k.dispose());

  it('6.1 (the default) has no /dev/iommu and no cdevs, but vfio-dev/vfioN in sysfs as 6.1 does', () => {
    k = new FakeKernel();
    k.addDevice(EDU, new EduModel());
    expect(existsSync(join(k.root, 'dev/iommu'))).toBe(false);
    expect(readdirSync(join(k.root, 'sys/bus/pci/devices', EDU, 'vfio-dev'))).toEqual(['vfio0']);
    expect(existsSync(join(k.root, 'dev/vfio/devices/vfio0'))).toBe(false);
    errno(() => k.open(join(k.root, 'dev/vfio/devices/vfio0')), 'ENOENT');
    errno(() => k.open(join(k.root, 'dev/iommu')), 'ENOENT');
  });

  it('numbers devices in order of binding, reuses the lowest free number, and removes the node on unbind', async () => {
    k = new FakeKernel({ iommufd: true });
    k.addDevice(EDU, new EduModel());
    k.addDevice(EDU2, new EduModel());
    k.addDevice('0000:00:04.0', new EduModel(), { driver: 'e1000e' });
    expect(existsSync(join(k.root, 'dev/iommu'))).toBe(true);
    expect(cdevOf(EDU)).toBe(join(k.root, 'dev/vfio/devices/vfio0'));
    expect(cdevOf(EDU2)).toBe(join(k.root, 'dev/vfio/devices/vfio1'));
    expect(existsSync(join(k.root, 'sys/bus/pci/devices/0000:00:04.0/vfio-dev'))).toBe(false);
    expect(readlinkSync(join(k.root, 'sys/class/vfio-dev/vfio1'))).toContain(`${EDU2}/vfio-dev/vfio1`);
    await k.unbind(EDU);
    expect(existsSync(join(k.root, 'dev/vfio/devices/vfio0'))).toBe(false);
    expect(existsSync(join(k.root, 'sys/class/vfio-dev/vfio0'))).toBe(false);
    k.bindDriver('0000:00:04.0', 'vfio-pci');
    expect(cdevOf('0000:00:04.0')).toBe(join(k.root, 'dev/vfio/devices/vfio0'));
  });

  it('unbinding waits for the cdev user to close, as for a group-path user', async () => {
    k = new FakeKernel({ iommufd: true });
    k.addDevice(EDU, new EduModel());
    const fd = iommufd();
    const dev = k.open(cdevOf(EDU));
    bind(dev, fd);
    let done = false;
    const unbinding = k.unbind(EDU).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    k.close(dev);
    await unbinding;
    expect(existsSync(join(k.root, 'dev/vfio/devices/vfio0'))).toBe(false);
    k.close(fd);
  });
});

describe('fake kernel: iommufd semantics', () => {
  beforeEach(() => {
    k = new FakeKernel({ iommufd: true });
    dmaer = new Dmaer();
    k.addDevice(EDU, new EduModel(), { group: 2 });
    k.addDevice(EDU2, dmaer, { group: 3 });
  });
  afterEach(() => k.dispose());

  it('hands out the lowest free object id, across IOAS, device and hwpt objects', () => {
    const fd = iommufd();
    expect(ioasAlloc(fd)).toBe(1);
    expect(ioasAlloc(fd)).toBe(2);
    k.ioctl(fd, IOMMU_DESTROY, iommuDestroy.encode({ size: 8, id: 1 }));
    const dev = k.open(cdevOf(EDU));
    expect(bind(dev, fd)).toBe(1);
    expect(attach(dev, 2)).toBe(3);
    expect(ioasAlloc(fd)).toBe(4);
    // A device object cannot be destroyed from userspace while VFIO holds it.
    errno(() => k.ioctl(fd, IOMMU_DESTROY, iommuDestroy.encode({ size: 8, id: 1 })), 'EBUSY');
    errno(() => attach(dev, 1), 'EINVAL');
  });

  it('checks ioasMap/ioasUnmap/ioasIovaRanges arguments as the native shim does', () => {
    const fd = iommufd();
    const ioas = ioasAlloc(fd);
    const { buffer } = k.dmaAlloc(8192, 'never');
    expect(() => k.ioasMap(fd, 0, buffer, 0, 4096, 0n, RW)).toThrow(RangeError);
    expect(() => k.ioasMap(fd, 2 ** 32, buffer, 0, 4096, 0n, RW)).toThrow(RangeError);
    expect(() => k.ioasMap(fd, ioas, new ArrayBuffer(8192), 0, 4096, 0n, RW)).toThrow(TypeError);
    expect(() => k.ioasMap(fd, ioas, buffer, 4096, 8192, 0n, RW)).toThrow(RangeError);
    expect(() => k.ioasMap(fd, ioas, buffer, 0, 4096, 0n, 1)).toThrow(RangeError);
    expect(() => k.ioasMap(fd, ioas, buffer, -1, 4096, 0n, RW)).toThrow(RangeError);
    expect(() => k.ioasUnmap(fd, ioas, -1n, 4096n)).toThrow(RangeError);
    expect(() => k.ioasIovaRanges(fd.fd as unknown as FdHandle, ioas)).toThrow(TypeError);
    // A file of another kind is ENOTTY, a closed one EBADF.
    const c = k.open(join(k.root, 'dev/vfio/vfio'));
    errno(() => k.ioasMap(c, ioas, buffer, 0, 4096, 0n, RW), 'ENOTTY');
    errno(() => k.ioasIovaRanges(c, ioas), 'ENOTTY');
    k.close(c);
    errno(() => k.ioasUnmap(c, ioas, 0n, 4096n), 'EBADF');
    // The kernel's own checks past the shim's.
    errno(() => k.ioasMap(fd, ioas, buffer, 0, 4096, 0n, 0), 'EINVAL');
    errno(() => k.ioasMap(fd, ioas, buffer, 0, 4096, (1n << 64n) - 1n, RW), 'EOVERFLOW');
    errno(() => k.ioasMap(fd, ioas, buffer, 0, 8192, (1n << 64n) - 4096n, RW), 'EOVERFLOW');
    errno(() => k.ioasUnmap(fd, ioas, 4096n, (1n << 64n) - 1n), 'EOVERFLOW');
  });

  it('without a domain allows unaligned mappings, which then keep a device out (EADDRINUSE)', () => {
    const fd = iommufd();
    const ioas = ioasAlloc(fd);
    const { buffer } = k.dmaAlloc(8192, 'never');
    k.ioasMap(fd, ioas, buffer, 0, 100, 0x1001n, RW);
    const dev = k.open(cdevOf(EDU));
    bind(dev, fd);
    errno(() => attach(dev, ioas), 'EADDRINUSE');
    expect(k.ioasUnmap(fd, ioas, 0n, IOMMU_IOAS_UNMAP_ALL_LENGTH)).toBe(100n);
    // So does a mapping in the MSI window.
    k.ioasMap(fd, ioas, buffer, 0, 4096, 0xfee00000n, RW);
    errno(() => attach(dev, ioas), 'EADDRINUSE');
    k.ioasUnmap(fd, ioas, 0xfee00000n, 4096n);
    attach(dev, ioas);
  });

  it('ioasUnmap refuses a range that cuts a mapping (ENOENT) before the kernel unmaps anything', () => {
    const fd = iommufd();
    const ioas = ioasAlloc(fd);
    const { buffer } = k.dmaAlloc(3 * 4096, 'never');
    k.ioasMap(fd, ioas, buffer, 0, 4096, 0x10000n, RW);
    k.ioasMap(fd, ioas, buffer, 4096, 8192, 0x11000n, RW);
    // The kernel would unmap 0x10000 and then fail on the straddled 0x11000; nothing goes here.
    errno(() => k.ioasUnmap(fd, ioas, 0x10000n, 0x2000n), 'ENOENT');
    expect(() => k.ioasUnmap(fd, ioas, 0x10000n, 0x2000n)).toThrow(
      'IOMMU_IOAS_UNMAP: the range cuts the mapping at 0x11000 (0x2000 bytes); unmap whole mappings',
    );
    expect(() => k.ioasUnmap(fd, ioas, 0x12000n, 0x1000n)).toThrow('the range cuts the mapping at 0x11000 (0x2000 bytes)');
    // Ranges that cover whole mappings, and the unmap-all form, are the kernel's to answer.
    expect(k.ioasUnmap(fd, ioas, 0xf000n, 0x2000n)).toBe(4096n);
    errno(() => k.ioasUnmap(fd, ioas, 0x10000n, 0x1000n), 'ENOENT');
    expect(k.ioasUnmap(fd, ioas, 0n, IOMMU_IOAS_UNMAP_ALL_LENGTH)).toBe(8192n);
    k.dmaFree(buffer);
  });

  it('the kernel itself unmaps the areas before a straddled one, then fails (iopt_unmap_iova_range)', () => {
    const ioas = new FakeIoas({ pgsizes: 0x1000n, ranges: [], dmaEntryLimit: 65535 }, { limit: Infinity, locked: 0 });
    const { buffer } = k.dmaAlloc(3 * 4096, 'never');
    const mem = { buffer, bytes: new Uint8Array(buffer), maps: 0, hugepages: 0, phys: { base: 0n, pageSize: 4096 }, mlocked: 0, addressesShown: false };
    ioas.map(mem, 0, 4096n, 0x10000n, RW);
    ioas.map(mem, 4096, 8192n, 0x11000n, RW);
    errno(() => ioas.unmap(0x10000n, 0x2000n), 'ENOENT');
    expect(mem.maps).toBe(1);
    expect(ioas.unmap(0n, IOMMU_IOAS_UNMAP_ALL_LENGTH)).toBe(8192n);
  });

  it('pins, and counts against RLIMIT_MEMLOCK, only while a device is attached', () => {
    k.setMemlockLimit(16 * 4096);
    const fd = iommufd();
    const ioas = ioasAlloc(fd);
    const { buffer } = k.dmaAlloc(32 * 4096, 'never');
    // No domain: nothing pinned, the limit does not apply.
    k.ioasMap(fd, ioas, buffer, 0, 32 * 4096, 0x100000n, RW);
    expect(k.lockedBytes).toBe(0);
    const dev = k.open(cdevOf(EDU));
    bind(dev, fd);
    errno(() => attach(dev, ioas), 'ENOMEM');
    expect(k.lockedBytes).toBe(0);
    k.ioasUnmap(fd, ioas, 0n, IOMMU_IOAS_UNMAP_ALL_LENGTH);
    k.ioasMap(fd, ioas, buffer, 0, 8 * 4096, 0x100000n, RW);
    attach(dev, ioas);
    expect(k.lockedBytes).toBe(8 * 4096);
    errno(() => k.ioasMap(fd, ioas, buffer, 8 * 4096, 16 * 4096, 0x200000n, RW), 'ENOMEM');
    k.ioasMap(fd, ioas, buffer, 8 * 4096, 8 * 4096, 0x200000n, RW);
    expect(k.lockedBytes).toBe(16 * 4096);
    // Detach unpins; the mappings stay.
    k.ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, vfioDeviceDetachIommufdPt.encode({ argsz: 8 }));
    expect(k.lockedBytes).toBe(0);
    expect(k.ioasUnmap(fd, ioas, 0n, IOMMU_IOAS_UNMAP_ALL_LENGTH)).toBe(16n * 4096n);
  });

  it('closing the iommufd unmaps every area first, so the memory can be freed while a device still holds the context', () => {
    const fd = iommufd();
    const ioas = ioasAlloc(fd);
    const other = ioasAlloc(fd);
    const { buffer } = k.dmaAlloc(3 * 4096, 'never');
    const dev = k.open(cdevOf(EDU2));
    bind(dev, fd);
    attach(dev, ioas);
    k.ioasMap(fd, ioas, buffer, 0, 4096, 0x100000n, RW);
    k.ioasMap(fd, ioas, buffer, 4096, 4096, 0x200000n, RW);
    k.ioasMap(fd, other, buffer, 8192, 4096, 0x100000n, RW);
    busMaster(dmaer)(dev);
    expect(dmaer.bus.dmaWrite(0x100000, new Uint8Array([1, 2, 3]))).toBe(true);
    errno(() => k.dmaFree(buffer), 'EBUSY');
    k.close(fd);
    expect(k.lockedBytes).toBe(0);
    k.dmaFree(buffer);
    // The context lives on while the device holds it: still attached, with nothing mapped.
    expect(dmaer.bus.dmaWrite(0x100000, new Uint8Array([1]))).toBe(false);
    expect(k.faults.at(-1)).toMatchObject({ iova: 0x100000, reason: 'not mapped' });
    k.close(dev);
  });

  it('device DMA goes through the attached IOAS only; elsewhere it is a recorded fault', () => {
    const fd = iommufd();
    const ioas = ioasAlloc(fd);
    const other = ioasAlloc(fd);
    const { buffer } = k.dmaAlloc(4096, 'never');
    k.ioasMap(fd, ioas, buffer, 0, 4096, 0x100000n, IOMMU_IOAS_MAP_READABLE);
    const dev = k.open(cdevOf(EDU2));
    bind(dev, fd);
    busMaster(dmaer)(dev);
    // Bound but not attached: the device is blocked.
    expect(dmaer.bus.dmaRead(0x100000, 4)).toBeNull();
    expect(k.faults.at(-1)).toMatchObject({ device: EDU2, iova: 0x100000, reason: 'no IOMMU domain' });
    attach(dev, ioas);
    new Uint8Array(buffer).set([9, 8, 7, 6]);
    expect(dmaer.bus.dmaRead(0x100000, 4)).toEqual(new Uint8Array([9, 8, 7, 6]));
    expect(dmaer.bus.dmaWrite(0x100000, new Uint8Array([1]))).toBe(false);
    expect(k.faults.at(-1)).toMatchObject({ iova: 0x100000, write: true, reason: 'mapped read-only' });
    // Re-attaching to another IOAS replaces the domain.
    attach(dev, other);
    expect(dmaer.bus.dmaRead(0x100000, 4)).toBeNull();
    expect(k.faults.at(-1)).toMatchObject({ iova: 0x100000, reason: 'not mapped' });
    k.close(dev);
    k.close(fd);
    k.dmaFree(buffer);
  });

  it('two devices of one iommufd share the IOAS hwpt; hot reset info stays ENODEV (not modelled)', () => {
    const fd = iommufd();
    const ioas = ioasAlloc(fd);
    const a = k.open(cdevOf(EDU));
    const b = k.open(cdevOf(EDU2));
    bind(a, fd);
    bind(b, fd);
    expect(attach(a, ioas)).toBe(attach(b, ioas));
    errno(() => k.ioctl(a, io.VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, encodeHotResetInfoQuery()), 'ENODEV');
    errno(() => k.mmap(k.open(cdevOf(EDU)), 0, 4096, 3), 'EINVAL');
  });
});
