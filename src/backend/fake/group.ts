// The group fd (/dev/vfio/N, /dev/vfio/noiommu-N) as drivers/vfio/group.c keeps it:
// opening it, its ioctls, and the release of it and of the device fds it hands out.
import { errnoError } from './errno.js';
import { detachGroup } from './container.js';
import { groupViable } from './dma-owner.js';
import type { GroupFile, KDevice, KernelContext, KGroup } from './objects.js';
import type { CheckedArg } from '../allowlist.js';
import { writeArg } from './uarg.js';
import { matchDevice } from './vf-token.js';
import { VFIO_GROUP_GET_DEVICE_FD, VFIO_GROUP_GET_STATUS, VFIO_GROUP_SET_CONTAINER, VFIO_GROUP_UNSET_CONTAINER } from '../../uapi/ioctl.js';
import { VFIO_GROUP_FLAGS_CONTAINER_SET, VFIO_GROUP_FLAGS_VIABLE, vfioGroupStatus } from '../../uapi/vfio-group.js';

/** The /dev/vfio node of the group. */
export function groupNode(g: KGroup): string {
  return g.noiommu ? `noiommu-${g.id}` : String(g.id);
}

/** vfio_group_fops_open: one opener at a time, and none while a device is in use through its cdev. */
export function openGroup(ctx: KernelContext, g: KGroup, path: string): number {
  if (g.noiommu && !ctx.caps.sysRawio) throw errnoError('EPERM', 'open', `${path} (no-IOMMU groups need CAP_SYS_RAWIO)`);
  if (g.cdevBound > 0) throw errnoError('EBUSY', 'open', `${path} (a device of the group is in use through its cdev)`);
  if (g.open) throw errnoError('EBUSY', 'open', path);
  g.open = true;
  return ctx.install({ kind: 'group', g });
}

/** Releasing the group file detaches it from its container unless devices still hold it. */
export function releaseGroup(f: GroupFile): void {
  // A removed group's file names a dead vfio_group: nothing of it is left to release.
  if (f.removed) return;
  const g = f.g;
  g.open = false;
  if (g.container && !g.devices.some((d) => d.opens > 0)) detachGroup(g);
}

/** A device fd from VFIO_GROUP_GET_DEVICE_FD was closed. */
export function releaseGroupDevice(d: KDevice): void {
  d.opens--;
  if (d.opens > 0) return;
  d.irq.reset();
  if (!d.group.open && d.group.container && !d.group.devices.some((x) => x.opens > 0)) detachGroup(d.group);
}

/**
 * vfio_device_remove_group: the group's last vfio-pci driver left. The kernel detaches the
 * group from its container (the last group out takes the IOMMU driver and every mapping
 * with it), and the group files still open keep naming the dead vfio_group, whose
 * iommu_group is gone (see removedGroupIoctl); a rebind makes a new group.
 */
export function removeGroup(g: KGroup, files: readonly GroupFile[]): void {
  if (g.container) detachGroup(g);
  for (const f of files) f.removed = true;
  g.open = false;
}

// A dead vfio_group: no iommu_group (GET_STATUS, SET_CONTAINER: ENODEV), no container
// (UNSET_CONTAINER: EINVAL), no devices (GET_DEVICE_FD: ENODEV).
function removedGroupIoctl(request: number): number {
  if (request === VFIO_GROUP_UNSET_CONTAINER) throw errnoError('EINVAL', 'ioctl', 'VFIO_GROUP_UNSET_CONTAINER');
  throw errnoError('ENODEV', 'ioctl', 'the group was removed (its last device left vfio-pci)');
}

/** VFIO_GROUP_GET_DEVICE_FD (vfio_group_ioctl_get_device_fd): installs a device fd and returns it. */
export function groupGetDeviceFd(ctx: KernelContext, f: GroupFile, name: string): number {
  if (f.removed) return removedGroupIoctl(VFIO_GROUP_GET_DEVICE_FD);
  const g = f.g;
  if (!g.container || !(g.container.iommu || g.container.noiommuDriver)) throw errnoError('EINVAL', 'ioctl', 'VFIO_GROUP_GET_DEVICE_FD');
  if (g.noiommu && !ctx.caps.sysRawio) throw errnoError('EPERM', 'ioctl', 'VFIO_GROUP_GET_DEVICE_FD (no-IOMMU needs CAP_SYS_RAWIO)');
  // vfio_device_get_from_name: vfio-pci's match (with its vf_token option and the token rules) per device.
  const d = g.devices.find((x) => x.driver === 'vfio-pci' && matchDevice(x, name) === 1);
  if (!d) throw errnoError('ENODEV', 'ioctl', 'VFIO_GROUP_GET_DEVICE_FD');
  d.opens++;
  return ctx.install({ kind: 'device', d });
}

export function groupIoctl(ctx: KernelContext, f: GroupFile, request: number, a: CheckedArg): number {
  const einval = (what: string) => errnoError('EINVAL', 'ioctl', what);
  if (f.removed) return removedGroupIoctl(request);
  const g = f.g;
  switch (request) {
    case VFIO_GROUP_GET_STATUS: {
      const { bytes, argsz } = a as { bytes: Uint8Array; argsz: number };
      if (argsz < vfioGroupStatus.size) throw einval('VFIO_GROUP_GET_STATUS');
      const flags = (groupViable(g) ? VFIO_GROUP_FLAGS_VIABLE : 0) | (g.container ? VFIO_GROUP_FLAGS_CONTAINER_SET : 0);
      writeArg(vfioGroupStatus, { flags }, bytes, argsz);
      return 0;
    }
    case VFIO_GROUP_SET_CONTAINER: {
      const cfd = Number((a as { value: bigint }).value);
      if (g.container) throw einval('VFIO_GROUP_SET_CONTAINER');
      const ce = ctx.file(cfd);
      if (!ce) throw errnoError('EBADF', 'ioctl', 'VFIO_GROUP_SET_CONTAINER');
      if (ce.kind === 'iommufd') throw errnoError('EOPNOTSUPP', 'ioctl', 'VFIO_GROUP_SET_CONTAINER with an iommufd (its VFIO compatibility) is not modelled');
      // Since 6.2 an fd that is neither a container nor an iommufd is EBADFD.
      if (ce.kind !== 'container') throw ctx.iommufd ? errnoError('EBADFD', 'ioctl', 'VFIO_GROUP_SET_CONTAINER') : einval('VFIO_GROUP_SET_CONTAINER');
      // vfio_container_attach_group
      if (g.noiommu && !ctx.caps.sysRawio) throw errnoError('EPERM', 'ioctl', 'VFIO_GROUP_SET_CONTAINER (no-IOMMU needs CAP_SYS_RAWIO)');
      if (ce.c.groups.size > 0 && ce.c.noiommu !== g.noiommu) throw errnoError('EPERM', 'ioctl', 'VFIO_GROUP_SET_CONTAINER (IOMMU and no-IOMMU groups do not mix)');
      // iommu_group_claim_dma_owner: a kernel driver in the group already owns its DMA.
      if (!groupViable(g)) throw errnoError('EPERM', 'ioctl', 'VFIO_GROUP_SET_CONTAINER');
      g.container = ce.c;
      ce.c.groups.add(g);
      ce.c.noiommu = g.noiommu;
      return 0;
    }
    case VFIO_GROUP_UNSET_CONTAINER: {
      if (!g.container) throw einval('VFIO_GROUP_UNSET_CONTAINER');
      if (g.devices.some((d) => d.opens > 0)) throw errnoError('EBUSY', 'ioctl', 'VFIO_GROUP_UNSET_CONTAINER');
      detachGroup(g);
      return 0;
    }
  }
  throw einval('group ioctl');
}
