/**
 * iommufd (/dev/iommu) and the VFIO device cdev at the Backend level, with the
 * errnos Linux 6.12 gives. Registered only for targets that have both
 * (`iommufdPath` and `cdevPath`); the kernel functions each case rests on are
 * named beside it. Where the kernels disagree, the real one is right.
 */
import { afterEach, describe, expect, it } from 'vitest';
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
import { encodeDeviceInfoQuery } from '../../src/uapi/vfio-device.js';
import { decodeRegionInfo, encodeRegionInfoQuery } from '../../src/uapi/vfio-region.js';
import { VFIO_PCI_CONFIG_REGION_INDEX } from '../../src/uapi/vfio-pci.js';
import type { FdHandle } from '../../src/index.js';
import type { Target } from './target.js';
import { Held, errno } from './held.js';

const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
const U64_MAX = (1n << 64n) - 1n;
const MSI = 0xfee00000n;

export function iommufdConformance(t: Target): void {
  describe('iommufd and the device cdev', () => iommufdTests(t));
}

function iommufdTests(t: Target): void {
  const b = t.backend;
  const held = new Held(b);
  afterEach(() => held.releaseAll());
  if (!t.iommufdPath || !t.cdevPath) throw new Error(`target ${t.name} has no iommufd`);
  const iommufdPath = t.iommufdPath;
  const cdevPath = t.cdevPath;

  const iommufd = () => held.fd(b.open(iommufdPath));
  const cdev = (address = t.eduAddress) => held.fd(b.open(cdevPath(address)));
  const ioasAlloc = (fd: FdHandle): number => {
    const q = iommuIoasAlloc.encode({ size: iommuIoasAlloc.size });
    b.ioctl(fd, IOMMU_IOAS_ALLOC, q);
    return iommuIoasAlloc.decode(q).out_ioas_id;
  };
  const destroy = (fd: FdHandle, id: number) => b.ioctl(fd, IOMMU_DESTROY, iommuDestroy.encode({ size: iommuDestroy.size, id }));
  const bind = (dev: FdHandle, fd: FdHandle, token?: Uint8Array): number => b.bindIommufd(dev, fd, token);
  const attach = (dev: FdHandle, ptId: number, argsz = vfioDeviceAttachIommufdPt.size): number => {
    const q = vfioDeviceAttachIommufdPt.encode({ argsz, pt_id: ptId });
    b.ioctl(dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, q);
    return vfioDeviceAttachIommufdPt.decode(q).pt_id;
  };
  const detach = (dev: FdHandle, argsz = vfioDeviceDetachIommufdPt.size) =>
    b.ioctl(dev, VFIO_DEVICE_DETACH_IOMMUFD_PT, vfioDeviceDetachIommufdPt.encode({ argsz }));
  const deviceInfo = (dev: FdHandle) => b.ioctl(dev, io.VFIO_DEVICE_GET_INFO, encodeDeviceInfoQuery());
  /** A bound, attached edu: [iommufd, ioas, device, hwpt]. */
  const ready = (): [FdHandle, number, FdHandle, number] => {
    const fd = iommufd();
    const ioas = ioasAlloc(fd);
    const dev = cdev();
    bind(dev, fd);
    return [fd, ioas, dev, attach(dev, ioas)];
  };

  describe('iommufd objects', () => {
    it('IOAS ids start at 1; DESTROY frees them and refuses what does not exist (iommufd_object_remove)', () => {
      const fd = iommufd();
      const a = ioasAlloc(fd);
      const c = ioasAlloc(fd);
      expect(a).toBeGreaterThanOrEqual(1);
      expect(c).not.toBe(a);
      destroy(fd, a);
      errno(() => destroy(fd, a), 'ENOENT');
      errno(() => destroy(fd, 0x7fff0000), 'ENOENT');
      destroy(fd, c);
    });

    it('a size below the struct is EINVAL, non-zero bytes past it E2BIG (iommufd_fops_ioctl, copy_struct_from_user)', () => {
      const fd = iommufd();
      const short = iommuIoasAlloc.encode({ size: 8 }, { bytes: new Uint8Array(16) });
      errno(() => b.ioctl(fd, IOMMU_IOAS_ALLOC, short), 'EINVAL');
      const tail = iommuIoasAlloc.encode({ size: 16 }, { bytes: new Uint8Array(16) });
      tail[13] = 1;
      errno(() => b.ioctl(fd, IOMMU_IOAS_ALLOC, tail), 'E2BIG');
      // A longer struct with a zero tail is what newer userspace sends to an older kernel: accepted.
      tail[13] = 0;
      b.ioctl(fd, IOMMU_IOAS_ALLOC, tail);
      expect(iommuIoasAlloc.decode(tail).out_ioas_id).toBeGreaterThanOrEqual(1);
      const d = iommuDestroy.encode({ size: 4, id: 1 });
      errno(() => b.ioctl(fd, IOMMU_DESTROY, d), 'EINVAL');
    });

    it('a fresh IOAS allows every IOVA with alignment 1; an unknown one is ENOENT (iommufd_ioas_iova_ranges)', () => {
      const fd = iommufd();
      const ioas = ioasAlloc(fd);
      expect(b.ioasIovaRanges(fd, ioas)).toEqual({ ranges: [{ start: 0n, last: U64_MAX }], alignment: 1n });
      errno(() => b.ioasIovaRanges(fd, ioas + 100), 'ENOENT');
    });
  });

  describe('IOAS mappings without a device', () => {
    it('maps, refuses overlaps and empty lengths, and unmaps whole mappings only (iopt_check_iova, iopt_unmap_iova_range)', () => {
      const fd = iommufd();
      const ioas = ioasAlloc(fd);
      const mem = held.mem(64 * 1024);
      b.ioasMap(fd, ioas, mem, 0, 32 * 1024, 0x100000n, RW);
      b.ioasMap(fd, ioas, mem, 32 * 1024, 32 * 1024, 0x200000n, IOMMU_IOAS_MAP_READABLE);
      errno(() => b.ioasMap(fd, ioas, mem, 0, 8192, 0x104000n, RW), 'EEXIST');
      errno(() => b.ioasMap(fd, ioas, mem, 0, 0, 0x300000n, RW), 'EINVAL');
      errno(() => b.ioasMap(fd, ioas + 100, mem, 0, 4096, 0x300000n, RW), 'ENOENT');
      // Half of a mapping, or where nothing is mapped: ENOENT.
      errno(() => b.ioasUnmap(fd, ioas, 0x100000n, 16n * 1024n), 'ENOENT');
      errno(() => b.ioasUnmap(fd, ioas, 0x400000n, 4096n), 'ENOENT');
      errno(() => b.ioasUnmap(fd, ioas, 0x100000n, 0n), 'EINVAL');
      // A range may hold more than the mapping it covers.
      expect(b.ioasUnmap(fd, ioas, 0xff000n, 0x41000n)).toBe(32n * 1024n);
      expect(b.ioasUnmap(fd, ioas, 0n, IOMMU_IOAS_UNMAP_ALL_LENGTH)).toBe(32n * 1024n);
      // Unmapping everything of an empty IOAS is no error (iopt_unmap_all).
      expect(b.ioasUnmap(fd, ioas, 0n, IOMMU_IOAS_UNMAP_ALL_LENGTH)).toBe(0n);
    });

    it('mapped memory cannot be freed until it is unmapped', () => {
      const fd = iommufd();
      const ioas = ioasAlloc(fd);
      const { buffer } = b.dmaAlloc(8192, 'never');
      b.ioasMap(fd, ioas, buffer, 0, 8192, 0x100000n, RW);
      errno(() => b.dmaFree(buffer), 'EBUSY');
      expect(b.ioasUnmap(fd, ioas, 0x100000n, 8192n)).toBe(8192n);
      b.dmaFree(buffer);
    });

    it('refuses an unmap that would cut a mapping before the kernel unmaps the areas in front of it', () => {
      // The kernel's iopt_unmap_iova_range unmaps areas in IOVA order and fails at the first one
      // that crosses the range's end, leaving the earlier ones unmapped behind an error.
      const fd = iommufd();
      const ioas = ioasAlloc(fd);
      const mem = held.mem(16 * 1024);
      b.ioasMap(fd, ioas, mem, 0, 8192, 0x100000n, RW);
      b.ioasMap(fd, ioas, mem, 8192, 8192, 0x102000n, RW);
      expect(() => b.ioasUnmap(fd, ioas, 0x100000n, 12n * 1024n)).toThrow(
        'IOMMU_IOAS_UNMAP: the range cuts the mapping at 0x102000 (0x2000 bytes); unmap whole mappings',
      );
      errno(() => b.ioasUnmap(fd, ioas, 0x100000n, 12n * 1024n), 'ENOENT');
      // Both areas are still there.
      errno(() => b.ioasMap(fd, ioas, mem, 0, 4096, 0x100000n, RW), 'EEXIST');
      expect(b.ioasUnmap(fd, ioas, 0x100000n, 8192n)).toBe(8192n);
      expect(b.ioasUnmap(fd, ioas, 0x102000n, 8192n)).toBe(8192n);
    });

    it('forgets the mappings of an unmapped range with a hole, so the memory can be freed', () => {
      const fd = iommufd();
      const ioas = ioasAlloc(fd);
      const a = b.dmaAlloc(4096, 'never');
      const z = b.dmaAlloc(4096, 'never');
      b.ioasMap(fd, ioas, a.buffer, 0, 4096, 0x100000n, RW);
      b.ioasMap(fd, ioas, z.buffer, 0, 4096, 0x300000n, RW);
      expect(b.ioasUnmap(fd, ioas, 0x100000n, 0x300000n)).toBe(8192n);
      b.dmaFree(a.buffer);
      b.dmaFree(z.buffer);
    });

    it('destroying an IOAS forgets its mappings: the memory can be freed', () => {
      const fd = iommufd();
      const ioas = ioasAlloc(fd);
      const { buffer } = b.dmaAlloc(4096, 'never');
      b.ioasMap(fd, ioas, buffer, 0, 4096, 0x100000n, RW);
      errno(() => b.dmaFree(buffer), 'EBUSY');
      destroy(fd, ioas);
      b.dmaFree(buffer);
    });

    it('closing the iommufd unmaps what was mapped through it even while a device keeps the context', () => {
      const [fd, ioas] = ready();
      const { buffer } = b.dmaAlloc(8192, 'never');
      b.ioasMap(fd, ioas, buffer, 0, 8192, 0x100000n, RW);
      errno(() => b.dmaFree(buffer), 'EBUSY');
      held.close(fd);
      b.dmaFree(buffer);
    });

    it('an IOAS with mappings but no device can be destroyed', () => {
      const fd = iommufd();
      const ioas = ioasAlloc(fd);
      const mem = held.mem(4096);
      b.ioasMap(fd, ioas, mem, 0, 4096, 0x100000n, RW);
      destroy(fd, ioas);
      errno(() => b.ioasUnmap(fd, ioas, 0n, IOMMU_IOAS_UNMAP_ALL_LENGTH), 'ENOENT');
    });
  });

  describe('the device cdev', () => {
    it('is of no use until bound: every request but BIND, and read, is EINVAL (vfio_device_fops_unl_ioctl)', () => {
      const dev = cdev();
      errno(() => deviceInfo(dev), 'EINVAL');
      errno(() => attach(dev, 1), 'EINVAL');
      errno(() => b.pread(dev, new Uint8Array(4), 0), 'EINVAL');
    });

    it('BIND checks the iommufd it is given, and binds a device once (vfio_df_ioctl_bind_iommufd, iommufd_ctx_from_fd)', () => {
      const dev = cdev();
      const fd = iommufd();
      const closed = iommufd();
      held.close(closed);
      errno(() => bind(dev, closed), 'EBADF');
      const efd = held.fd(b.eventfd());
      errno(() => bind(dev, efd), 'EBADFD');
      const ioas = ioasAlloc(fd);
      const devid = bind(dev, fd);
      expect(devid).toBeGreaterThanOrEqual(1);
      expect(devid).not.toBe(ioas);
      expect(deviceInfo(dev)).toBe(0);
      errno(() => bind(dev, fd), 'EINVAL');
    });

    it('a VF token for a device that is neither PF nor VF is EINVAL, and leaves the cdev unbound', () => {
      // Before 6.17 for the flag (no VFIO_DEVICE_BIND_FLAG_TOKEN), from 6.19 for the token
      // (vfio_pci_core_match_token_uuid: not a PF or VF); 6.17 and 6.18 would say E2BIG.
      const dev = cdev();
      const fd = iommufd();
      errno(() => bind(dev, fd, new Uint8Array(16).fill(0x5a)), 'EINVAL');
      expect(bind(dev, fd)).toBeGreaterThanOrEqual(1);
    });

    it('a device is bound through one cdev file at a time (vfio_df_open)', () => {
      const fd = iommufd();
      bind(cdev(), fd);
      const second = cdev();
      errno(() => bind(second, fd), 'EINVAL');
    });

    it('a bound device keeps its group node shut, and the open group node refuses a bind (vfio_group_fops_open, vfio_device_block_group)', () => {
      const fd = iommufd();
      const dev = cdev();
      bind(dev, fd);
      errno(() => b.open(t.groupPath(t.eduGroup)), 'EBUSY');
      held.close(dev);
      const g = held.fd(b.open(t.groupPath(t.eduGroup)));
      errno(() => bind(cdev(), fd), 'EBUSY');
      held.close(g);
      bind(cdev(), fd);
    });

    it('a group shared with a kernel driver cannot be claimed (iommu_device_claim_dma_owner)', () => {
      errno(() => bind(cdev(t.bridgedEduAddress), iommufd()), 'EPERM');
    });

    it('a device fd from a group does not bind, and vfio-pci knows no ATTACH', () => {
      const c = held.fd(b.open(t.containerPath));
      const g = held.fd(b.open(t.groupPath(t.eduGroup)));
      b.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c);
      b.ioctl(c, io.VFIO_SET_IOMMU, io.VFIO_TYPE1v2_IOMMU);
      const dev = held.fd(b.groupDeviceFd(g, t.eduAddress));
      errno(() => bind(dev, iommufd()), 'EINVAL');
      errno(() => attach(dev, 1), 'ENOTTY');
    });
  });

  describe('attaching to an IOAS', () => {
    it('checks argsz and the id, and answers with an automatic hwpt (vfio_df_ioctl_attach_pt, iommufd_device_change_pt)', () => {
      const fd = iommufd();
      const ioas = ioasAlloc(fd);
      const dev = cdev();
      const devid = bind(dev, fd);
      errno(() => attach(dev, ioas, 8), 'EINVAL');
      errno(() => attach(dev, 0x7fff0000), 'ENOENT');
      errno(() => detach(dev, 4), 'EINVAL');
      const hwpt = attach(dev, ioas);
      expect([ioas, devid]).not.toContain(hwpt);
      // The same IOAS again keeps the same hwpt.
      expect(attach(dev, ioas)).toBe(hwpt);
    });

    it('the IOMMU brings its page size and reserved regions, and takes them away on detach (iopt_table_add_domain)', () => {
      const [fd, ioas, dev] = ready();
      const { ranges, alignment } = b.ioasIovaRanges(fd, ioas);
      expect(alignment).toBe(4096n);
      expect(ranges[0]!.start).toBe(0n);
      expect(ranges.some((r) => r.start <= MSI && MSI <= r.last), 'the MSI window is reserved').toBe(false);
      const mem = held.mem(8192);
      errno(() => b.ioasMap(fd, ioas, mem, 0, 4096, MSI, RW), 'EINVAL');
      errno(() => b.ioasMap(fd, ioas, mem, 0, 4096, 0x100800n, RW), 'EINVAL');
      errno(() => b.ioasMap(fd, ioas, mem, 0, 2048, 0x100000n, RW), 'EINVAL');
      b.ioasMap(fd, ioas, mem, 0, 8192, 0x100000n, RW);
      detach(dev);
      expect(b.ioasIovaRanges(fd, ioas)).toEqual({ ranges: [{ start: 0n, last: U64_MAX }], alignment: 1n });
      // Detaching what is not attached is no error.
      detach(dev);
    });

    it('an IOAS or hwpt in use is not destroyed; the hwpt goes with its last device (iommufd_hw_pagetable_put)', () => {
      const [fd, ioas, dev, hwpt] = ready();
      errno(() => destroy(fd, ioas), 'EBUSY');
      errno(() => destroy(fd, hwpt), 'EBUSY');
      detach(dev);
      errno(() => destroy(fd, hwpt), 'ENOENT');
      destroy(fd, ioas);
    });

    it('closing the iommufd leaves a bound device working; closing the device frees its group', () => {
      const [fd, , dev] = ready();
      held.close(fd);
      expect(deviceInfo(dev)).toBe(0);
      errno(() => b.ioasIovaRanges(fd, 1), 'EBADF');
      held.close(dev);
      held.close(held.fd(b.open(t.groupPath(t.eduGroup))));
    });
  });

  describe('DMA through the IOAS', () => {
    const DMA_SRC = 0x80, DMA_DST = 0x88, DMA_COUNT = 0x90, DMA_CMD = 0x98, DEV_BUF = 0x40000;
    const w32 = (dev: FdHandle, at: number, v: number) => b.pwrite(dev, new Uint8Array(new Uint32Array([v]).buffer), at);
    const r32 = (dev: FdHandle, at: number) => {
      const u = new Uint32Array(1);
      b.pread(dev, new Uint8Array(u.buffer), at);
      return u[0]!;
    };
    /** Programs one edu transfer (the 64-bit registers take their low halves here) and waits for it. */
    const transfer = async (dev: FdHandle, src: number, dst: number, count: number, toRam: boolean) => {
      w32(dev, DMA_SRC, src);
      w32(dev, DMA_DST, dst);
      w32(dev, DMA_COUNT, count);
      w32(dev, DMA_CMD, 1 | (toRam ? 2 : 0));
      const deadline = Date.now() + 10_000;
      while (r32(dev, DMA_CMD) & 1) {
        if (Date.now() > deadline) throw new Error('edu DMA did not complete');
        await new Promise((r) => setTimeout(r, 2));
      }
    };
    const busMaster = (dev: FdHandle) => {
      const q = encodeRegionInfoQuery(VFIO_PCI_CONFIG_REGION_INDEX);
      b.ioctl(dev, io.VFIO_DEVICE_GET_REGION_INFO, q);
      const cfg = Number(decodeRegionInfo(q).offset);
      const cmd = new Uint16Array(1);
      b.pread(dev, new Uint8Array(cmd.buffer), cfg + 4);
      cmd[0]! |= 0x4;
      b.pwrite(dev, new Uint8Array(cmd.buffer), cfg + 4);
    };

    it('the device reads and writes memory mapped in its IOAS, and faults elsewhere', async () => {
      const [fd, ioas, dev] = ready();
      const mem = held.mem(8192);
      const bytes = new Uint8Array(mem);
      for (let i = 0; i < 256; i++) bytes[i] = i ^ 0x5a;
      b.ioasMap(fd, ioas, mem, 0, 8192, 0x100000n, RW);
      busMaster(dev);
      await transfer(dev, 0x100000, DEV_BUF, 256, false);
      await transfer(dev, DEV_BUF, 0x101000, 256, true);
      expect(bytes.subarray(4096, 4096 + 256)).toEqual(bytes.subarray(0, 256));
      // Unmapped: the write never lands and the IOMMU reports it.
      expect(b.ioasUnmap(fd, ioas, 0x100000n, 8192n)).toBe(8192n);
      bytes.fill(0, 4096);
      await transfer(dev, DEV_BUF, 0x101000, 256, true);
      expect(bytes.subarray(4096, 4096 + 256).every((x) => x === 0)).toBe(true);
      expect(t.writeFaults(0x101000).length).toBeGreaterThan(0);
    });
  });
}
