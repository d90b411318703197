// The ioctl allow-list, written once: requests keyed by the fd kind they are valid
// on, with the argument's kind and the kernel's minsz. The native shim enforces it
// through native/allowlist.gen.h, generated from this table (`npm run gen:allowlist`;
// a unit test fails while the header is stale). The fake kernel applies the same
// checks, with the same error types and messages, before it emulates a request.
import {
  VFIO_CHECK_EXTENSION,
  VFIO_DEVICE_FEATURE,
  VFIO_DEVICE_GET_INFO,
  VFIO_DEVICE_GET_IRQ_INFO,
  VFIO_DEVICE_GET_PCI_HOT_RESET_INFO,
  VFIO_DEVICE_GET_REGION_INFO,
  VFIO_DEVICE_PCI_HOT_RESET,
  VFIO_DEVICE_RESET,
  VFIO_DEVICE_SET_IRQS,
  VFIO_GET_API_VERSION,
  VFIO_GROUP_GET_STATUS,
  VFIO_GROUP_SET_CONTAINER,
  VFIO_GROUP_UNSET_CONTAINER,
  VFIO_IOMMU_GET_INFO,
  VFIO_SET_IOMMU,
} from '../uapi/ioctl.js';
import {
  IOMMU_DESTROY,
  IOMMU_IOAS_ALLOC,
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  VFIO_DEVICE_BIND_FLAG_TOKEN,
  VFIO_DEVICE_BIND_IOMMUFD,
  VFIO_DEVICE_DETACH_IOMMUFD_PT,
  vfioDeviceBindIommufd,
} from '../uapi/iommufd.js';
import { VFIO_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_PROBE, VFIO_DEVICE_FEATURE_SET } from '../uapi/vfio-feature.js';
import { argBytes, argFd, argU64 } from './args.js';

export type FdKind = 'container' | 'group' | 'device' | 'iommufd';
export type ArgKind = 'none' | 'value' | 'intptr' | 'argsz';

export interface AllowedRequest {
  kind: FdKind;
  number: number;
  name: string;
  arg: ArgKind;
  minsz: number;
  /** 'argsz': the flags bits (second u32) JS may set; others are refused. Default: any. */
  flagsAllowed?: number;
  /**
   * 'argsz': the u32 at this offset counts elements of `elemSize` bytes that follow the fixed
   * part (at minsz). The kernel reads them without checking argsz, so they must end within it.
   */
  countAt?: number;
  /** The size of each counted element; with countAt. */
  elemSize?: number;
}

const r = (
  kind: FdKind,
  number: number,
  name: string,
  arg: ArgKind,
  minsz = 0,
  flagsAllowed?: number,
  counted?: { at: number; size: number },
): AllowedRequest => ({
  kind,
  number,
  name,
  arg,
  minsz,
  ...(flagsAllowed !== undefined && { flagsAllowed }),
  ...(counted && { countAt: counted.at, elemSize: counted.size }),
});

export const ALLOWED_IOCTLS: readonly AllowedRequest[] = [
  r('container', VFIO_GET_API_VERSION, 'VFIO_GET_API_VERSION', 'none'),
  r('container', VFIO_CHECK_EXTENSION, 'VFIO_CHECK_EXTENSION', 'value'),
  r('container', VFIO_SET_IOMMU, 'VFIO_SET_IOMMU', 'value'),
  r('container', VFIO_IOMMU_GET_INFO, 'VFIO_IOMMU_GET_INFO', 'argsz', 16),
  r('group', VFIO_GROUP_GET_STATUS, 'VFIO_GROUP_GET_STATUS', 'argsz', 8),
  r('group', VFIO_GROUP_SET_CONTAINER, 'VFIO_GROUP_SET_CONTAINER', 'intptr'),
  r('group', VFIO_GROUP_UNSET_CONTAINER, 'VFIO_GROUP_UNSET_CONTAINER', 'none'),
  // VFIO_GROUP_GET_DEVICE_FD makes an fd, so it is Backend.groupDeviceFd, which returns a handle.
  r('device', VFIO_DEVICE_GET_INFO, 'VFIO_DEVICE_GET_INFO', 'argsz', 16),
  r('device', VFIO_DEVICE_GET_REGION_INFO, 'VFIO_DEVICE_GET_REGION_INFO', 'argsz', 32),
  r('device', VFIO_DEVICE_GET_IRQ_INFO, 'VFIO_DEVICE_GET_IRQ_INFO', 'argsz', 16),
  // SET_IRQS data is inline (bools or eventfds), bounded by argsz.
  r('device', VFIO_DEVICE_SET_IRQS, 'VFIO_DEVICE_SET_IRQS', 'argsz', 20),
  r('device', VFIO_DEVICE_RESET, 'VFIO_DEVICE_RESET', 'none'),
  r('device', VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, 'VFIO_DEVICE_GET_PCI_HOT_RESET_INFO', 'argsz', 12),
  // vfio_pci_ioctl_pci_hot_reset copies `count` group fds (u32 at 8) from offset 12 without
  // looking at argsz.
  r('device', VFIO_DEVICE_PCI_HOT_RESET, 'VFIO_DEVICE_PCI_HOT_RESET', 'argsz', 12, undefined, { at: 8, size: 4 }),
  // Only feature 0, PCI_VF_TOKEN (its data is 16 inline bytes): the feature number is in the
  // flags' low 16 bits, which must be 0; other features carry user pointers or return fds.
  r('device', VFIO_DEVICE_FEATURE, 'VFIO_DEVICE_FEATURE', 'argsz', 8, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE),
  // VFIO_DEVICE_BIND_IOMMUFD can carry a pointer (the VF token): Backend.bindIommufd builds it.
  // ATTACH/DETACH flags must be 0: later kernels define flags that add a PASID.
  r('device', VFIO_DEVICE_ATTACH_IOMMUFD_PT, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'argsz', 12, 0),
  r('device', VFIO_DEVICE_DETACH_IOMMUFD_PT, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', 'argsz', 8, 0),
  // iommufd structs begin with u32 size, which plays argsz's part: the kernel reads and writes
  // no more than `size` bytes. The second word is flags for IOAS_ALLOC (must be 0) and an object
  // id for DESTROY. IOAS_MAP/UNMAP/IOVA_RANGES carry user pointers: the backend builds them.
  r('iommufd', IOMMU_IOAS_ALLOC, 'IOMMU_IOAS_ALLOC', 'argsz', 12, 0),
  r('iommufd', IOMMU_DESTROY, 'IOMMU_DESTROY', 'argsz', 8),
];

/**
 * VFIO_DEVICE_BIND_IOMMUFD as the shim builds it (Backend.bindIommufd): its number, the token
 * flag, and the struct's size without a token (the 6.6 layout) and with one. They go to the
 * generated header as well, where native/bind.cc checks its own struct against them.
 */
export const BIND_IOMMUFD = {
  number: VFIO_DEVICE_BIND_IOMMUFD,
  flagToken: VFIO_DEVICE_BIND_FLAG_TOKEN,
  minsz: vfioDeviceBindIommufd.offsetOf('token_uuid_ptr'),
  size: vfioDeviceBindIommufd.size,
} as const;

/**
 * The request number checked as native/ioctl.cc checks it: an integer in [0, 2^32)
 * (a fraction is refused, not truncated onto a listed request) that is on the list.
 */
export function checkRequest(request: unknown): number {
  if (typeof request !== 'number') throw new TypeError('ioctl: request must be a number');
  if (!(request >= 0 && request <= 0xffffffff) || !Number.isInteger(request))
    throw new RangeError(`ioctl: request must be an integer in [0, 2^32), got ${request}`);
  if (!ALLOWED_IOCTLS.some((a) => a.number === request))
    throw new RangeError(
      `ioctl: request 0x${request.toString(16)} is not on the allow-list (DMA map/unmap go through dmaMap/dmaUnmap, ioasMap/ioasUnmap; GET_DEVICE_FD through groupDeviceFd; BIND_IOMMUFD through bindIommufd)`,
    );
  return request;
}

export function findAllowed(kind: FdKind | 'other', request: number): AllowedRequest | undefined {
  return ALLOWED_IOCTLS.find((a) => a.kind === kind && a.number === request);
}

/** The argument as the kernel will see it, after the shim's checks. */
export type CheckedArg = { kind: 'none' } | { kind: 'value'; value: bigint } | { kind: 'bytes'; bytes: Uint8Array; argsz: number };

/**
 * Validates a JS argument (the third of ioctl's) for `req` exactly as native/ioctl.cc does.
 * An 'intptr' (fd) argument may be a number or a handle; `handleFd` resolves a handle (and
 * throws for a closed or foreign one).
 */
export function checkIoctlArg(req: AllowedRequest, arg: unknown, handleFd: (h: object) => number): CheckedArg {
  switch (req.arg) {
    case 'none':
      return { kind: 'none' };
    case 'value':
      return { kind: 'value', value: argU64(arg, req.name, 'argument') };
    case 'intptr':
      return { kind: 'value', value: BigInt(typeof arg === 'object' && arg !== null ? handleFd(arg) : argFd(arg, req.name, 3)) };
    case 'argsz': {
      const bytes = argBytes(arg, req.name, 'argument');
      if (bytes.length < req.minsz)
        throw new RangeError(`${req.name}: buffer of ${bytes.length} bytes is smaller than the ${req.minsz} the kernel reads`);
      const argsz = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0, true);
      if (argsz > bytes.length) throw new RangeError(`${req.name}: argsz ${argsz} exceeds the buffer's ${bytes.length} bytes`);
      const flags = new DataView(bytes.buffer, bytes.byteOffset).getUint32(4, true);
      if (req.flagsAllowed !== undefined && (flags & ~req.flagsAllowed) !== 0)
        throw new RangeError(`${req.name}: flags not accepted through this call`);
      if (req.countAt !== undefined && req.elemSize !== undefined) {
        const count = new DataView(bytes.buffer, bytes.byteOffset).getUint32(req.countAt, true);
        if (req.minsz + count * req.elemSize > argsz)
          throw new RangeError(`${req.name}: ${count} element(s) of ${req.elemSize} bytes at ${req.minsz} run past argsz ${argsz}`);
      }
      return { kind: 'bytes', bytes, argsz };
    }
  }
}
