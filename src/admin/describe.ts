// The VFIO view of one device, as plain data (`vfio info`): regions, IRQs, PCI
// capabilities decoded where they matter to a driver (MSI, MSI-X, PCIe, SR-IOV,
// power management), reset support and the other members of its IOMMU group; for a virtio
// function, its device type and offered features (describe-virtio.ts).
// The device is opened through the object model and closed again.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDevice, type OpenOptions } from '../open.js';
import type { Device } from '../model/device.js';
import { regionName } from '../model/region.js';
import { describeVirtio, virtioCapDetail, type VirtioDescription } from './describe-virtio.js';
import { groupViability, vfioGroupNode } from '../host/groups.js';
import { pciId, readPciDevice, sysPath, type SysfsOptions } from '../host/pci.js';
import { pciClassName } from '../uapi/pci-class.js';
import {
  PCI_CAP_ID_AF,
  PCI_CAP_ID_AGP,
  PCI_CAP_ID_AGP3,
  PCI_CAP_ID_CCRC,
  PCI_CAP_ID_CHSWP,
  PCI_CAP_ID_DBG,
  PCI_CAP_ID_EA,
  PCI_CAP_ID_EXP,
  PCI_CAP_ID_HT,
  PCI_CAP_ID_MSI,
  PCI_CAP_ID_MSIX,
  PCI_CAP_ID_PCIX,
  PCI_CAP_ID_PM,
  PCI_CAP_ID_SATA,
  PCI_CAP_ID_SECDEV,
  PCI_CAP_ID_SHPC,
  PCI_CAP_ID_SLOTID,
  PCI_CAP_ID_SSVID,
  PCI_CAP_ID_VNDR,
  PCI_CAP_ID_VPD,
  PCI_EXP_DEVCAP,
  PCI_EXP_DEVCAP_FLR,
  PCI_EXP_FLAGS,
  PCI_EXP_LNKSTA,
  PCI_EXT_CAP_ID_ACS,
  PCI_EXT_CAP_ID_ARI,
  PCI_EXT_CAP_ID_ATS,
  PCI_EXT_CAP_ID_CAC,
  PCI_EXT_CAP_ID_DLF,
  PCI_EXT_CAP_ID_DOE,
  PCI_EXT_CAP_ID_DPA,
  PCI_EXT_CAP_ID_DPC,
  PCI_EXT_CAP_ID_DSN,
  PCI_EXT_CAP_ID_DVSEC,
  PCI_EXT_CAP_ID_ERR,
  PCI_EXT_CAP_ID_L1SS,
  PCI_EXT_CAP_ID_LTR,
  PCI_EXT_CAP_ID_MCAST,
  PCI_EXT_CAP_ID_MFVC,
  PCI_EXT_CAP_ID_MRIOV,
  PCI_EXT_CAP_ID_PASID,
  PCI_EXT_CAP_ID_PL_16GT,
  PCI_EXT_CAP_ID_PL_32GT,
  PCI_EXT_CAP_ID_PMUX,
  PCI_EXT_CAP_ID_PRI,
  PCI_EXT_CAP_ID_PTM,
  PCI_EXT_CAP_ID_PWR,
  PCI_EXT_CAP_ID_RCEC,
  PCI_EXT_CAP_ID_RCILC,
  PCI_EXT_CAP_ID_RCLD,
  PCI_EXT_CAP_ID_RCRB,
  PCI_EXT_CAP_ID_REBAR,
  PCI_EXT_CAP_ID_SECPCI,
  PCI_EXT_CAP_ID_SRIOV,
  PCI_EXT_CAP_ID_TPH,
  PCI_EXT_CAP_ID_VC,
  PCI_EXT_CAP_ID_VC9,
  PCI_EXT_CAP_ID_VNDR,
  PCI_MSIX_FLAGS,
  PCI_MSIX_FLAGS_QSIZE,
  PCI_MSIX_PBA,
  PCI_MSIX_TABLE,
  PCI_MSI_FLAGS,
  PCI_MSI_FLAGS_64BIT,
  PCI_MSI_FLAGS_MASKBIT,
  PCI_MSI_FLAGS_QMASK,
  PCI_PM_CTRL,
  PCI_PM_CTRL_NO_SOFT_RESET,
  PCI_SRIOV_INITIAL_VF,
  PCI_SRIOV_NUM_VF,
  PCI_SRIOV_TOTAL_VF,
  PCI_SRIOV_VF_DID,
  PCI_SRIOV_VF_OFFSET,
  PCI_SRIOV_VF_STRIDE,
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

/** One VFIO region of a described device. */
export interface RegionDescription {
  /** The VFIO region index. */
  readonly index: number;
  /** 'BAR0' … 'BAR5', 'ROM', 'config', 'VGA', 'region N'. */
  readonly name: string;
  /** 0: the device does not implement it. */
  readonly size: number;
  /** Where it sits in the device fd. */
  readonly offset: number;
  /** The kernel lets it be read. */
  readonly read: boolean;
  /** The kernel lets it be written. */
  readonly write: boolean;
  /** The kernel lets it be mmapped. */
  readonly mmap: boolean;
  /** The parts that can be mmapped (the whole region unless the kernel lists sparse areas). */
  readonly mmapAreas: readonly {
    /** Region offset of the area, in bytes. */
    readonly offset: number;
    /** Bytes. */
    readonly size: number;
  }[];
  /** Set when the kernel listed sparse areas (e.g. around an MSI-X table). */
  readonly sparse: boolean;
  /** The kernel lets the MSI-X table's pages be mmapped too (VFIO_REGION_INFO_CAP_MSIX_MAPPABLE). */
  readonly msixMappable: boolean;
  /** The TYPE capability of device-specific regions. */
  readonly type?: {
    /** VFIO_REGION_TYPE_*: the vendor (PCI vendor ID with the PCI bit) or a generic class. */
    readonly type: number;
    /** The subtype within `type`. */
    readonly subtype: number;
  };
  /** Why VFIO_DEVICE_GET_REGION_INFO failed for this index (e.g. VGA on a non-VGA device). */
  readonly error?: string;
}

/** One VFIO IRQ index of a described device (VFIO_DEVICE_GET_IRQ_INFO). */
export interface IrqDescription {
  /** The VFIO IRQ index. */
  readonly index: number;
  /** 'INTx', 'MSI', 'MSI-X', 'ERR', 'REQ' or 'IRQ N'. */
  readonly name: string;
  /** Vectors offered; 0: none. */
  readonly count: number;
  /** Signalled through an eventfd (VFIO_IRQ_INFO_EVENTFD). */
  readonly eventfd: boolean;
  /** Can be masked and unmasked (VFIO_IRQ_INFO_MASKABLE). */
  readonly maskable: boolean;
  /** The kernel masks it on each interrupt, as for INTx (VFIO_IRQ_INFO_AUTOMASKED). */
  readonly automasked: boolean;
  /** Vectors cannot be added once enabled: disable and re-enable to change the count (VFIO_IRQ_INFO_NORESIZE). */
  readonly noresize: boolean;
  /** Why VFIO_DEVICE_GET_IRQ_INFO failed for this index. */
  readonly error?: string;
}

/** One PCI capability (standard or extended) of a described device. */
export interface CapabilityDescription {
  /** The capability ID (PCI_CAP_ID_* or PCI_EXT_CAP_ID_*). */
  readonly id: number;
  /** Where it starts in config space. */
  readonly offset: number;
  /** Its name ('MSI-X', 'Advanced Error Reporting'), or the ID in hex when unknown. */
  readonly name: string;
  /** Extended capabilities only. */
  readonly version?: number;
  /** A decoded summary where there is one ('5 vectors, table BAR3+0x0'). */
  readonly detail?: string;
}

/** Another device of the same IOMMU group. */
export interface GroupMemberDescription {
  /** Its PCI address. */
  readonly address: string;
  /** 'vvvv:dddd' (vendor:device, hex). */
  readonly id: string;
  /** The name of its class code. */
  readonly className: string;
  /** Its bound driver, or null. */
  readonly driver: string | null;
}

/** The VFIO view of one device, as plain data (describeDevice, `vfio info`). */
export interface DeviceDescription {
  /** Its PCI address, 'dddd:bb:dd.f'. */
  readonly address: string;
  /** 'vvvv:dddd' (vendor:device, hex). */
  readonly id: string;
  /** PCI vendor ID. */
  readonly vendor: number;
  /** PCI device ID. */
  readonly device: number;
  /** 24-bit class code (class, subclass, prog-if). */
  readonly classCode: number;
  /** The name of its class code ('Ethernet controller'). */
  readonly className: string;
  /** Its bound driver (vfio-pci, as it was opened), or null. */
  readonly driver: string | null;
  /** Its IOMMU group, or null. */
  readonly iommuGroup: number | null;
  /** Whether the group is viable as sysfs tells; null without a group. */
  readonly groupViable: boolean | null;
  /** '/dev/vfio/N' when it exists, else null. */
  readonly vfioNode: string | null;
  /** The other devices of its IOMMU group. */
  readonly groupMembers: readonly GroupMemberDescription[];
  /** VFIO_DEVICE_GET_INFO flags by name ('pci', 'reset', 'caps'). */
  readonly deviceFlags: readonly string[];
  /** VFIO_DEVICE_RESET is offered. */
  readonly canReset: boolean;
  /** The kernel's reset methods from sysfs reset_method ('flr', 'pm', 'bus' …); null when the file is absent. */
  readonly resetMethods: readonly string[] | null;
  /** Every VFIO region, in index order. */
  readonly regions: readonly RegionDescription[];
  /** Every VFIO IRQ index, in index order. */
  readonly irqs: readonly IrqDescription[];
  /** The standard PCI capabilities, in list order. */
  readonly capabilities: readonly CapabilityDescription[];
  /** The PCIe extended capabilities, in list order (empty with 256-byte config space). */
  readonly extendedCapabilities: readonly CapabilityDescription[];
  /** The MSI capability, decoded; absent when the device has none. */
  readonly msi?: {
    /** Vectors the device can request (Multiple Message Capable). */
    readonly vectors: number;
    /** 64-bit message addresses. */
    readonly addr64: boolean;
    /** Per-vector masking. */
    readonly maskable: boolean;
  };
  /** The MSI-X capability, decoded; absent when the device has none. */
  readonly msix?: {
    /** Vectors in the table. */
    readonly tableSize: number;
    /** Where the vector table is. */
    readonly table: {
      /** BAR index. */
      readonly bar: number;
      /** Byte offset in the BAR. */
      readonly offset: number;
    };
    /** Where the pending bit array is. */
    readonly pba: {
      /** BAR index. */
      readonly bar: number;
      /** Byte offset in the BAR. */
      readonly offset: number;
    };
  };
  /** The PCI Express capability, decoded; absent for conventional PCI. */
  readonly pcie?: {
    /** Device/port type: 'Endpoint', 'Root Port', … or 'type N'. */
    readonly type: string;
    /** Capability version. */
    readonly version: number;
    /** Function Level Reset is supported. */
    readonly flr: boolean;
    /** Negotiated link, e.g. '8 GT/s x4'; absent for root complex devices or a link that is down. */
    readonly link?: string;
  };
  /** The SR-IOV capability, decoded; absent when the device has none. */
  readonly sriov?: {
    /** TotalVFs. */
    readonly totalVfs: number;
    /** InitialVFs. */
    readonly initialVfs: number;
    /** NumVFs: VFs currently enabled. */
    readonly numVfs: number;
    /** First VF Offset (routing ID). */
    readonly vfOffset: number;
    /** VF Stride (routing ID). */
    readonly vfStride: number;
    /** VF Device ID. */
    readonly vfDeviceId: number;
  };
  /** The power management capability, decoded; absent when the device has none. */
  readonly pm?: {
    /** D3hot→D0 keeps the device's state (No_Soft_Reset): a PM reset resets nothing. */
    readonly noSoftReset: boolean;
  };
  /** A virtio function's device type and offered features; absent for other devices. */
  readonly virtio?: VirtioDescription;
}

const CAP_NAMES: ReadonlyMap<number, string> = new Map([
  [PCI_CAP_ID_PM, 'Power Management'],
  [PCI_CAP_ID_AGP, 'AGP'],
  [PCI_CAP_ID_VPD, 'Vital Product Data'],
  [PCI_CAP_ID_SLOTID, 'Slot Identification'],
  [PCI_CAP_ID_MSI, 'MSI'],
  [PCI_CAP_ID_CHSWP, 'CompactPCI Hot Swap'],
  [PCI_CAP_ID_PCIX, 'PCI-X'],
  [PCI_CAP_ID_HT, 'HyperTransport'],
  [PCI_CAP_ID_VNDR, 'Vendor Specific'],
  [PCI_CAP_ID_DBG, 'Debug Port'],
  [PCI_CAP_ID_CCRC, 'CompactPCI Central Resource Control'],
  [PCI_CAP_ID_SHPC, 'PCI Hot-Plug (SHPC)'],
  [PCI_CAP_ID_SSVID, 'Subsystem Vendor ID'],
  [PCI_CAP_ID_AGP3, 'AGP 8x'],
  [PCI_CAP_ID_SECDEV, 'Secure Device'],
  [PCI_CAP_ID_EXP, 'PCI Express'],
  [PCI_CAP_ID_MSIX, 'MSI-X'],
  [PCI_CAP_ID_SATA, 'SATA'],
  [PCI_CAP_ID_AF, 'Advanced Features'],
  [PCI_CAP_ID_EA, 'Enhanced Allocation'],
]);

const EXT_CAP_NAMES: ReadonlyMap<number, string> = new Map([
  [PCI_EXT_CAP_ID_ERR, 'Advanced Error Reporting'],
  [PCI_EXT_CAP_ID_VC, 'Virtual Channel'],
  [PCI_EXT_CAP_ID_DSN, 'Device Serial Number'],
  [PCI_EXT_CAP_ID_PWR, 'Power Budgeting'],
  [PCI_EXT_CAP_ID_RCLD, 'Root Complex Link Declaration'],
  [PCI_EXT_CAP_ID_RCILC, 'Root Complex Internal Link Control'],
  [PCI_EXT_CAP_ID_RCEC, 'Root Complex Event Collector'],
  [PCI_EXT_CAP_ID_MFVC, 'Multi-Function Virtual Channel'],
  [PCI_EXT_CAP_ID_VC9, 'Virtual Channel (MFVC)'],
  [PCI_EXT_CAP_ID_RCRB, 'Root Complex Register Block'],
  [PCI_EXT_CAP_ID_VNDR, 'Vendor Specific'],
  [PCI_EXT_CAP_ID_CAC, 'Config Access Correlation'],
  [PCI_EXT_CAP_ID_ACS, 'Access Control Services'],
  [PCI_EXT_CAP_ID_ARI, 'Alternative Routing-ID'],
  [PCI_EXT_CAP_ID_ATS, 'Address Translation Services'],
  [PCI_EXT_CAP_ID_SRIOV, 'SR-IOV'],
  [PCI_EXT_CAP_ID_MRIOV, 'MR-IOV'],
  [PCI_EXT_CAP_ID_MCAST, 'Multicast'],
  [PCI_EXT_CAP_ID_PRI, 'Page Request'],
  [PCI_EXT_CAP_ID_REBAR, 'Resizable BAR'],
  [PCI_EXT_CAP_ID_DPA, 'Dynamic Power Allocation'],
  [PCI_EXT_CAP_ID_TPH, 'TPH Requester'],
  [PCI_EXT_CAP_ID_LTR, 'Latency Tolerance Reporting'],
  [PCI_EXT_CAP_ID_SECPCI, 'Secondary PCI Express'],
  [PCI_EXT_CAP_ID_PMUX, 'Protocol Multiplexing'],
  [PCI_EXT_CAP_ID_PASID, 'PASID'],
  [PCI_EXT_CAP_ID_DPC, 'Downstream Port Containment'],
  [PCI_EXT_CAP_ID_L1SS, 'L1 PM Substates'],
  [PCI_EXT_CAP_ID_PTM, 'Precision Time Measurement'],
  [PCI_EXT_CAP_ID_DVSEC, 'Designated Vendor-Specific'],
  [PCI_EXT_CAP_ID_DLF, 'Data Link Feature'],
  [PCI_EXT_CAP_ID_PL_16GT, 'Physical Layer 16 GT/s'],
  [PCI_EXT_CAP_ID_PL_32GT, 'Physical Layer 32 GT/s'],
  [PCI_EXT_CAP_ID_DOE, 'Data Object Exchange'],
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

const IRQ_NAMES = ['INTx', 'MSI', 'MSI-X', 'ERR', 'REQ'];

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
        initialVfs: cfg.read16(c.offset + PCI_SRIOV_INITIAL_VF),
        totalVfs: cfg.read16(c.offset + PCI_SRIOV_TOTAL_VF),
        numVfs: cfg.read16(c.offset + PCI_SRIOV_NUM_VF),
        vfOffset: cfg.read16(c.offset + PCI_SRIOV_VF_OFFSET),
        vfStride: cfg.read16(c.offset + PCI_SRIOV_VF_STRIDE),
        vfDeviceId: cfg.read16(c.offset + PCI_SRIOV_VF_DID),
      };
      detail = `${desc.sriov.totalVfs} VFs (${desc.sriov.numVfs} enabled), VF device ${desc.sriov.vfDeviceId.toString(16).padStart(4, '0')}`;
    }
    ext.push({ id: c.id, offset: c.offset, version: c.version, name: EXT_CAP_NAMES.get(c.id) ?? `extended capability ${hex(c.id)}`, ...(detail && { detail }) });
  }
  desc.extendedCapabilities = ext;
  const virtio = describeVirtio(dev);
  if (virtio) {
    desc.virtio = virtio;
    // Its vendor-specific capabilities are the virtio structures' locations: say which is where.
    desc.capabilities = caps.map((c) => (c.id === PCI_CAP_ID_VNDR ? { ...c, detail: virtioCapDetail(cfg, c.offset) } : c));
  }
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
