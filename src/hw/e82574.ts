/**
 * Intel 82574 (e1000e) registers and descriptor layouts, named as
 * in the Intel 82574 GbE Controller Family Datasheet. Section numbers refer to that
 * datasheet: chapter 10 (Programming Interface) for registers, chapter 7 (Inline
 * Functions) for descriptors. All registers are 32 bits wide, in BAR0 (128 KiB). One table for
 * both sides: the driver (src/net/e1000e) and the fake kernel's model of the NIC
 * (src/backend/fake/models/e1000e) read the same facts.
 *
 * Registers are cited by their group's section (§10.2.2 general, §10.2.4 interrupts, §10.2.5
 * receive, §10.2.6 transmit), with the register's own subsection where it is well known.
 *
 * Where QEMU 7.2's emulation (hw/net/e1000e_core.c) behaves in a way a driver must
 * know about, the note says "QEMU:".
 */

/** PCI ids of the 82574L and 82574LA (datasheet chapter 9, PCI configuration space). */
export const INTEL_VENDOR_ID = 0x8086;
export const E82574_DEVICE_IDS: readonly number[] = [0x10d3, 0x10f6];

// ---- General registers (§10.2.2) ---------------------------------------------------

/** Device Control (§10.2.2.1). */
export const CTRL = 0x0000;
export const CTRL_FD = 1 << 0; // full duplex
export const CTRL_GIO_MASTER_DISABLE = 1 << 2;
export const CTRL_ASDE = 1 << 5; // auto-speed detection
export const CTRL_SLU = 1 << 6; // set link up
export const CTRL_FRCSPD = 1 << 11; // force speed
export const CTRL_FRCDPX = 1 << 12; // force duplex
export const CTRL_RST = 1 << 26; // device reset, self-clearing
export const CTRL_VME = 1 << 30; // VLAN mode
export const CTRL_PHY_RST = 1 << 31;

/** Device Status, read-only (§10.2.2.2). */
export const STATUS = 0x0008;
export const STATUS_FD = 1 << 0;
export const STATUS_LU = 1 << 1; // link up
export const STATUS_SPEED_SHIFT = 6; // 00 10 Mb/s, 01 100 Mb/s, 1x 1000 Mb/s
export const STATUS_SPEED_MASK = 3 << STATUS_SPEED_SHIFT;

/** EEPROM/Flash Control (§10.2.2). */
export const EEC = 0x0010;
export const EEC_AUTO_RD = 1 << 9; // NVM auto-read done after reset

/** EEPROM Read (§10.2.2): write START with the word address, poll DONE, data in 31:16. */
export const EERD = 0x0014;
export const EERD_START = 1 << 0;
export const EERD_DONE = 1 << 1;
export const EERD_ADDR_SHIFT = 2;
export const EERD_DATA_SHIFT = 16;

/** Extended Device Control (§10.2.2). */
export const CTRL_EXT = 0x0018;
export const CTRL_EXT_EIAME = 1 << 24;
export const CTRL_EXT_IAME = 1 << 27;

/** MDI Control (§10.2.2): access to the PHY's registers. */
export const MDIC = 0x0020;
export const MDIC_DATA_MASK = 0xffff;
export const MDIC_REG_SHIFT = 16;
export const MDIC_PHY_SHIFT = 21;
export const MDIC_OP_WRITE = 1 << 26;
export const MDIC_OP_READ = 2 << 26;
export const MDIC_READY = 1 << 28;
export const MDIC_ERROR = 1 << 30;
/** The internal PHY's MDIO address. */
export const PHY_ADDRESS = 1;
/** PHY Control register 0 (IEEE 802.3 clause 22; the datasheet's PHY register chapter). */
export const PHY_CTRL = 0;
export const PHY_CTRL_RESTART_AN = 1 << 9;
export const PHY_CTRL_AN_ENABLE = 1 << 12;
/** PHY Status register 1. */
export const PHY_STATUS = 1;
export const PHY_STATUS_LINK = 1 << 2;
export const PHY_STATUS_AN_COMPLETE = 1 << 5;

// ---- Interrupt registers (§10.2.4) ---------------------------------------------------

/** Interrupt Cause Read (§10.2.4). Write 1s to clear. */
export const ICR = 0x00c0;
/** Interrupt Throttling (§10.2.4.2), in 256 ns units. QEMU: never below 500. */
export const ITR = 0x00c4;
/** Interrupt Cause Set (§10.2.4). */
export const ICS = 0x00c8;
/** Interrupt Mask Set/Read (§10.2.4). Writing 1s unmasks those causes. */
export const IMS = 0x00d0;
/** Interrupt Mask Clear (§10.2.4). Writing 1s masks those causes. */
export const IMC = 0x00d8;
/** Extended Interrupt Auto Clear (§10.2.4): MSI-X causes cleared from ICR when their vector fires. */
export const EIAC = 0x00dc;
/** Interrupt Acknowledge Auto Mask (§10.2.4). */
export const IAM = 0x00e0;
/** Interrupt Vector Allocation (§10.2.4): which MSI-X vector each cause uses. */
export const IVAR = 0x00e4;

// Interrupt causes, the same bits in ICR, ICS, IMS and IMC.
export const ICR_TXDW = 1 << 0; // transmit descriptor written back
export const ICR_TXQE = 1 << 1; // transmit queue empty
export const ICR_LSC = 1 << 2; // link status change
export const ICR_RXDMT0 = 1 << 4; // receive descriptor minimum threshold
export const ICR_RXO = 1 << 6; // receiver overrun
export const ICR_RXT0 = 1 << 7; // receiver timer (a frame was written back)
export const ICR_MDAC = 1 << 9;
// MSI-X only (chapter 7, interrupts): per-queue causes and "other".
export const ICR_RXQ0 = 1 << 20;
export const ICR_RXQ1 = 1 << 21;
export const ICR_TXQ0 = 1 << 22;
export const ICR_TXQ1 = 1 << 23;
export const ICR_OTHER = 1 << 24;
export const ICR_INT_ASSERTED = 1 << 31;
export const ICR_ALL = 0xffffffff;

// IVAR fields: a 4-bit entry per cause, bits 2:0 the MSI-X vector, bit 3 valid.
export const IVAR_VALID = 0x8;
export const IVAR_RXQ0_SHIFT = 0;
export const IVAR_RXQ1_SHIFT = 4;
export const IVAR_TXQ0_SHIFT = 8;
export const IVAR_TXQ1_SHIFT = 12;
export const IVAR_OTHER_SHIFT = 16;
/** Write back transmit descriptors (and interrupt) even without RS. */
export const IVAR_TX_INT_EVERY_WB = 1 << 31;

// ---- Receive registers (§10.2.5) -----------------------------------------------------

/** Receive Control (§10.2.5). */
export const RCTL = 0x0100;
export const RCTL_EN = 1 << 1; // receiver enable
export const RCTL_SBP = 1 << 2; // store bad packets
export const RCTL_UPE = 1 << 3; // unicast promiscuous
export const RCTL_MPE = 1 << 4; // multicast promiscuous
export const RCTL_LPE = 1 << 5; // long packet enable (frames above 1522 bytes)
export const RCTL_LBM_MASK = 3 << 6; // loopback mode, 00 = none
export const RCTL_RDMTS_HALF = 0 << 8; // RXDMT0 when half the ring is free
export const RCTL_DTYP_MASK = 3 << 10; // 00 = legacy descriptors
export const RCTL_MO_SHIFT = 12; // multicast offset for the MTA hash
export const RCTL_BAM = 1 << 15; // accept broadcast
export const RCTL_BSIZE_SHIFT = 16; // with BSEX=0: 00 2048, 01 1024, 10 512, 11 256
export const RCTL_BSIZE_MASK = 3 << 16; // with BSEX=1: 01 16384, 10 8192, 11 4096
export const RCTL_VFE = 1 << 18; // VLAN filter enable
export const RCTL_BSEX = 1 << 25; // buffer size extension (x16)
export const RCTL_SECRC = 1 << 26; // strip the Ethernet CRC

/** Receive Descriptor ring 0 (§10.2.5): base low/high, length in bytes, head, tail. */
export const RDBAL0 = 0x2800;
export const RDBAH0 = 0x2804;
export const RDLEN0 = 0x2808;
export const RDH0 = 0x2810;
export const RDT0 = 0x2818;
/** Receive interrupt delay timer and absolute delay (1.024 µs units; 0 = off). */
export const RDTR = 0x2820;
export const RADV = 0x282c;
/** Receive Checksum Control and Receive Filter Control (§10.2.5). */
export const RXCSUM = 0x5000;
export const RFCTL = 0x5008;
export const RFCTL_EXTEN = 1 << 15; // extended receive descriptors (we use legacy: 0)

/** Multicast Table Array, 128 × 32 bits (§10.2.5). */
export const MTA = 0x5200;
export const MTA_ENTRIES = 128;
/** Receive Address Low/High, 16 pairs (§10.2.5): RAL0/RAH0 hold the station address. */
export const RAL0 = 0x5400;
export const RAH0 = 0x5404;
export const RAH_AV = 1 << 31; // address valid

// ---- Transmit registers (§10.2.6) ----------------------------------------------------

/** Transmit Control (§10.2.6). */
export const TCTL = 0x0400;
export const TCTL_EN = 1 << 1;
export const TCTL_PSP = 1 << 3; // pad short packets to 64 bytes
export const TCTL_CT_SHIFT = 4; // collision threshold
export const TCTL_COLD_SHIFT = 12; // collision distance
export const TCTL_RTLC = 1 << 24; // retransmit on late collision
/** Transmit IPG (§10.2.6): IPGT 9:0, IPGR1 19:10, IPGR2 29:20; the datasheet's default for copper. */
export const TIPG = 0x0410;
export const TIPG_DEFAULT = 8 | (8 << 10) | (6 << 20);

/** Transmit Descriptor ring 0 (§10.2.6). */
export const TDBAL = 0x3800;
export const TDBAH = 0x3804;
export const TDLEN = 0x3808;
export const TDH = 0x3810;
export const TDT = 0x3818;
/** Transmit interrupt delay value and absolute delay (0 = off). */
export const TIDV = 0x3820;
export const TADV = 0x382c;
/** Transmit Arbitration Count queue 0 (§10.2.6). QEMU: the queue transmits only with bit 10 set (its reset value). */
export const TARC0 = 0x3840;
export const TARC_ENABLE = 1 << 10;

// ---- Statistics registers (§10.2), clear on read ----------------------------------------------

export const CRCERRS = 0x4000; // CRC errors
export const RXERRC = 0x400c; // receive errors
export const MPC = 0x4010; // missed packets (no room in the receive FIFO)
export const GPRC = 0x4074; // good packets received
export const BPRC = 0x4078; // broadcast packets received
export const MPRC = 0x407c; // multicast packets received
export const GPTC = 0x4080; // good packets transmitted
export const GORCL = 0x4088; // good octets received, low then high (reading high clears both)
export const GORCH = 0x408c;
export const GOTCL = 0x4090; // good octets transmitted
export const GOTCH = 0x4094;
export const RNBC = 0x40a0; // receive no buffers (ring empty when a frame arrived)
export const RUC = 0x40a4; // receive undersize
export const ROC = 0x40ac; // receive oversize
export const TORL = 0x40c0; // total octets received
export const TORH = 0x40c4;
export const TOTL = 0x40c8; // total octets transmitted
export const TOTH = 0x40cc;
export const TPR = 0x40d0; // total packets received
export const TPT = 0x40d4; // total packets transmitted

// ---- Legacy descriptors (chapter 7: receive §7.1, transmit §7.2): 16 bytes each -----------------------------------

export const DESC_SIZE = 16;
/** Descriptor rings are a multiple of 128 bytes: 8 descriptors (RDLEN/TDLEN §10.2.5, §10.2.6). */
export const RING_ALIGN_DESCS = 8;
export const RING_MAX_DESCS = 65536 - 8;

// Receive descriptor: u64 buffer address, u16 length, u16 checksum, u8 status, u8 errors, u16 special.
export const RXD_ADDR = 0;
export const RXD_LENGTH = 8;
export const RXD_STATUS = 12;
export const RXD_ERRORS = 13;
export const RXD_STAT_DD = 1 << 0; // descriptor done
export const RXD_STAT_EOP = 1 << 1; // end of packet
/** Errors: CE (CRC/alignment), SE (symbol), SEQ, CXE, TCPE, IPE, RXE. */
export const RXD_ERR_FRAME = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 4) | (1 << 7);

// Transmit descriptor: u64 buffer address, u16 length, u8 CSO, u8 CMD, u8 STA, u8 CSS, u16 special.
export const TXD_ADDR = 0;
export const TXD_LENGTH = 8;
export const TXD_CMD = 11;
export const TXD_STATUS = 12;
export const TXD_CMD_EOP = 1 << 0; // end of packet
export const TXD_CMD_IFCS = 1 << 1; // insert FCS
export const TXD_CMD_RS = 1 << 3; // report status (write DD back)
export const TXD_CMD_DEXT = 1 << 5; // extended descriptor (0: legacy)
export const TXD_STAT_DD = 1 << 0;

// The same descriptors as four little-endian 32-bit words (one Uint32Array per ring: one base
// and one bounds check per access on the hot path, instead of three views of each ring).
/** Words per descriptor. */
export const DESC_WORDS = 4;
/** Receive word 2: length in bits 0-15 (the checksum above it). */
export const RXW_LENGTH = 2;
/** Receive word 3: status in bits 0-7, errors in bits 8-15 (special above). */
export const RXW_STATUS = 3;
/** Word 3 of a complete, error-free frame's descriptor, masked with RXW_GOOD_MASK. */
export const RXW_GOOD = RXD_STAT_DD | RXD_STAT_EOP;
/** The DD and EOP bits and the frame errors of receive word 3. */
export const RXW_GOOD_MASK = RXD_STAT_DD | RXD_STAT_EOP | (RXD_ERR_FRAME << 8);
/** Transmit word 2: length in bits 0-15, CSO in 16-23, CMD in 24-31. */
export const TXW_LENGTH_CMD = 2;
/** Transmit word 3: status in bits 0-7 (CSS and special above). */
export const TXW_STATUS = 3;

/** RCTL.BSIZE/BSEX for each receive buffer size the hardware offers. */
export function rctlBufferSize(size: number): number | undefined {
  switch (size) {
    case 256:
      return 3 << RCTL_BSIZE_SHIFT;
    case 512:
      return 2 << RCTL_BSIZE_SHIFT;
    case 1024:
      return 1 << RCTL_BSIZE_SHIFT;
    case 2048:
      return 0;
    case 4096:
      return RCTL_BSEX | (3 << RCTL_BSIZE_SHIFT);
    case 8192:
      return RCTL_BSEX | (2 << RCTL_BSIZE_SHIFT);
    case 16384:
      return RCTL_BSEX | (1 << RCTL_BSIZE_SHIFT);
    default:
      return undefined;
  }
}

// ---- What the fake kernel's model needs besides (QEMU 7.2's emulation) -----------------

/** BAR0, the registers (QEMU: E1000E_MMIO_SIZE). */
export const MMIO_SIZE = 128 * 1024;
/** MSI-X vectors in BAR3: RXQ0, RXQ1, TXQ0, TXQ1 and Other, as in QEMU. */
export const MSIX_VECTORS = 5;
/** The pending-bit array's offset in BAR3, after the table. */
export const MSIX_PBA = 0x2000;
/** Packet Buffer Allocation (§10.2.2). */
export const PBA = 0x1000;
/** Receive Descriptor Control (§10.2.5). */
export const RXDCTL = 0x2828;
/** Transmit Arbitration Count, queue 1 (§10.2.6). */
export const TARC1 = 0x3940;
// Statistics by frame size (§10.2.8).
export const PRC64 = 0x405c;
export const PRC127 = 0x4060;
export const PRC255 = 0x4064;
export const PRC511 = 0x4068;
export const PRC1023 = 0x406c;
export const PRC1522 = 0x4070;
export const PTC64 = 0x40d8;
export const PTC127 = 0x40dc;
export const PTC255 = 0x40e0;
export const PTC511 = 0x40e4;
export const PTC1023 = 0x40e8;
export const PTC1522 = 0x40ec;
export const MPTC = 0x40f0;
export const BPTC = 0x40f4;
export const CTRL_SPD_1000 = 2 << 8;
export const CTRL_SWDPIN0 = 1 << 18;
export const CTRL_SWDPIN2 = 1 << 20;
export const STATUS_SPEED_1000 = 2 << 6;
export const STATUS_ASDV_1000 = 2 << 8;
export const STATUS_GIO_MASTER_ENABLE = 1 << 19;
export const EEC_PRES = 1 << 8;
export const MDIC_INT_EN = 1 << 29;
export const ICR_SRPD = 1 << 16;
export const ICR_ACK = 1 << 17;
export const ICR_MNG = 1 << 18;
/** The causes QEMU signals on the "Other" MSI-X vector. */
export const ICR_OTHER_CAUSES = ICR_LSC | ICR_RXO | ICR_MDAC | ICR_SRPD | ICR_ACK | ICR_MNG;
/** Where TXD_CMD sits in a transmit descriptor's second dword (length | cso << 16 | cmd << 24). */
export const TXD_CMD_SHIFT = 24;
/** DTYP's "data descriptor" bit in that dword (the extended descriptors' type field). */
export const TXD_DTYP_D = 1 << 20;
