// The /dev nodes the kernel keeps for VFIO: a group's /dev/vfio/N while one of its devices
// is bound to vfio-pci, a device's cdev index, and the file each node opens.
import { join } from 'node:path';
import { openCdev } from './cdev.js';
import { newContainer } from './container.js';
import { errnoError } from './errno.js';
import { groupNode, openGroup } from './group.js';
import { FakeIommufd } from './iommufd.js';
import type { KDevice, KernelContext, KGroup } from './objects.js';
import type { SysfsTree } from './sysfs.js';

/** The group's node exists while one of its devices is bound to vfio-pci. */
export function refreshDevNode(sys: SysfsTree, g: KGroup): void {
  sys.setDevNode(groupNode(g), g.devices.some((d) => d.driver === 'vfio-pci'));
}

/**
 * Gives the device a vfio_device index while vfio-pci drives it, and takes it back after:
 * the kernel's IDA hands out the lowest free one. No-IOMMU devices get no cdev (vfio_device_add).
 */
export function refreshVfioDevice(sys: SysfsTree, devices: Iterable<KDevice>, ctx: KernelContext, d: KDevice): void {
  const want = d.driver === 'vfio-pci';
  if (want === (d.index !== null)) return;
  const cdev = ctx.iommufd && !d.group.noiommu;
  if (want) {
    const used = new Set([...devices].map((x) => x.index));
    let n = 0;
    while (used.has(n)) n++;
    d.index = n;
  }
  if (cdev) sys.setNode(`dev/vfio/devices/vfio${d.index}`, want);
  if (!want) d.index = null;
  sys.setVfioDev(d.address, d.index);
}

/** Opens a node under `<root>/dev`: /dev/iommu, /dev/vfio/vfio, a device cdev or a group; ENOENT for anything else. */
export function openDevNode(ctx: KernelContext, root: string, devices: Iterable<KDevice>, groups: ReadonlyMap<number, KGroup>, path: string): number {
  const prefix = join(root, 'dev') + '/';
  const rel = path.startsWith(prefix) ? path.slice(prefix.length) : '';
  if (rel === 'iommu' && ctx.iommufd) return ctx.install({ kind: 'iommufd', ctx: new FakeIommufd(ctx.iommuConfig, ctx.memlock) });
  if (rel === 'vfio/vfio') return ctx.install({ kind: 'container', c: newContainer() });
  const cdev = /^vfio\/devices\/vfio(\d+)$/.exec(rel);
  if (cdev) {
    const d = [...devices].find((x) => x.index === Number(cdev[1]));
    if (!d || !ctx.iommufd || d.group.noiommu) throw errnoError('ENOENT', 'open', path);
    return openCdev(ctx, d);
  }
  const node = /^vfio\/(noiommu-)?(\d+)$/.exec(rel);
  const g = node ? groups.get(Number(node[2])) : undefined;
  if (!g || g.noiommu !== (node![1] !== undefined) || !g.devices.some((d) => d.driver === 'vfio-pci')) throw errnoError('ENOENT', 'open', path);
  return openGroup(ctx, g, path);
}
