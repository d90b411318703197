// ioctl request numbers.
//
// VFIO defines every request with _IO (no direction, no size) on purpose: the
// structs grow over time and carry their own argsz, so the size must not be
// baked into the number. The direction/size encoders are here anyway for the
// few callers that need other subsystems' requests.

/** How an architecture packs ioctl numbers (`<asm/ioctl.h>`): the size field's width and the direction values. */
export interface IoctlEncoding {
  /** Width of the size field: 14 (asm-generic), 13 (powerpc, mips). */
  readonly sizeBits: number;
  /** _IOC_NONE. */
  readonly none: number;
  /** _IOC_WRITE. */
  readonly write: number;
  /** _IOC_READ. */
  readonly read: number;
}

// asm-generic layout (x86, arm, arm64, riscv, s390, loongarch): 2 direction
// bits, 14 size bits. powerpc and mips keep 3 direction bits and 13 size bits
// with different direction values, which changes even _IO numbers there.
const GENERIC: IoctlEncoding = { sizeBits: 14, none: 0, write: 1, read: 2 };
const PPC_MIPS: IoctlEncoding = { sizeBits: 13, none: 1, write: 4, read: 2 };

/** The ioctl encoding of a Node `process.arch` ('x64', 'arm64', 'ppc64', 'mips', …). */
export function ioctlEncodingFor(arch: string): IoctlEncoding {
  return /^(ppc|mips)/.test(arch) ? PPC_MIPS : GENERIC;
}

const ENC = ioctlEncodingFor(process.arch);

/** The data direction of an ioctl, as seen from user space (_IOC_READ: the kernel writes the argument). */
export type IoctlDirection = 'none' | 'read' | 'write' | 'readwrite';

function typeCode(type: number | string): number {
  const t = typeof type === 'string' ? type.charCodeAt(0) : type;
  if (!Number.isInteger(t) || t < 0 || t > 0xff) throw new RangeError(`ioctl type ${String(type)} is not one byte`);
  return t;
}

/**
 * _IOC(): an ioctl request number from direction, type (a number or a one-character
 * string), number and argument size in bytes, for this machine's architecture unless `enc`
 * says otherwise. A RangeError when a field does not fit.
 */
export function _IOC(
  dir: IoctlDirection,
  type: number | string,
  nr: number,
  size: number,
  enc: IoctlEncoding = ENC,
): number {
  if (!Number.isInteger(nr) || nr < 0 || nr > 0xff) throw new RangeError(`ioctl nr ${nr} is not one byte`);
  if (!Number.isInteger(size) || size < 0 || size >= 1 << enc.sizeBits) {
    throw new RangeError(`ioctl size ${size} does not fit in ${enc.sizeBits} bits`);
  }
  const d = dir === 'none' ? enc.none : dir === 'read' ? enc.read : dir === 'write' ? enc.write : enc.read | enc.write;
  // Multiplication instead of << keeps the direction bits from turning the result negative.
  return d * 2 ** (16 + enc.sizeBits) + size * 0x10000 + typeCode(type) * 0x100 + nr;
}

/** _IO(type, nr): a request with no argument data (VFIO defines all of its requests this way). */
export const _IO = (type: number | string, nr: number): number => _IOC('none', type, nr, 0);
/** _IOR(type, nr, size): the kernel writes `size` bytes to the argument. */
export const _IOR = (type: number | string, nr: number, size: number): number => _IOC('read', type, nr, size);
/** _IOW(type, nr, size): the kernel reads `size` bytes from the argument. */
export const _IOW = (type: number | string, nr: number, size: number): number => _IOC('write', type, nr, size);
/** _IOWR(type, nr, size): the kernel reads and writes the argument. */
export const _IOWR = (type: number | string, nr: number, size: number): number => _IOC('readwrite', type, nr, size);

export const VFIO_API_VERSION = 0;

export const VFIO_TYPE = ';'.charCodeAt(0);
export const VFIO_BASE = 100;

// Extension ids for VFIO_CHECK_EXTENSION; the IOMMU ones double as VFIO_SET_IOMMU arguments.
export const VFIO_TYPE1_IOMMU = 1;
export const VFIO_SPAPR_TCE_IOMMU = 2;
export const VFIO_TYPE1v2_IOMMU = 3;
export const VFIO_DMA_CC_IOMMU = 4;
export const VFIO_EEH = 5;
export const VFIO_TYPE1_NESTING_IOMMU = 6;
export const VFIO_SPAPR_TCE_v2_IOMMU = 7;
export const VFIO_NOIOMMU_IOMMU = 8;
export const VFIO_UNMAP_ALL = 9;
export const VFIO_UPDATE_VADDR = 10;

/** The kinds of VFIO fd, each its own namespace of request numbers. */
export type VfioFdKind = 'container' | 'group' | 'device';

// Request numbers are per-fd namespaces: the container and device ranges
// overlap (base+12, +13 and +17 each mean two different things), so a number
// alone cannot always name its request.
const TABLE: readonly (readonly [name: string, nr: number, fd: VfioFdKind])[] = [
  ['VFIO_GET_API_VERSION', 0, 'container'],
  ['VFIO_CHECK_EXTENSION', 1, 'container'],
  ['VFIO_SET_IOMMU', 2, 'container'],
  ['VFIO_GROUP_GET_STATUS', 3, 'group'],
  ['VFIO_GROUP_SET_CONTAINER', 4, 'group'],
  ['VFIO_GROUP_UNSET_CONTAINER', 5, 'group'],
  ['VFIO_GROUP_GET_DEVICE_FD', 6, 'group'],
  ['VFIO_DEVICE_GET_INFO', 7, 'device'],
  ['VFIO_DEVICE_GET_REGION_INFO', 8, 'device'],
  ['VFIO_DEVICE_GET_IRQ_INFO', 9, 'device'],
  ['VFIO_DEVICE_SET_IRQS', 10, 'device'],
  ['VFIO_DEVICE_RESET', 11, 'device'],
  ['VFIO_DEVICE_GET_PCI_HOT_RESET_INFO', 12, 'device'],
  ['VFIO_IOMMU_GET_INFO', 12, 'container'],
  ['VFIO_DEVICE_PCI_HOT_RESET', 13, 'device'],
  ['VFIO_IOMMU_MAP_DMA', 13, 'container'],
  ['VFIO_IOMMU_UNMAP_DMA', 14, 'container'],
  ['VFIO_DEVICE_FEATURE', 17, 'device'],
  ['VFIO_IOMMU_DIRTY_PAGES', 17, 'container'],
];

const vfioIo = (nr: number): number => _IO(VFIO_TYPE, VFIO_BASE + nr);

export const VFIO_GET_API_VERSION = vfioIo(0);
export const VFIO_CHECK_EXTENSION = vfioIo(1);
export const VFIO_SET_IOMMU = vfioIo(2);
export const VFIO_GROUP_GET_STATUS = vfioIo(3);
export const VFIO_GROUP_SET_CONTAINER = vfioIo(4);
export const VFIO_GROUP_UNSET_CONTAINER = vfioIo(5);
export const VFIO_GROUP_GET_DEVICE_FD = vfioIo(6);
export const VFIO_DEVICE_GET_INFO = vfioIo(7);
export const VFIO_DEVICE_GET_REGION_INFO = vfioIo(8);
export const VFIO_DEVICE_GET_IRQ_INFO = vfioIo(9);
export const VFIO_DEVICE_SET_IRQS = vfioIo(10);
export const VFIO_DEVICE_RESET = vfioIo(11);
export const VFIO_DEVICE_GET_PCI_HOT_RESET_INFO = vfioIo(12);
export const VFIO_DEVICE_PCI_HOT_RESET = vfioIo(13);
export const VFIO_DEVICE_FEATURE = vfioIo(17);
export const VFIO_IOMMU_GET_INFO = vfioIo(12);
export const VFIO_IOMMU_MAP_DMA = vfioIo(13);
export const VFIO_IOMMU_UNMAP_DMA = vfioIo(14);
export const VFIO_IOMMU_DIRTY_PAGES = vfioIo(17);

/** Request number to name; numbers shared by container and device requests map to "A | B". */
export const VFIO_IOCTL_NAMES: ReadonlyMap<number, string> = (() => {
  const m = new Map<number, string>();
  for (const [name, nr] of TABLE) {
    const req = vfioIo(nr);
    const prev = m.get(req);
    m.set(req, prev === undefined ? name : `${prev} | ${name}`);
  }
  return m;
})();

/** Names a request unambiguously when the kind of fd it was issued on is known. */
export function vfioIoctlName(request: number, fd?: VfioFdKind): string {
  if (fd !== undefined) {
    for (const [name, nr, kind] of TABLE) if (kind === fd && vfioIo(nr) === request) return name;
  }
  return VFIO_IOCTL_NAMES.get(request) ?? `ioctl 0x${request.toString(16)}`;
}
