/**
 * The 82574's register map is src/hw/e82574.ts, one table for the driver and this model; the
 * model's parts import it through here, which adds only emulation behaviour: the IMS bits QEMU
 * 7.2 lets a driver set, and the statistics it clears on read (the rest of 0x4000-0x40ff reads
 * plainly).
 */
import {
  BPRC, BPTC, GORCH, GOTCH, GPRC, GPTC, ICR_ACK, ICR_LSC, ICR_MDAC, ICR_MNG, ICR_OTHER, ICR_RXDMT0, ICR_RXO, ICR_RXQ0, ICR_RXQ1, ICR_RXT0, ICR_SRPD,
  ICR_TXDW, ICR_TXQ0, ICR_TXQ1, ICR_TXQE, MPRC, MPTC, PRC1023, PRC127, PRC1522, PRC255, PRC511, PRC64, PTC1023, PTC127, PTC1522, PTC255, PTC511,
  PTC64, ROC, RUC, TORH, TOTH, TPR, TPT,
} from '../../../../hw/e82574.js';

export * from '../../../../hw/e82574.js';

/** Statistics registers that read as zero after a read. */
export const CLEAR_ON_READ = new Set([
  PRC64, PRC127, PRC255, PRC511, PRC1023, PRC1522, GPRC, BPRC, MPRC, GPTC, RUC, ROC, TPR, TPT,
  PTC64, PTC127, PTC1522, PTC255, PTC511, PTC1023, MPTC, BPTC,
]);
/** Reading the high half clears both halves. */
export const CLEAR_ON_READ_64 = new Set([GORCH, GOTCH, TORH, TOTH]);
/** The interrupt causes IMS accepts (QEMU's E1000E_ICR_* mask; bit 15 is unnamed in the datasheet). */
export const IMS_VALID =
  ICR_TXDW | ICR_TXQE | ICR_LSC | ICR_RXDMT0 | ICR_RXO | ICR_RXT0 | ICR_MDAC | (1 << 15) | ICR_SRPD | ICR_ACK | ICR_MNG |
  ICR_RXQ0 | ICR_RXQ1 | ICR_TXQ0 | ICR_TXQ1 | ICR_OTHER;
