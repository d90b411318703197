// The VFIO device cdev, /dev/vfio/devices/vfioN (drivers/vfio/device_cdev.c): opening it,
// BIND_IOMMUFD (Backend.bindIommufd, with the VF token as the kernel chosen by
// FakeKernelOptions.cdevBind takes it), its ioctls ATTACH_IOMMUFD_PT and DETACH_IOMMUFD_PT,
// and the release that undoes a bind. Everything else on a cdev fd is vfio-pci's, once bound.
import { errnoError } from './errno.js';
import { groupViable } from './dma-owner.js';
import type { CdevFile, FdEntry, KDevice, KernelContext } from './objects.js';
import type { FakeIommufd } from './iommufd.js';
import type { CheckedArg } from '../allowlist.js';
import { readArg, writeArg } from './uarg.js';
import { deviceIoctl } from './vfio-pci.js';
import { matchTokenUuid } from './vf-token.js';
import {
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  vfioDeviceAttachIommufdPt,
  vfioDeviceDetachIommufdPt,
} from '../../uapi/iommufd.js';
import type { Struct } from '../../uapi/struct.js';

/** Opening is always allowed; the fd is of no use until VFIO_DEVICE_BIND_IOMMUFD. */
export function openCdev(ctx: KernelContext, d: KDevice): number {
  return ctx.install({ kind: 'device', d, cdev: { d, bound: null } });
}

/** vfio_device_fops_unl_ioctl for a device opened through its cdev (BIND is bindIommufd). */
export function cdevIoctl(ctx: KernelContext, f: CdevFile, request: number, a: CheckedArg): number {
  const { bytes, argsz } = a as { bytes: Uint8Array; argsz: number };
  if (!f.bound) throw errnoError('EINVAL', 'ioctl', 'the device cdev is not bound to an iommufd yet (VFIO_DEVICE_BIND_IOMMUFD)');
  if (request === VFIO_DEVICE_ATTACH_IOMMUFD_PT) return attachPt(f, bytes, argsz);
  if (request === VFIO_DEVICE_DETACH_IOMMUFD_PT) return detachPt(f, bytes, argsz);
  return deviceIoctl(ctx, f.d, request, a);
}

// Every cdev ioctl refuses a short argsz and any flag.
function checkHeader(s: Struct, bytes: Uint8Array, argsz: number, what: string): void {
  if (argsz < s.size || readArg(s, bytes, argsz).flags !== 0) throw errnoError('EINVAL', 'ioctl', what);
}

/**
 * vfio_df_ioctl_bind_iommufd, in its order of checks, for the call the shim makes: 16 bytes with
 * flags 0 without a token, 24 with VFIO_DEVICE_BIND_FLAG_TOKEN and a pointer to it with one.
 * `f` is a device file and `iommufd` an iommufd: the shim checked both kinds.
 */
export function bindIommufd(ctx: KernelContext, f: FdEntry & { kind: 'device' }, iommufd: FakeIommufd, token: Uint8Array | undefined): number {
  const what = 'VFIO_DEVICE_BIND_IOMMUFD';
  if (token && ctx.cdevBind === '6.12') throw errnoError('EINVAL', 'ioctl', `${what} (flags: this kernel knows no VFIO_DEVICE_BIND_FLAG_TOKEN)`);
  if (token && ctx.cdevBind === '6.17') throw errnoError('E2BIG', 'ioctl', `${what} (copy_struct_from_user of 16 bytes: the token pointer after them must be zero)`);
  if (!f.cdev) throw errnoError('EINVAL', 'ioctl', `${what} (a device fd from a group cannot bind)`);
  const c = f.cdev;
  const d = c.d;
  const g = d.group;
  // vfio_device_block_group
  if (g.open) throw errnoError('EBUSY', 'ioctl', `${what}: the IOMMU group is open through /dev/vfio`);
  if (c.bound) throw errnoError('EINVAL', 'ioctl', `${what}: already bound`);
  // vfio_df_check_token: from 6.17 on, vfio-pci is asked at every bind, with a token or without.
  if (ctx.cdevBind !== '6.12') matchTokenUuid(d, token ?? null, what);
  // vfio_df_open: only the group path may open a device more than once.
  if (d.opens > 0) throw errnoError('EINVAL', 'ioctl', `${what}: the device is already open`);
  // iommufd_device_bind → iommu_device_claim_dma_owner: another owner of the group refuses.
  const otherOwner = g.container !== null || g.devices.some((x) => x.cdev && x.cdev.bound!.ctx !== iommufd);
  if (otherOwner || !groupViable(g)) throw errnoError('EPERM', 'ioctl', `${what}: the IOMMU group has another DMA owner`);
  const devid = iommufd.bind(g);
  c.bound = { ctx: iommufd, devid };
  d.cdev = c;
  d.opens++;
  g.cdevBound++;
  return devid;
}

/** vfio_df_ioctl_attach_pt: writes back the hwpt the device now uses. */
function attachPt(f: CdevFile, bytes: Uint8Array, argsz: number): number {
  checkHeader(vfioDeviceAttachIommufdPt, bytes, argsz, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT');
  const { ctx, devid } = f.bound!;
  const hwpt = ctx.attach(devid, readArg(vfioDeviceAttachIommufdPt, bytes, argsz).pt_id);
  writeArg(vfioDeviceAttachIommufdPt, { pt_id: hwpt }, bytes, argsz);
  return 0;
}

function detachPt(f: CdevFile, bytes: Uint8Array, argsz: number): number {
  checkHeader(vfioDeviceDetachIommufdPt, bytes, argsz, 'VFIO_DEVICE_DETACH_IOMMUFD_PT');
  f.bound!.ctx.detach(f.bound!.devid);
  return 0;
}

/** vfio_df_unbind_iommufd, from the file's release. */
export function releaseCdev(f: CdevFile): void {
  if (!f.bound) return;
  const { ctx, devid } = f.bound;
  f.bound = null;
  f.d.cdev = null;
  f.d.opens--;
  f.d.group.cdevBound--;
  ctx.unbind(devid);
  if (f.d.opens === 0) f.d.irq.reset();
}
