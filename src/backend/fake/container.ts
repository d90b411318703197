// The container fd (/dev/vfio/vfio) as drivers/vfio/container.c keeps it, with the
// ioctls its IOMMU driver answers once VFIO_SET_IOMMU chose one
// (drivers/vfio/vfio_iommu_type1.c, or the no-IOMMU driver).
import { errnoError } from './errno.js';
import type { KContainer, KernelContext, KGroup } from './objects.js';
import { FakeIommu } from './type1.js';
import type { CheckedArg } from '../allowlist.js';
import { writeArg } from './uarg.js';
import {
  VFIO_API_VERSION,
  VFIO_CHECK_EXTENSION,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_GET_INFO,
  VFIO_NOIOMMU_IOMMU,
  VFIO_SET_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_TYPE1_NESTING_IOMMU,
  VFIO_UNMAP_ALL,
  VFIO_UPDATE_VADDR,
} from '../../uapi/ioctl.js';
import {
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
  vfioIommuType1Info,
  vfioIommuType1InfoCapIovaRange,
  vfioIommuType1InfoDmaAvail,
  vfioIovaRange,
} from '../../uapi/vfio-iommu.js';

export function newContainer(): KContainer {
  return { groups: new Set(), iommu: null, noiommuDriver: false, noiommu: false, fdOpen: true };
}

export function containerIoctl(ctx: KernelContext, c: KContainer, request: number, a: CheckedArg): number {
  const einval = (what: string) => errnoError('EINVAL', 'ioctl', what);
  switch (request) {
    case VFIO_GET_API_VERSION:
      return VFIO_API_VERSION;
    case VFIO_CHECK_EXTENSION: {
      const ext = Number((a as { value: bigint }).value);
      // vfio_container_ioctl_check_extension: the chosen driver answers alone; before
      // that every driver the container's groups allow (vfio_iommu_driver_allowed).
      const noiommu = ext === VFIO_NOIOMMU_IOMMU && ctx.noIommu ? 1 : 0;
      if (c.noiommuDriver) return noiommu;
      const type1 = ext === VFIO_TYPE1_IOMMU || ext === VFIO_TYPE1v2_IOMMU || ext === VFIO_TYPE1_NESTING_IOMMU || ext === VFIO_UNMAP_ALL;
      // Answered by the IOMMU driver once one is set (no mediated devices here).
      if (c.iommu) return type1 || ext === VFIO_UPDATE_VADDR ? 1 : 0;
      const joined = c.groups.size > 0;
      if (type1 && !(joined && c.noiommu)) return 1;
      return joined && !c.noiommu ? 0 : noiommu;
    }
    case VFIO_SET_IOMMU: {
      if (c.groups.size === 0 || c.iommu || c.noiommuDriver) throw einval('VFIO_SET_IOMMU');
      const type = Number((a as { value: bigint }).value);
      // vfio_ioctl_set_iommu tries only the drivers the groups allow; none that answers → ENODEV.
      if (c.noiommu) {
        if (type !== VFIO_NOIOMMU_IOMMU) throw errnoError('ENODEV', 'ioctl', 'VFIO_SET_IOMMU (a no-IOMMU container takes only VFIO_NOIOMMU_IOMMU)');
        if (!ctx.caps.sysRawio) throw errnoError('EPERM', 'ioctl', 'VFIO_SET_IOMMU (no-IOMMU needs CAP_SYS_RAWIO)');
        c.noiommuDriver = true;
        return 0;
      }
      if (type !== VFIO_TYPE1_IOMMU && type !== VFIO_TYPE1v2_IOMMU) throw errnoError('ENODEV', 'ioctl', 'VFIO_SET_IOMMU');
      c.iommu = new FakeIommu(ctx.iommuConfig, type === VFIO_TYPE1v2_IOMMU, ctx.memlock);
      return 0;
    }
    case VFIO_IOMMU_GET_INFO: {
      // The no-IOMMU driver's ioctl knows only CHECK_EXTENSION.
      if (c.noiommuDriver) throw errnoError('ENOTTY', 'ioctl', 'VFIO_IOMMU_GET_INFO (no-IOMMU container)');
      if (!c.iommu) throw einval('VFIO_IOMMU_GET_INFO');
      const { bytes, argsz } = a as { bytes: Uint8Array; argsz: number };
      if (argsz < 16) throw einval('VFIO_IOMMU_GET_INFO');
      return writeIommuInfo(bytes, argsz, c.iommu);
    }
  }
  throw einval('container ioctl');
}

// vfio_iommu_type1_get_info: page sizes, and the IOVA-range and DMA-avail caps when
// argsz has room for them all; else the size that would.
function writeIommuInfo(bytes: Uint8Array, argsz: number, iommu: FakeIommu): number {
  const ranges = iommu.config.ranges;
  const head = vfioIommuType1Info.size;
  const rangeCap = vfioIommuType1InfoCapIovaRange.size + vfioIovaRange.size * ranges.length;
  const availAt = head + rangeCap;
  // vfio_info_cap_add keeps every capability 8-byte aligned.
  const need = availAt + ((vfioIommuType1InfoDmaAvail.size + 7) & ~7);
  const flags = VFIO_IOMMU_INFO_PGSIZES | VFIO_IOMMU_INFO_CAPS;
  if (argsz < need) {
    writeArg(vfioIommuType1Info, { argsz: need, flags, iova_pgsizes: iommu.config.pgsizes, cap_offset: 0 }, bytes, argsz);
    return 0;
  }
  vfioIommuType1InfoCapIovaRange.encode({ id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, version: 1, next: availAt, nr_iovas: ranges.length }, { bytes, offset: head });
  ranges.forEach((r, i) => vfioIovaRange.encode(r, { bytes, offset: head + vfioIommuType1InfoCapIovaRange.size + vfioIovaRange.size * i }));
  vfioIommuType1InfoDmaAvail.encode({ id: VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, version: 1, next: 0, avail: iommu.dmaAvail }, { bytes, offset: availAt });
  writeArg(vfioIommuType1Info, { flags, iova_pgsizes: iommu.config.pgsizes, cap_offset: head }, bytes, argsz);
  return 0;
}

/** The group leaves its container; the last one out takes the IOMMU driver and its mappings with it. */
export function detachGroup(g: KGroup): void {
  const c = g.container!;
  c.groups.delete(g);
  g.container = null;
  if (c.groups.size === 0 && c.iommu) {
    c.iommu.releaseAll();
    c.iommu = null;
  }
  c.noiommuDriver &&= c.groups.size > 0;
  maybeReleaseContainer(c);
}

/** The container fd was closed. */
export function releaseContainer(c: KContainer): void {
  c.fdOpen = false;
  maybeReleaseContainer(c);
}

function maybeReleaseContainer(c: KContainer): void {
  if (!c.fdOpen && c.groups.size === 0 && c.iommu) {
    c.iommu.releaseAll();
    c.iommu = null;
  }
}
