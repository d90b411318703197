/**
 * The VFIO view of one device, as plain data (`vfio info`): regions, IRQs, PCI
 * capabilities decoded where they matter to a driver (MSI, MSI-X, PCIe, SR-IOV,
 * power management), reset support and the other members of its IOMMU group.
 * The device is opened through the object model and closed again.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDevice, type OpenOptions } from '../open.js';
import type { Device } from '../device.js';
import { groupViability, pciId, readPciDevice, sysPath, vfioGroupNode, type SysfsOptions } from '../sysfs.js';
import { pciClassName } from '../uapi/pci-class.js';
import {
  PCI_CAP_ID_EXP,
  PCI_CAP_ID_MSI,
  PCI_CAP_ID_MSIX,
  PCI_CAP_ID_PM,
  PCI_EXP_DEVCAP,
  PCI_EXP_DEVCAP_FLR,
  PCI_EXP_FLAGS,
  PCI_EXT_CAP_ID_SRIOV,
  PCI_MSIX_FLAGS,
  PCI_MSIX_FLAGS_QSIZE,
  PCI_MSIX_PBA,
  PCI_MSIX_TABLE,
  PCI_MSI_FLAGS,
  PCI_MSI_FLAGS_64BIT,
  PCI_MSI_FLAGS_MASKBIT,
  PCI_MSI_FLAGS_QMASK,
  PCI_PM_CTRL,
} from '../uapi/pci-regs.js';
import {
  VFIO_DEVICE_FLAGS_CAPS,
  VFIO_DEVICE_FLAGS_PCI,
  VFIO_DEVICE_FLAGS_RESET,
} from '../uapi/vfio-device.js';
import {
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
} from '../uapi/vfio-region.js';
import {
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_INFO_NORESIZE,
} from '../uapi/vfio-irq.js';
import { VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_ROM_REGION_INDEX, VFIO_PCI_VGA_REGION_INDEX } from '../uapi/vfio-pci.js';

export interface RegionDescription {
  readonly index: number;
  /** 'BAR0' … 'BAR5', 'ROM', 'config', 'VGA', 'region N'. */
  readonly name: string;
  /** 0: the device does not implement it. */
  readonly size: number;
  /** Where it sits in the device fd. */
  readonly offset: number;
  readonly read: boolean;
  readonly write: boolean;
  readonly mmap: boolean;
  /** The parts that can be mmapped (the whole region unless the kernel lists sparse areas). */
  readonly mmapAreas: readonly { readonly offset: number; readonly size: number }[];
  /** Set when the kernel listed sparse areas (e.g. around an MSI-X table). */
  readonly sparse: boolean;
  readonly msixMappable: boolean;
  /** The TYPE capability of device-specific regions. */
  readonly type?: { readonly type: number; readonly subtype: number };
  /** Why VFIO_DEVICE_GET_REGION_INFO failed for this index (e.g. VGA on a non-VGA device). */
  readonly error?: string;
}

export interface IrqDescription {
  readonly index: number;
  /** 'INTx', 'MSI', 'MSI-X', 'ERR', 'REQ' or 'IRQ N'. */
  readonly name: string;
  readonly count: number;
  readonly eventfd: boolean;
  readonly maskable: boolean;
  readonly automasked: boolean;
  readonly noresize: boolean;
  readonly error?: string;
}

export interface CapabilityDescription {
  readonly id: number;
  readonly offset: number;
  readonly name: string;
  /** Extended capabilities only. */
  readonly version?: number;
  /** A decoded summary where there is one ('5 vectors, table BAR3+0x0'). */
  readonly detail?: string;
}

export interface GroupMemberDescription {
  readonly address: string;
  readonly id: string;
  readonly className: string;
  readonly driver: string | null;
}

export interface DeviceDescription {
  readonly address: string;
  readonly id: string;
  readonly vendor: number;
  readonly device: number;
  readonly classCode: number;
  readonly className: string;
  readonly driver: string | null;
  readonly iommuGroup: number | null;
  readonly groupViable: boolean | null;
  readonly vfioNode: string | null;
  /** The other devices of its IOMMU group. */
  readonly groupMembers: readonly GroupMemberDescription[];
  /** VFIO_DEVICE_GET_INFO flags by name ('pci', 'reset', 'caps'). */
  readonly deviceFlags: readonly string[];
  /** VFIO_DEVICE_RESET is offered. */
  readonly canReset: boolean;
  /** The kernel's reset methods from sysfs reset_method ('flr', 'pm', 'bus' …); null when the file is absent. */
  readonly resetMethods: readonly string[] | null;
  readonly regions: readonly RegionDescription[];
  readonly irqs: readonly IrqDescription[];
  readonly capabilities: readonly CapabilityDescription[];
  readonly extendedCapabilities: readonly CapabilityDescription[];
  readonly msi?: { readonly vectors: number; readonly addr64: boolean; readonly maskable: boolean };
  readonly msix?: {
    readonly tableSize: number;
    readonly table: { readonly bar: number; readonly offset: number };
    readonly pba: { readonly bar: number; readonly offset: number };
  };
  readonly pcie?: { readonly type: string; readonly version: number; readonly flr: boolean; readonly link?: string };
  readonly sriov?: {
    readonly totalVfs: number;
    readonly initialVfs: number;
    readonly numVfs: number;
    readonly vfOffset: number;
    readonly vfStride: number;
    readonly vfDeviceId: number;
  };
  readonly pm?: { readonly noSoftReset: boolean };
}

const CAP_NAMES: ReadonlyMap<number, string> = new Map([
  [0x01, 'Power Management'],
  [0x02, 'AGP'],
  [0x03, 'Vital Product Data'],
  [0x04, 'Slot Identification'],
  [0x05, 'MSI'],
  [0x06, 'CompactPCI Hot Swap'],
  [0x07, 'PCI-X'],
  [0x08, 'HyperTransport'],
  [0x09, 'Vendor Specific'],
  [0x0a, 'Debug Port'],
  [0x0b, 'CompactPCI Central Resource Control'],
  [0x0c, 'PCI Hot-Plug (SHPC)'],
  [0x0d, 'Subsystem Vendor ID'],
  [0x0e, 'AGP 8x'],
  [0x0f, 'Secure Device'],
  [0x10, 'PCI Express'],
  [0x11, 'MSI-X'],
  [0x12, 'SATA'],
  [0x13, 'Advanced Features'],
  [0x14, 'Enhanced Allocation'],
]);

const EXT_CAP_NAMES: ReadonlyMap<number, string> = new Map([
  [0x01, 'Advanced Error Reporting'],
  [0x02, 'Virtual Channel'],
  [0x03, 'Device Serial Number'],
  [0x04, 'Power Budgeting'],
  [0x05, 'Root Complex Link Declaration'],
  [0x06, 'Root Complex Internal Link Control'],
  [0x07, 'Root Complex Event Collector'],
  [0x08, 'Multi-Function Virtual Channel'],
  [0x09, 'Virtual Channel (MFVC)'],
  [0x0a, 'Root Complex Register Block'],
  [0x0b, 'Vendor Specific'],
  [0x0c, 'Config Access Correlation'],
  [0x0d, 'Access Control Services'],
  [0x0e, 'Alternative Routing-ID'],
  [0x0f, 'Address Translation Services'],
  [0x10, 'SR-IOV'],
  [0x11, 'MR-IOV'],
  [0x12, 'Multicast'],
  [0x13, 'Page Request'],
  [0x15, 'Resizable BAR'],
  [0x16, 'Dynamic Power Allocation'],
  [0x17, 'TPH Requester'],
  [0x18, 'Latency Tolerance Reporting'],
  [0x19, 'Secondary PCI Express'],
  [0x1a, 'Protocol Multiplexing'],
  [0x1b, 'PASID'],
  [0x1d, 'Downstream Port Containment'],
  [0x1e, 'L1 PM Substates'],
  [0x1f, 'Precision Time Measurement'],
  [0x23, 'Designated Vendor-Specific'],
  [0x25, 'Data Link Feature'],
  [0x26, 'Physical Layer 16 GT/s'],
  [0x2a, 'Physical Layer 32 GT/s'],
  [0x2e, 'Data Object Exchange'],
]);

const PCIE_TYPES: ReadonlyMap<number, string> = new Map([
  [0x0, 'Endpoint'],
  [0x1, 'Legacy Endpoint'],
  [0x4, 'Root Port'],
  [0x5, 'Upstream Port'],
  [0x6, 'Downstream Port'],
  [0x7, 'PCIe-to-PCI bridge'],
  [0x8, 'PCI-to-PCIe bridge'],
  [0x9, 'Root Complex Integrated Endpoint'],
  [0xa, 'Root Complex Event Collector'],
]);

const LINK_SPEEDS = ['', '2.5 GT/s', '5 GT/s', '8 GT/s', '16 GT/s', '32 GT/s', '64 GT/s'];
const PCI_EXP_LNKSTA = 0x12;
const PCI_PM_CTRL_NO_SOFT_RESET = 0x0008;
// SR-IOV extended capability registers (PCIe base spec 9.3.3).
const SRIOV_INITIAL_VF = 0x0c;
const SRIOV_TOTAL_VF = 0x0e;
const SRIOV_NUM_VF = 0x10;
const SRIOV_VF_OFFSET = 0x14;
const SRIOV_VF_STRIDE = 0x16;
const SRIOV_VF_DID = 0x1a;

const IRQ_NAMES = ['INTx', 'MSI', 'MSI-X', 'ERR', 'REQ'];

export function regionName(index: number): string {
  if (index <= 5) return `BAR${index}`;
  if (index === VFIO_PCI_ROM_REGION_INDEX) return 'ROM';
  if (index === VFIO_PCI_CONFIG_REGION_INDEX) return 'config';
  if (index === VFIO_PCI_VGA_REGION_INDEX) return 'VGA';
  return `region ${index}`;
}

export const irqName = (index: number): string => IRQ_NAMES[index] ?? `IRQ ${index}`;

const hex = (n: number): string => `0x${n.toString(16)}`;

function errorText(e: unknown): string {
  const err = e as { code?: string; message?: string };
  return err.code ? `${err.code}` : String(err.message ?? e);
}

function resetMethods(address: string, opts: SysfsOptions): string[] | null {
  try {
    const text = readFileSync(join(sysPath(opts, 'sys/bus/pci/devices', address), 'reset_method'), 'utf8').trim();
    return text ? text.split(/\s+/) : [];
  } catch {
    return null;
  }
}

function describeRegions(dev: Device): RegionDescription[] {
  const out: RegionDescription[] = [];
  for (let index = 0; index < dev.info.numRegions; index++) {
    const name = regionName(index);
    let info;
    try {
      info = dev.regionInfo(index);
    } catch (e) {
      out.push({ index, name, size: 0, offset: 0, read: false, write: false, mmap: false, mmapAreas: [], sparse: false, msixMappable: false, error: errorText(e) });
      continue;
    }
    const size = Number(info.size);
    const mmap = (info.flags & VFIO_REGION_INFO_FLAG_MMAP) !== 0;
    const sparse = info.caps.sparseMmap !== undefined;
    const mmapAreas = !mmap
      ? []
      : sparse
        ? (info.caps.sparseMmap ?? []).map((a) => ({ offset: Number(a.offset), size: Number(a.size) }))
        : [{ offset: 0, size }];
    out.push({
      index,
      name,
      size,
      offset: Number(info.offset),
      read: (info.flags & VFIO_REGION_INFO_FLAG_READ) !== 0,
      write: (info.flags & VFIO_REGION_INFO_FLAG_WRITE) !== 0,
      mmap,
      mmapAreas,
      sparse,
      msixMappable: info.caps.msixMappable,
      ...(info.caps.type && { type: { ...info.caps.type } }),
    });
  }
  return out;
}

function describeIrqs(dev: Device): IrqDescription[] {
  const out: IrqDescription[] = [];
  for (let index = 0; index < dev.info.numIrqs; index++) {
    const name = irqName(index);
    try {
      const i = dev.irqInfo(index);
      out.push({
        index,
        name,
        count: i.count,
        eventfd: (i.flags & VFIO_IRQ_INFO_EVENTFD) !== 0,
        maskable: (i.flags & VFIO_IRQ_INFO_MASKABLE) !== 0,
        automasked: (i.flags & VFIO_IRQ_INFO_AUTOMASKED) !== 0,
        noresize: (i.flags & VFIO_IRQ_INFO_NORESIZE) !== 0,
      });
    } catch (e) {
      out.push({ index, name, count: 0, eventfd: false, maskable: false, automasked: false, noresize: false, error: errorText(e) });
    }
  }
  return out;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Describes a device that is already open (the caller keeps it open). */
export function describeOpenDevice(dev: Device, opts: SysfsOptions = {}): DeviceDescription {
  const pci = readPciDevice(dev.address, opts);
  const viability = pci.iommuGroup === null ? null : groupViability(pci.iommuGroup, opts);
  const cfg = dev.config;
  const desc: Mutable<DeviceDescription> = {
    address: pci.address,
    id: pciId(pci.vendor, pci.device),
    vendor: pci.vendor,
    device: pci.device,
    classCode: pci.classCode,
    className: pciClassName(pci.classCode),
    driver: pci.driver,
    iommuGroup: pci.iommuGroup,
    groupViable: viability ? viability.viable : null,
    vfioNode: pci.iommuGroup === null ? null : vfioGroupNode(pci.iommuGroup, opts),
    groupMembers: (viability?.members ?? [])
      .filter((m) => m.address !== pci.address)
      .map((m) => ({ address: m.address, id: pciId(m.vendor, m.device), className: pciClassName(m.classCode), driver: m.driver })),
    deviceFlags: [
      (dev.info.flags & VFIO_DEVICE_FLAGS_PCI) !== 0 && 'pci',
      (dev.info.flags & VFIO_DEVICE_FLAGS_RESET) !== 0 && 'reset',
      (dev.info.flags & VFIO_DEVICE_FLAGS_CAPS) !== 0 && 'caps',
    ].filter((f): f is string => typeof f === 'string'),
    canReset: dev.canReset,
    resetMethods: resetMethods(pci.address, opts),
    regions: describeRegions(dev),
    irqs: describeIrqs(dev),
    capabilities: [],
    extendedCapabilities: [],
  };
  const caps: CapabilityDescription[] = [];
  for (const c of cfg.capabilities()) {
    let detail: string | undefined;
    if (c.id === PCI_CAP_ID_MSI) {
      const flags = cfg.read16(c.offset + PCI_MSI_FLAGS);
      desc.msi = { vectors: 1 << ((flags & PCI_MSI_FLAGS_QMASK) >> 1), addr64: (flags & PCI_MSI_FLAGS_64BIT) !== 0, maskable: (flags & PCI_MSI_FLAGS_MASKBIT) !== 0 };
      detail = `${desc.msi.vectors} vector${desc.msi.vectors === 1 ? '' : 's'}${desc.msi.addr64 ? ', 64-bit' : ''}${desc.msi.maskable ? ', per-vector mask' : ''}`;
    } else if (c.id === PCI_CAP_ID_MSIX) {
      const flags = cfg.read16(c.offset + PCI_MSIX_FLAGS);
      const table = cfg.read32(c.offset + PCI_MSIX_TABLE) >>> 0;
      const pba = cfg.read32(c.offset + PCI_MSIX_PBA) >>> 0;
      desc.msix = {
        tableSize: (flags & PCI_MSIX_FLAGS_QSIZE) + 1,
        table: { bar: table & 7, offset: (table & ~7) >>> 0 },
        pba: { bar: pba & 7, offset: (pba & ~7) >>> 0 },
      };
      detail = `${desc.msix.tableSize} vectors, table BAR${desc.msix.table.bar}+${hex(desc.msix.table.offset)}, PBA BAR${desc.msix.pba.bar}+${hex(desc.msix.pba.offset)}`;
    } else if (c.id === PCI_CAP_ID_EXP) {
      const flags = cfg.read16(c.offset + PCI_EXP_FLAGS);
      const typeCode = (flags >> 4) & 0xf;
      const flr = ((cfg.read32(c.offset + PCI_EXP_DEVCAP) >>> 0) & PCI_EXP_DEVCAP_FLR) !== 0;
      let link: string | undefined;
      if (typeCode !== 0x9 && typeCode !== 0xa) {
        const sta = cfg.read16(c.offset + PCI_EXP_LNKSTA);
        const speed = LINK_SPEEDS[sta & 0xf];
        const width = (sta >> 4) & 0x3f;
        if (speed && width) link = `${speed} x${width}`;
      }
      desc.pcie = { type: PCIE_TYPES.get(typeCode) ?? `type ${typeCode}`, version: flags & 0xf, flr, ...(link && { link }) };
      detail = [desc.pcie.type, `v${desc.pcie.version}`, flr ? 'FLR' : 'no FLR', link && `link ${link}`].filter(Boolean).join(', ');
    } else if (c.id === PCI_CAP_ID_PM) {
      const ctrl = cfg.read16(c.offset + PCI_PM_CTRL);
      desc.pm = { noSoftReset: (ctrl & PCI_PM_CTRL_NO_SOFT_RESET) !== 0 };
      detail = `D${ctrl & 3}${desc.pm.noSoftReset ? ', no soft reset' : ''}`;
    }
    caps.push({ id: c.id, offset: c.offset, name: CAP_NAMES.get(c.id) ?? `capability ${hex(c.id)}`, ...(detail && { detail }) });
  }
  desc.capabilities = caps;
  const ext: CapabilityDescription[] = [];
  for (const c of cfg.extendedCapabilities()) {
    let detail: string | undefined;
    if (c.id === PCI_EXT_CAP_ID_SRIOV) {
      desc.sriov = {
        initialVfs: cfg.read16(c.offset + SRIOV_INITIAL_VF),
        totalVfs: cfg.read16(c.offset + SRIOV_TOTAL_VF),
        numVfs: cfg.read16(c.offset + SRIOV_NUM_VF),
        vfOffset: cfg.read16(c.offset + SRIOV_VF_OFFSET),
        vfStride: cfg.read16(c.offset + SRIOV_VF_STRIDE),
        vfDeviceId: cfg.read16(c.offset + SRIOV_VF_DID),
      };
      detail = `${desc.sriov.totalVfs} VFs (${desc.sriov.numVfs} enabled), VF device ${desc.sriov.vfDeviceId.toString(16).padStart(4, '0')}`;
    }
    ext.push({ id: c.id, offset: c.offset, version: c.version, name: EXT_CAP_NAMES.get(c.id) ?? `extended capability ${hex(c.id)}`, ...(detail && { detail }) });
  }
  desc.extendedCapabilities = ext;
  return desc;
}

/** Opens the device (it must be bound to vfio-pci, its group viable and free), describes it and closes it. */
export function describeDevice(address: string, options: OpenOptions = {}): DeviceDescription {
  const dev = openDevice(address, options);
  try {
    return describeOpenDevice(dev, options);
  } finally {
    dev.close();
  }
}
