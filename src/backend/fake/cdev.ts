/**
 * The VFIO device cdev's own ioctls (drivers/vfio/device_cdev.c, Linux 6.12):
 * BIND_IOMMUFD, ATTACH_IOMMUFD_PT, DETACH_IOMMUFD_PT, and the release that undoes
 * a bind. Everything else on a cdev fd is vfio-pci's, once bound.
 */
import { errnoError } from './errno.js';
import type { FakeIommufd } from './iommufd.js';
import type { CdevFile, KDevice } from './objects.js';

export interface CdevHost {
  /** What fd `fd` is: an iommufd context, some other file, or nothing. */
  iommufdOf(fd: number): FakeIommufd | 'other' | undefined;
  /** Whether the device's IOMMU group may be claimed for DMA by an iommufd (no kernel driver in it). */
  viable(d: KDevice): boolean;
}

function header(bytes: Uint8Array, argsz: number, minsz: number, what: string): DataView {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (argsz < minsz || v.getUint32(4, true) !== 0) throw errnoError('EINVAL', 'ioctl', what);
  return v;
}

/** vfio_df_ioctl_bind_iommufd, in its order of checks. */
export function bindIommufd(f: CdevFile, bytes: Uint8Array, argsz: number, host: CdevHost): number {
  const what = 'VFIO_DEVICE_BIND_IOMMUFD';
  const v = header(bytes, argsz, 16, what);
  const fd = v.getInt32(8, true);
  if (fd < 0) throw errnoError('EINVAL', 'ioctl', what);
  const d = f.d;
  const g = d.group;
  // vfio_device_block_group
  if (g.open) throw errnoError('EBUSY', 'ioctl', `${what}: the IOMMU group is open through /dev/vfio`);
  if (f.bound) throw errnoError('EINVAL', 'ioctl', `${what}: already bound`);
  // iommufd_ctx_from_fd
  const ctx = host.iommufdOf(fd);
  if (ctx === undefined) throw errnoError('EBADF', 'ioctl', what);
  if (ctx === 'other') throw errnoError('EBADFD', 'ioctl', `${what}: fd ${fd} is not an iommufd`);
  // vfio_df_open: only the group path may open a device more than once.
  if (d.opens > 0) throw errnoError('EINVAL', 'ioctl', `${what}: the device is already open`);
  // iommufd_device_bind → iommu_device_claim_dma_owner: another owner of the group refuses.
  const otherOwner = g.container !== null || g.devices.some((x) => x.cdev && x.cdev.bound!.ctx !== ctx);
  if (otherOwner || !host.viable(d)) throw errnoError('EPERM', 'ioctl', `${what}: the IOMMU group has another DMA owner`);
  const devid = ctx.bind(g);
  f.bound = { ctx, devid };
  d.cdev = f;
  d.opens++;
  g.cdevBound++;
  v.setUint32(12, devid, true);
  return 0;
}

/** vfio_df_ioctl_attach_pt: writes back the hwpt the device now uses. */
export function attachPt(f: CdevFile, bytes: Uint8Array, argsz: number): number {
  const v = header(bytes, argsz, 12, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT');
  const { ctx, devid } = f.bound!;
  v.setUint32(8, ctx.attach(devid, v.getUint32(8, true)), true);
  return 0;
}

export function detachPt(f: CdevFile, bytes: Uint8Array, argsz: number): number {
  header(bytes, argsz, 8, 'VFIO_DEVICE_DETACH_IOMMUFD_PT');
  f.bound!.ctx.detach(f.bound!.devid);
  return 0;
}

/** vfio_df_unbind_iommufd, from the file's release; returns whether the device was open through it. */
export function releaseCdev(f: CdevFile): boolean {
  if (!f.bound) return false;
  const { ctx, devid } = f.bound;
  f.bound = null;
  f.d.cdev = null;
  f.d.opens--;
  f.d.group.cdevBound--;
  ctx.unbind(devid);
  return true;
}
