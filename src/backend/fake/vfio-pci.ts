// vfio-pci's device ioctls (drivers/vfio/pci/vfio_pci_core.c): device, region and
// IRQ info, SET_IRQS (irq.ts holds its validation), reset; and where each region
// sits in the device fd's offset space.
import { errnoError } from './errno.js';
import type { FakeEventfd } from './eventfd.js';
import type { KDevice, KernelContext } from './objects.js';
import type { CheckedArg } from '../allowlist.js';
import { readArg, writeArg } from './uarg.js';
import { deviceFeature } from './vf-token.js';
import {
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_DEVICE_RESET,
  VFIO_DEVICE_SET_IRQS,
} from '../../uapi/ioctl.js';
import { VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_DETACH_IOMMUFD_PT } from '../../uapi/iommufd.js';
import { VFIO_DEVICE_FLAGS_PCI, VFIO_DEVICE_FLAGS_RESET, vfioDeviceInfo } from '../../uapi/vfio-device.js';
import { vfioIrqInfo, vfioIrqSet } from '../../uapi/vfio-irq.js';
import { vfioInfoCapHeader } from '../../uapi/caps.js';
import {
  VFIO_REGION_INFO_CAP_MSIX_MAPPABLE,
  VFIO_REGION_INFO_FLAG_CAPS,
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  vfioRegionInfo,
} from '../../uapi/vfio-region.js';
import { VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_NUM_IRQS, VFIO_PCI_NUM_REGIONS, VFIO_PCI_ROM_REGION_INDEX, VFIO_PCI_VGA_REGION_INDEX } from '../../uapi/vfio-pci.js';
import { PCI_MSIX_TABLE } from '../../uapi/pci-regs.js';

/** vfio-pci places region N at N << 40 in the device fd (VFIO_PCI_OFFSET_SHIFT). */
export const REGION_SHIFT = 2 ** 40;
const PAGE = 4096;

export function deviceIoctl(ctx: KernelContext, d: KDevice, request: number, a: CheckedArg): number {
  const einval = (what: string) => errnoError('EINVAL', 'ioctl', what);
  const { bytes, argsz } = a as { bytes: Uint8Array; argsz: number };
  switch (request) {
    case VFIO_DEVICE_GET_INFO: {
      if (argsz < 16) throw einval('VFIO_DEVICE_GET_INFO');
      const flags = VFIO_DEVICE_FLAGS_PCI | (d.model.resettable ? VFIO_DEVICE_FLAGS_RESET : 0);
      writeArg(vfioDeviceInfo, { flags, num_regions: VFIO_PCI_NUM_REGIONS, num_irqs: VFIO_PCI_NUM_IRQS, cap_offset: 0 }, bytes, argsz);
      return 0;
    }
    case VFIO_DEVICE_GET_REGION_INFO:
      if (argsz < vfioRegionInfo.size) throw einval('VFIO_DEVICE_GET_REGION_INFO');
      return regionInfo(d, bytes, argsz);
    case VFIO_DEVICE_GET_IRQ_INFO: {
      if (argsz < vfioIrqInfo.size) throw einval('VFIO_DEVICE_GET_IRQ_INFO');
      const info = d.irq.info(readArg(vfioIrqInfo, bytes, argsz).index);
      writeArg(vfioIrqInfo, { flags: info.flags, count: info.count }, bytes, argsz);
      return 0;
    }
    case VFIO_DEVICE_SET_IRQS: {
      if (argsz < vfioIrqSet.size) throw einval('VFIO_DEVICE_SET_IRQS');
      const { flags, index, start, count } = readArg(vfioIrqSet, bytes, argsz);
      d.irq.set({ flags, index, start, count, data: bytes.subarray(vfioIrqSet.size, argsz) }, (fd) => eventfdFor(ctx, fd));
      return 0;
    }
    case VFIO_DEVICE_FEATURE:
      return deviceFeature(d, bytes, argsz);
    case VFIO_DEVICE_RESET:
      if (!d.model.resettable) throw einval('VFIO_DEVICE_RESET');
      d.model.reset?.();
      d.config.write(0x04, 2, 0);
      return 0;
    case VFIO_DEVICE_GET_PCI_HOT_RESET_INFO:
    case VFIO_DEVICE_PCI_HOT_RESET:
      if (argsz < 12) throw einval(request === VFIO_DEVICE_PCI_HOT_RESET ? 'VFIO_DEVICE_PCI_HOT_RESET' : 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO');
      throw errnoError('ENODEV', 'ioctl', 'hot reset is not modelled (no slot or bus reset)');
    // The cdev's own requests: on a device fd from a group, ATTACH/DETACH reach vfio-pci,
    // which knows them not (BIND is Backend.bindIommufd: cdev.ts).
    case VFIO_DEVICE_ATTACH_IOMMUFD_PT:
    case VFIO_DEVICE_DETACH_IOMMUFD_PT:
      throw errnoError('ENOTTY', 'ioctl', 'only a device opened through its cdev attaches to an IOAS');
  }
  throw einval('device ioctl');
}

// SET_IRQS data names eventfds: a closed fd is EBADF, any other file EINVAL.
function eventfdFor(ctx: KernelContext, fd: number): FakeEventfd {
  const e = ctx.file(fd);
  if (!e) throw errnoError('EBADF', 'ioctl', 'VFIO_DEVICE_SET_IRQS');
  if (e.kind !== 'eventfd') throw errnoError('EINVAL', 'ioctl', 'VFIO_DEVICE_SET_IRQS');
  return e.e;
}

function regionInfo(d: KDevice, bytes: Uint8Array, argsz: number): number {
  const { index } = readArg(vfioRegionInfo, bytes, argsz);
  if (index >= VFIO_PCI_NUM_REGIONS) throw errnoError('EINVAL', 'ioctl', 'VFIO_DEVICE_GET_REGION_INFO');
  let size = 0;
  let flags = 0;
  let msixMappable = false;
  if (index <= 5) {
    const bar = d.model.bars[index];
    size = bar?.size ?? 0;
    if (size) {
      flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
      if (bar!.kind !== 'io' && size >= PAGE) {
        flags |= VFIO_REGION_INFO_FLAG_MMAP;
        const cap = d.config.msixCap;
        if (cap !== undefined && (d.config.read(cap + PCI_MSIX_TABLE, 4) & 7) === index) msixMappable = true;
      }
    }
  } else if (index === VFIO_PCI_ROM_REGION_INDEX) {
    size = 0;
  } else if (index === VFIO_PCI_CONFIG_REGION_INDEX) {
    size = d.config.size;
    flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
  } else if (index === VFIO_PCI_VGA_REGION_INDEX) {
    throw errnoError('EINVAL', 'ioctl', 'VFIO_DEVICE_GET_REGION_INFO (no VGA)');
  }
  const out = { flags, cap_offset: 0, size: BigInt(size), offset: BigInt(index) * BigInt(REGION_SHIFT) };
  if (msixMappable) {
    out.flags |= VFIO_REGION_INFO_FLAG_CAPS;
    const need = vfioRegionInfo.size + vfioInfoCapHeader.size;
    if (argsz < need) {
      writeArg(vfioRegionInfo, { ...out, argsz: need }, bytes, argsz);
      return 0;
    }
    vfioInfoCapHeader.encode({ id: VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, version: 1, next: 0 }, { bytes, offset: vfioRegionInfo.size });
    out.cap_offset = vfioRegionInfo.size;
  }
  writeArg(vfioRegionInfo, out, bytes, argsz);
  return 0;
}
