// PCI configuration space layout (type-0 header, capability registers).

export const PCI_CFG_SPACE_SIZE = 256;
/** PCIe extends config space to 4 KiB; extended capabilities live above 0x100. */
export const PCI_CFG_SPACE_EXP_SIZE = 4096;
export const PCI_STD_HEADER_SIZEOF = 64;
export const PCI_STD_NUM_BARS = 6;

export const PCI_VENDOR_ID = 0x00;
export const PCI_DEVICE_ID = 0x02;

export const PCI_COMMAND = 0x04;
export const PCI_COMMAND_IO = 0x1;
export const PCI_COMMAND_MEMORY = 0x2;
/** Without it the device cannot DMA, and MSI writes are DMA too. */
export const PCI_COMMAND_MASTER = 0x4;
export const PCI_COMMAND_PARITY = 0x40;
export const PCI_COMMAND_SERR = 0x100;
export const PCI_COMMAND_INTX_DISABLE = 0x400;

export const PCI_STATUS = 0x06;
export const PCI_STATUS_INTERRUPT = 0x08;
export const PCI_STATUS_CAP_LIST = 0x10;

/** 32-bit read: revision in the low byte, class code in the upper 24 bits. */
export const PCI_CLASS_REVISION = 0x08;
export const PCI_REVISION_ID = 0x08;
export const PCI_CLASS_PROG = 0x09;
/** 16 bits: base class in the high byte, subclass in the low. */
export const PCI_CLASS_DEVICE = 0x0a;
export const PCI_CACHE_LINE_SIZE = 0x0c;
export const PCI_LATENCY_TIMER = 0x0d;

export const PCI_HEADER_TYPE = 0x0e;
export const PCI_HEADER_TYPE_MASK = 0x7f;
export const PCI_HEADER_TYPE_NORMAL = 0;
export const PCI_HEADER_TYPE_BRIDGE = 1;
export const PCI_HEADER_TYPE_CARDBUS = 2;
/** Newer than the 6.1 uAPI header, which left bit 7 unnamed. */
export const PCI_HEADER_TYPE_MFD = 0x80;

export const PCI_BIST = 0x0f;

export const PCI_BASE_ADDRESS_0 = 0x10;
export const PCI_BASE_ADDRESS_1 = 0x14;
export const PCI_BASE_ADDRESS_2 = 0x18;
export const PCI_BASE_ADDRESS_3 = 0x1c;
export const PCI_BASE_ADDRESS_4 = 0x20;
export const PCI_BASE_ADDRESS_5 = 0x24;
export const PCI_BASE_ADDRESS_SPACE = 0x01;
export const PCI_BASE_ADDRESS_SPACE_IO = 0x01;
export const PCI_BASE_ADDRESS_SPACE_MEMORY = 0x00;
export const PCI_BASE_ADDRESS_MEM_TYPE_MASK = 0x06;
export const PCI_BASE_ADDRESS_MEM_TYPE_32 = 0x00;
export const PCI_BASE_ADDRESS_MEM_TYPE_1M = 0x02;
/** The next BAR holds the upper 32 address bits. */
export const PCI_BASE_ADDRESS_MEM_TYPE_64 = 0x04;
export const PCI_BASE_ADDRESS_MEM_PREFETCH = 0x08;
// As masks of the 32-bit register; C spells them ~0x0fUL, which is 64-bit on LP64.
export const PCI_BASE_ADDRESS_MEM_MASK = 0xfffffff0;
export const PCI_BASE_ADDRESS_IO_MASK = 0xfffffffc;

/** The config offset of BAR `bar` (0–5); a RangeError for any other. */
export function pciBarOffset(bar: number): number {
  if (!Number.isInteger(bar) || bar < 0 || bar >= PCI_STD_NUM_BARS) throw new RangeError(`BAR ${bar} is not 0..5`);
  return PCI_BASE_ADDRESS_0 + 4 * bar;
}

export const PCI_CARDBUS_CIS = 0x28;
export const PCI_SUBSYSTEM_VENDOR_ID = 0x2c;
export const PCI_SUBSYSTEM_ID = 0x2e;
export const PCI_ROM_ADDRESS = 0x30;
export const PCI_ROM_ADDRESS_ENABLE = 0x01;
export const PCI_ROM_ADDRESS_MASK = 0xfffff800;
export const PCI_CAPABILITY_LIST = 0x34;
export const PCI_INTERRUPT_LINE = 0x3c;
/** 0 none, 1..4 INTA..INTD. */
export const PCI_INTERRUPT_PIN = 0x3d;
export const PCI_MIN_GNT = 0x3e;
export const PCI_MAX_LAT = 0x3f;

// Standard capability header: id byte, next-pointer byte.
export const PCI_CAP_LIST_ID = 0;
export const PCI_CAP_LIST_NEXT = 1;
export const PCI_CAP_FLAGS = 2;
export const PCI_CAP_SIZEOF = 4;

export const PCI_CAP_ID_PM = 0x01;
export const PCI_CAP_ID_AGP = 0x02;
export const PCI_CAP_ID_VPD = 0x03;
export const PCI_CAP_ID_SLOTID = 0x04;
export const PCI_CAP_ID_MSI = 0x05;
export const PCI_CAP_ID_CHSWP = 0x06;
export const PCI_CAP_ID_PCIX = 0x07;
export const PCI_CAP_ID_HT = 0x08;
export const PCI_CAP_ID_VNDR = 0x09;
export const PCI_CAP_ID_DBG = 0x0a;
export const PCI_CAP_ID_CCRC = 0x0b;
export const PCI_CAP_ID_SHPC = 0x0c;
export const PCI_CAP_ID_SSVID = 0x0d;
export const PCI_CAP_ID_AGP3 = 0x0e;
export const PCI_CAP_ID_SECDEV = 0x0f;
export const PCI_CAP_ID_EXP = 0x10;
export const PCI_CAP_ID_MSIX = 0x11;
export const PCI_CAP_ID_SATA = 0x12;
export const PCI_CAP_ID_AF = 0x13;
export const PCI_CAP_ID_EA = 0x14;

// Extended capability ids (Linux spells AER as ERR).
export const PCI_EXT_CAP_ID_ERR = 0x01;
export const PCI_EXT_CAP_ID_VC = 0x02;
export const PCI_EXT_CAP_ID_DSN = 0x03;
export const PCI_EXT_CAP_ID_PWR = 0x04;
export const PCI_EXT_CAP_ID_RCLD = 0x05;
export const PCI_EXT_CAP_ID_RCILC = 0x06;
export const PCI_EXT_CAP_ID_RCEC = 0x07;
export const PCI_EXT_CAP_ID_MFVC = 0x08;
export const PCI_EXT_CAP_ID_VC9 = 0x09;
export const PCI_EXT_CAP_ID_RCRB = 0x0a;
export const PCI_EXT_CAP_ID_VNDR = 0x0b;
export const PCI_EXT_CAP_ID_CAC = 0x0c;
export const PCI_EXT_CAP_ID_ACS = 0x0d;
export const PCI_EXT_CAP_ID_ARI = 0x0e;
export const PCI_EXT_CAP_ID_ATS = 0x0f;
export const PCI_EXT_CAP_ID_SRIOV = 0x10;
export const PCI_EXT_CAP_ID_MRIOV = 0x11;
export const PCI_EXT_CAP_ID_MCAST = 0x12;
export const PCI_EXT_CAP_ID_PRI = 0x13;
export const PCI_EXT_CAP_ID_AMD_XXX = 0x14;
export const PCI_EXT_CAP_ID_REBAR = 0x15;
export const PCI_EXT_CAP_ID_DPA = 0x16;
export const PCI_EXT_CAP_ID_TPH = 0x17;
export const PCI_EXT_CAP_ID_LTR = 0x18;
export const PCI_EXT_CAP_ID_SECPCI = 0x19;
export const PCI_EXT_CAP_ID_PMUX = 0x1a;
export const PCI_EXT_CAP_ID_PASID = 0x1b;
export const PCI_EXT_CAP_ID_DPC = 0x1d;
export const PCI_EXT_CAP_ID_L1SS = 0x1e;
export const PCI_EXT_CAP_ID_PTM = 0x1f;
export const PCI_EXT_CAP_ID_DVSEC = 0x23;
export const PCI_EXT_CAP_ID_DLF = 0x25;
export const PCI_EXT_CAP_ID_PL_16GT = 0x26;
/** Newer than the 6.1 uAPI header. */
export const PCI_EXT_CAP_ID_PL_32GT = 0x2a;
export const PCI_EXT_CAP_ID_DOE = 0x2e;

// Extended capability header: id in bits 15:0, version 19:16, next 31:20.
/** The ID field of an extended capability header (the dword at its offset). */
export const pciExtCapId = (header: number): number => header & 0xffff;
/** The version field of an extended capability header. */
export const pciExtCapVersion = (header: number): number => (header >>> 16) & 0xf;
/** The next-capability offset of an extended capability header (0: the last). */
export const pciExtCapNext = (header: number): number => (header >>> 20) & 0xffc;

export const PCI_PM_PMC = 2;
export const PCI_PM_CTRL = 4;
/** D0..D3hot in the low two bits of PM_CTRL. */
export const PCI_PM_CTRL_STATE_MASK = 0x0003;
/** The device keeps its state across D3hot→D0: a PM reset is no reset. */
export const PCI_PM_CTRL_NO_SOFT_RESET = 0x0008;

export const PCI_MSI_FLAGS = 0x02;
export const PCI_MSI_FLAGS_ENABLE = 0x0001;
/** log2 of the vectors the device can use. */
export const PCI_MSI_FLAGS_QMASK = 0x000e;
/** log2 of the vectors enabled. */
export const PCI_MSI_FLAGS_QSIZE = 0x0070;
export const PCI_MSI_FLAGS_64BIT = 0x0080;
export const PCI_MSI_FLAGS_MASKBIT = 0x0100;
export const PCI_MSI_ADDRESS_LO = 0x04;
export const PCI_MSI_ADDRESS_HI = 0x08;
// The data/mask/pending registers move by 4 bytes depending on FLAGS_64BIT.
export const PCI_MSI_DATA_32 = 0x08;
export const PCI_MSI_MASK_32 = 0x0c;
export const PCI_MSI_PENDING_32 = 0x10;
export const PCI_MSI_DATA_64 = 0x0c;
export const PCI_MSI_MASK_64 = 0x10;
export const PCI_MSI_PENDING_64 = 0x14;

export const PCI_MSIX_FLAGS = 2;
/** Table size minus one. */
export const PCI_MSIX_FLAGS_QSIZE = 0x07ff;
export const PCI_MSIX_FLAGS_MASKALL = 0x4000;
export const PCI_MSIX_FLAGS_ENABLE = 0x8000;
export const PCI_MSIX_TABLE = 4;
export const PCI_MSIX_TABLE_BIR = 0x00000007;
export const PCI_MSIX_TABLE_OFFSET = 0xfffffff8;
export const PCI_MSIX_PBA = 8;
export const PCI_MSIX_PBA_BIR = 0x00000007;
export const PCI_MSIX_PBA_OFFSET = 0xfffffff8;
export const PCI_CAP_MSIX_SIZEOF = 12;
export const PCI_MSIX_ENTRY_SIZE = 16;
export const PCI_MSIX_ENTRY_LOWER_ADDR = 0x0;
export const PCI_MSIX_ENTRY_UPPER_ADDR = 0x4;
export const PCI_MSIX_ENTRY_DATA = 0x8;
export const PCI_MSIX_ENTRY_VECTOR_CTRL = 0xc;
export const PCI_MSIX_ENTRY_CTRL_MASKBIT = 0x00000001;

// PCI Express capability: just what function-level reset needs.
export const PCI_EXP_FLAGS = 0x02;
export const PCI_EXP_DEVCAP = 0x04;
export const PCI_EXP_DEVCAP_FLR = 0x10000000;
export const PCI_EXP_LNKSTA = 0x12;
export const PCI_EXP_DEVCTL = 0x08;
export const PCI_EXP_DEVCTL_BCR_FLR = 0x8000;
export const PCI_EXP_DEVSTA = 0x0a;
/** Transactions pending: wait for it to clear before an FLR. */
export const PCI_EXP_DEVSTA_TRPND = 0x0020;

// devfn packs a 5-bit slot and a 3-bit function.
/** PCI_SLOT(): the device number of a devfn. */
export const pciSlot = (devfn: number): number => (devfn >> 3) & 0x1f;
/** PCI_FUNC(): the function number of a devfn. */
export const pciFunc = (devfn: number): number => devfn & 0x07;
/** PCI_DEVFN(): a devfn from device (slot) and function numbers. */
export const pciDevfn = (slot: number, func: number): number => ((slot & 0x1f) << 3) | (func & 0x07);

// SR-IOV extended capability registers (PCIe base spec 9.3.3).
export const PCI_SRIOV_INITIAL_VF = 0x0c;
export const PCI_SRIOV_TOTAL_VF = 0x0e;
export const PCI_SRIOV_NUM_VF = 0x10;
export const PCI_SRIOV_VF_OFFSET = 0x14;
export const PCI_SRIOV_VF_STRIDE = 0x16;
export const PCI_SRIOV_VF_DID = 0x1a;
