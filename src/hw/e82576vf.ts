/**
 * Intel 82576 virtual function (igbvf, 8086:10ca): the VF's registers and the advanced
 * descriptors it uses, as data. Named as in the Intel 82576EB GbE Controller datasheet
 * (chapter 8, programming interface; §7.1.5 and §7.2.2 for the advanced descriptors) and as
 * Linux's igbvf driver names them. One table for both sides: the driver (src/net/igbvf) and
 * the fake kernel's model of the VF (src/backend/fake/models/igbvf) read the same facts.
 *
 * A VF's BAR0 is 16 KiB and holds only its own slice of the NIC: CTRL (its reset), the PF's
 * STATUS (read-only), its interrupt registers, queue 0 (and 1) of each direction, its
 * mailbox to the PF and its statistics. Receive filtering, the MAC address and VLANs belong
 * to the PF: the VF asks the PF's driver for them through the mailbox (e82576vf-mailbox.ts).
 *
 * Where QEMU 10's emulation (hw/net/igbvf.c, igb_core.c) behaves in a way a driver must know
 * about, the note says "QEMU:".
 */

/** PCI ids: the 82576's virtual function (the PF is 8086:10c9). */
export const INTEL_VENDOR_ID = 0x8086;
export const E82576_VF_DEVICE_ID = 0x10ca;
export const E82576_PF_DEVICE_ID = 0x10c9;

/** BAR0: the VF's registers. */
export const MMIO_BAR = 0;
export const MMIO_SIZE = 16 * 1024;
/** BAR3: the MSI-X table (at 0) and PBA (QEMU: at 0x2000). */
export const MSIX_BAR = 3;
export const MSIX_SIZE = 16 * 1024;
export const MSIX_PBA = 0x2000;
/** MSI-X vectors a VF has (no MSI, no INTx). */
export const MSIX_VECTORS = 3;

// ---- General ------------------------------------------------------------------------

/** VF Control: only RST (bit 26) does anything: it resets the VF's queues and interrupts and tells the PF (VFLRE). */
export const CTRL = 0x0000;
export const CTRL_RST = 1 << 26;

/** The PF's Device Status, read-only to the VF (QEMU: writes are dropped). */
export const STATUS = 0x0008;
export const STATUS_FD = 1 << 0;
export const STATUS_LU = 1 << 1; // link up
export const STATUS_SPEED_SHIFT = 6; // 00 10 Mb/s, 01 100 Mb/s, 1x 1000 Mb/s
export const STATUS_SPEED_MASK = 3 << STATUS_SPEED_SHIFT;
export const STATUS_SPEED_1000 = 2 << STATUS_SPEED_SHIFT;
/** Set while the PF has SR-IOV enabled; bits 17:14 the number of VFs. */
export const STATUS_IOV_MODE = 1 << 18;
export const STATUS_NUM_VFS_SHIFT = 14;

/** Free Running Timer (read-only to the VF). */
export const FRTIMER = 0x1048;

// ---- Interrupts (MSI-X only; bit n of the cause registers is vector n) ----------------

/** Extended Interrupt Cause Set: writing 1s raises those causes. */
export const EICS = 0x1520;
/** Extended Interrupt Mask Set: writing 1s unmasks. QEMU: reads back the last value written, not the mask. */
export const EIMS = 0x1524;
/** Extended Interrupt Mask Clear: writing 1s masks. */
export const EIMC = 0x1528;
/** Extended Interrupt Auto Clear: causes cleared from EICR when their vector fires. */
export const EIAC = 0x152c;
/** Extended Interrupt Auto Mask. QEMU: has no effect (no auto-masking). */
export const EIAM = 0x1530;
/** Extended Interrupt Cause Read, write 1s to clear. QEMU: a read returns the last value written, not the causes: do not rely on it. */
export const EICR = 0x1580;
/** The causes a VF has: one per vector. */
export const EICR_VECTORS = (1 << MSIX_VECTORS) - 1;
/** Interrupt throttling of vector n (0-2), in 1 µs units at bits 14:2. QEMU: not emulated for VFs' vectors. */
export const eitr = (n: number): number => 0x1680 + 4 * n;

/** Interrupt Vector Allocation for the queues: byte 0 receive queue 0, byte 1 transmit queue 0, bytes 2-3 queue 1. */
export const IVAR0 = 0x1700;
/** Vector allocation of the mailbox (and other) cause: byte 0. */
export const IVAR_MISC = 0x1740;
/** Valid bit of an IVAR byte; bits 1:0 are the vector. */
export const IVAR_VALID = 0x80;
export const IVAR_RX0_SHIFT = 0;
export const IVAR_TX0_SHIFT = 8;

// ---- Queues (VF queue n at +0x100·n; the driver uses queue 0) --------------------------

/** Receive Descriptor Base Address Low/High, Length (bytes, a multiple of 128), Head, Tail. */
export const RDBAL = 0x2800;
export const RDBAH = 0x2804;
export const RDLEN = 0x2808;
/** Split and Replication Receive Control. */
export const SRRCTL = 0x280c;
export const RDH = 0x2810;
export const RDT = 0x2818;
/** Receive Descriptor Control: queue enable and the fetch thresholds. */
export const RXDCTL = 0x2828;
/** Transmit Descriptor Base Address Low/High, Length, Head, Tail. */
export const TDBAL = 0x3800;
export const TDBAH = 0x3804;
export const TDLEN = 0x3808;
export const TDH = 0x3810;
export const TDT = 0x3818;
/** Transmit Descriptor Control: queue enable and the thresholds. */
export const TXDCTL = 0x3828;
/** Transmit descriptor head write-back address (bit 0 enables it; not used here). */
export const TDWBAL = 0x3838;
export const TDWBAH = 0x383c;
/** Offset of queue n's register from queue 0's. */
export const QUEUE_STRIDE = 0x100;

/** RXDCTL/TXDCTL: the queue is enabled. */
export const XDCTL_QUEUE_ENABLE = 1 << 25;
/** RXDCTL thresholds Linux's igbvf uses: prefetch 16, host 8, write-back 1. */
export const RXDCTL_THRESHOLDS = 16 | (8 << 8) | (1 << 16);

/** SRRCTL: packet buffer size in 1 KiB units at bits 6:0. */
export const SRRCTL_BSIZEPKT_SHIFT = 10;
export const SRRCTL_BSIZEPKT_MASK = 0x7f;
/** SRRCTL: descriptor type: advanced, one buffer per descriptor. */
export const SRRCTL_DESCTYPE_ADV_ONEBUF = 0x02000000;
export const SRRCTL_DESCTYPE_MASK = 0x0e000000;
/** SRRCTL: drop frames when the ring is full instead of holding the packet buffer. */
export const SRRCTL_DROP_EN = 0x80000000;

/** A descriptor is 16 bytes; ring lengths are multiples of 128 bytes (8 descriptors). */
export const DESC_SIZE = 16;
export const DESC_WORDS = 4;
export const RING_ALIGN_DESCS = 8;

// ---- Mailbox (§7.8.2.9; the protocol is in e82576vf-mailbox.ts) ---------------------

/** The 16-word message buffer shared with the PF. */
export const VMBMEM = 0x0800;
export const MAILBOX_WORDS = 16;
/** VF-to-PF mailbox control. */
export const V2PMAILBOX = 0x0c40;
/** VF: a message for the PF is in the buffer (write). */
export const V2P_REQ = 1 << 0;
/** VF: the PF's message was read (write). */
export const V2P_ACK = 1 << 1;
/** The VF holds the buffer (write to take it, read to check). */
export const V2P_VFU = 1 << 2;
/** The PF holds the buffer. */
export const V2P_PFU = 1 << 3;
/** The PF wrote a message (cleared by reading V2PMAILBOX). */
export const V2P_PFSTS = 1 << 4;
/** The PF read the VF's message (cleared by reading). */
export const V2P_PFACK = 1 << 5;
/** The PF is resetting: stays set until its driver signals reset done. */
export const V2P_RSTI = 1 << 6;
/** The PF's reset is done (cleared by reading). QEMU: set only when the PF's driver writes CTRL_EXT.PFRSTD, not after a VF reset. */
export const V2P_RSTD = 1 << 7;
/** The bits a read of V2PMAILBOX clears. */
export const V2P_READ_TO_CLEAR = V2P_PFSTS | V2P_PFACK | V2P_RSTD;

// ---- Statistics (32-bit, never cleared: they wrap) ----------------------------------

/** Good packets received / transmitted, good octets received / transmitted, multicast received. */
export const VFGPRC = 0x0f10;
export const VFGPTC = 0x0f14;
export const VFGORC = 0x0f18;
export const VFGOTC = 0x0f34;
export const VFMPRC = 0x0f3c;
/** The same for traffic looped back between functions of the NIC. */
export const VFGPRLBC = 0x0f40;
export const VFGPTLBC = 0x0f44;
export const VFGORLBC = 0x0f48;
export const VFGOTLBC = 0x0f50;

// ---- Advanced receive descriptor (§7.1.5) -------------------------------------------

// Read format: words 0-1 the packet buffer address, words 2-3 the header buffer address
// (0: no header split). Write-back format: word 0 packet/header info, word 1 RSS hash or IP
// id and checksum, word 2 extended status and errors, word 3 length (15:0) and VLAN (31:16).
/** Write-back word holding status and errors. */
export const RXW_STATUS = 2;
/** Write-back word holding the length (bits 15:0). */
export const RXW_LENGTH = 3;
export const RXD_STAT_DD = 1 << 0;
export const RXD_STAT_EOP = 1 << 1;
export const RXD_STAT_VP = 1 << 3;
/** Frame errors (CRC, symbol, sequence, carrier extension, RX data): Linux drops these. */
export const RXDEXT_ERR_FRAME = (1 << 24) | (1 << 25) | (1 << 26) | (1 << 28) | (1 << 31);
/** The status word of a complete, error-free frame, masked with RXW_GOOD_MASK. */
export const RXW_GOOD = RXD_STAT_DD | RXD_STAT_EOP;
export const RXW_GOOD_MASK = RXD_STAT_DD | RXD_STAT_EOP | RXDEXT_ERR_FRAME;

// ---- Advanced transmit data descriptor (§7.2.2.3) -----------------------------------

// Read format: words 0-1 the buffer address, word 2 cmd_type_len, word 3 olinfo_status.
// Write-back: word 3 bit 0 (DD) once the NIC is done with it (when RS asked for it).
export const TXW_CMD_TYPE_LEN = 2;
export const TXW_OLINFO_STATUS = 3;
/** Descriptor type: advanced data (with DEXT). */
export const ADVTXD_DTYP_DATA = 0x00300000;
/** Descriptor type: advanced context (with DEXT). */
export const ADVTXD_DTYP_CTXT = 0x00200000;
export const ADVTXD_DTYP_MASK = 0x00f00000;
export const ADVTXD_DCMD_EOP = 1 << 24;
export const ADVTXD_DCMD_IFCS = 1 << 25;
export const ADVTXD_DCMD_RS = 1 << 27;
export const ADVTXD_DCMD_DEXT = 1 << 29;
/** olinfo_status: the payload length (the whole frame for a data descriptor without offloads), bits 31:14. */
export const ADVTXD_PAYLEN_SHIFT = 14;
/** Write-back: done. */
export const TXD_STAT_DD = 1 << 0;

/** The buffer size SRRCTL.BSIZEPKT encodes for `bytes` (a multiple of 1 KiB, 1 KiB-127 KiB), or undefined. */
export function srrctlBufferSize(bytes: number): number | undefined {
  const units = bytes / 1024;
  return Number.isInteger(units) && units >= 1 && units <= SRRCTL_BSIZEPKT_MASK ? units : undefined;
}
