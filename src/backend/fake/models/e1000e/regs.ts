/**
 * The 82574's register map as the model uses it: BAR0 byte offsets, the bits inside
 * those registers and inside the legacy descriptors, and the BAR layout the rest of
 * the model is sized by. Constants only, so every other part of the model can import it.
 */

/** BAR0, the registers (QEMU: E1000E_MMIO_SIZE). */
export const MMIO_SIZE = 128 * 1024;
/** MSI-X vectors in BAR3: RXQ0, RXQ1, TXQ0, TXQ1 and Other, as in QEMU. */
export const MSIX_VECTORS = 5;
/** The pending-bit array's offset in BAR3, after the table. */
export const MSIX_PBA = 0x2000;

// Register offsets (82574 datasheet chapter 10), byte addresses in BAR0.
export const CTRL = 0x0000;
export const STATUS = 0x0008;
export const EEC = 0x0010;
export const EERD = 0x0014;
export const CTRL_EXT = 0x0018;
export const MDIC = 0x0020;
export const ICR = 0x00c0;
export const ITR = 0x00c4;
export const ICS = 0x00c8;
export const IMS = 0x00d0;
export const IMC = 0x00d8;
export const EIAC = 0x00dc;
export const IAM = 0x00e0;
export const IVAR = 0x00e4;
export const RCTL = 0x0100;
export const TCTL = 0x0400;
export const TIPG = 0x0410;
export const RDBAL = 0x2800;
export const RDBAH = 0x2804;
export const RDLEN = 0x2808;
export const RDH = 0x2810;
export const RDT = 0x2818;
export const RDTR = 0x2820;
export const RXDCTL = 0x2828;
export const RADV = 0x282c;
export const TDBAL = 0x3800;
export const TDBAH = 0x3804;
export const TDLEN = 0x3808;
export const TDH = 0x3810;
export const TDT = 0x3818;
export const TIDV = 0x3820;
export const TADV = 0x382c;
export const TARC0 = 0x3840;
export const TARC1 = 0x3940;
export const RXCSUM = 0x5000;
export const RFCTL = 0x5008;
export const MTA = 0x5200;
export const RA = 0x5400;
export const PBA = 0x1000;

// Statistics: clear on read as QEMU 7.2 has them (the rest of 0x4000-0x40ff reads plainly).
export const PRC64 = 0x405c;
export const PRC127 = 0x4060;
export const PRC255 = 0x4064;
export const PRC511 = 0x4068;
export const PRC1023 = 0x406c;
export const PRC1522 = 0x4070;
export const GPRC = 0x4074;
export const BPRC = 0x4078;
export const MPRC = 0x407c;
export const GPTC = 0x4080;
export const GORCL = 0x4088;
export const GORCH = 0x408c;
export const GOTCL = 0x4090;
export const GOTCH = 0x4094;
export const MPC = 0x4010;
export const RUC = 0x40a4;
export const ROC = 0x40ac;
export const TORL = 0x40c0;
export const TORH = 0x40c4;
export const TOTL = 0x40c8;
export const TOTH = 0x40cc;
export const TPR = 0x40d0;
export const TPT = 0x40d4;
export const PTC64 = 0x40d8;
export const PTC127 = 0x40dc;
export const PTC255 = 0x40e0;
export const PTC511 = 0x40e4;
export const PTC1023 = 0x40e8;
export const PTC1522 = 0x40ec;
export const MPTC = 0x40f0;
export const BPTC = 0x40f4;
export const CLEAR_ON_READ = new Set([
  PRC64, PRC127, PRC255, PRC511, PRC1023, PRC1522, GPRC, BPRC, MPRC, GPTC, RUC, ROC, TPR, TPT,
  PTC64, PTC127, PTC255, PTC511, PTC1023, PTC1522, MPTC, BPTC,
]);
/** Reading the high half clears both halves. */
export const CLEAR_ON_READ_64 = new Set([GORCH, GOTCH, TORH, TOTH]);

// Register bits.
export const CTRL_FD = 1 << 0;
export const CTRL_GIO_MASTER_DISABLE = 1 << 2;
export const CTRL_SLU = 1 << 6;
export const CTRL_SPD_1000 = 2 << 8;
export const CTRL_SWDPIN0 = 1 << 18;
export const CTRL_SWDPIN2 = 1 << 20;
export const CTRL_RST = 1 << 26;
export const STATUS_FD = 1 << 0;
export const STATUS_LU = 1 << 1;
export const STATUS_SPEED_1000 = 2 << 6;
export const STATUS_ASDV_1000 = 2 << 8;
export const STATUS_GIO_MASTER_ENABLE = 1 << 19;
export const EEC_PRES = 1 << 8;
export const EEC_AUTO_RD = 1 << 9;
export const EERD_START = 1 << 0;
export const EERD_DONE = 1 << 1;
export const CTRL_EXT_IAME = 1 << 27;
export const CTRL_EXT_EIAME = 1 << 24;
export const MDIC_OP_WRITE = 1 << 26;
export const MDIC_OP_READ = 2 << 26;
export const MDIC_READY = 1 << 28;
export const MDIC_INT_EN = 1 << 29;
export const MDIC_ERROR = 1 << 30;
export const ICR_TXDW = 1 << 0;
export const ICR_TXQE = 1 << 1;
export const ICR_LSC = 1 << 2;
export const ICR_RXDMT0 = 1 << 4;
export const ICR_RXO = 1 << 6;
export const ICR_RXT0 = 1 << 7;
export const ICR_MDAC = 1 << 9;
export const ICR_SRPD = 1 << 16;
export const ICR_ACK = 1 << 17;
export const ICR_MNG = 1 << 18;
export const ICR_RXQ0 = 1 << 20;
export const ICR_RXQ1 = 1 << 21;
export const ICR_TXQ0 = 1 << 22;
export const ICR_TXQ1 = 1 << 23;
export const ICR_OTHER = 1 << 24;
export const ICR_ASSERTED = 1 << 31;
export const ICR_OTHER_CAUSES = ICR_LSC | ICR_RXO | ICR_MDAC | ICR_SRPD | ICR_ACK | ICR_MNG;
export const IMS_VALID =
  ICR_TXDW | ICR_TXQE | ICR_LSC | ICR_RXDMT0 | ICR_RXO | ICR_RXT0 | ICR_MDAC | (1 << 15) | ICR_SRPD | ICR_ACK | ICR_MNG |
  ICR_RXQ0 | ICR_RXQ1 | ICR_TXQ0 | ICR_TXQ1 | ICR_OTHER;
export const IVAR_VALID = 0x8;
export const IVAR_TX_INT_EVERY_WB = 1 << 31;
export const RCTL_EN = 1 << 1;
export const RCTL_SBP = 1 << 2;
export const RCTL_UPE = 1 << 3;
export const RCTL_MPE = 1 << 4;
export const RCTL_LPE = 1 << 5;
export const RCTL_BAM = 1 << 15;
export const RCTL_BSEX = 1 << 25;
export const RCTL_SECRC = 1 << 26;
export const TCTL_EN = 1 << 1;
export const TARC_ENABLE = 1 << 10;
export const RFCTL_EXTEN = 1 << 15;
export const RAH_AV = 1 << 31;
// Legacy descriptor bits.
export const RXD_STAT_DD = 1 << 0;
export const RXD_STAT_EOP = 1 << 1;
export const TXD_CMD_EOP = 1 << 24; // in the descriptor's second dword (length | cso << 16 | cmd << 24)
export const TXD_CMD_RS = 1 << 27;
export const TXD_CMD_DEXT = 1 << 29;
export const TXD_DTYP_D = 1 << 20;
export const TXD_STAT_DD = 1 << 0;
