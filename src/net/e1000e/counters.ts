/**
 * The 82574's statistics registers (§10.2, clear on read), accumulated into running totals.
 */
import type { Region } from '../../model/region.js';
import * as R from '../../hw/e82574.js';

/**
 * The 82574's own counters, accumulated since the port opened (register names in brackets).
 * A type alias rather than an interface, so it fits PortStats' `Record<string, number>`.
 */
export type E1000eHwStats = {
  /** Good packets received [GPRC]. */
  goodPacketsReceived: number;
  /** Good packets transmitted [GPTC]. */
  goodPacketsTransmitted: number;
  /** Good octets received [GORC]. */
  goodOctetsReceived: number;
  /** Good octets transmitted [GOTC]. */
  goodOctetsTransmitted: number;
  /** Total packets received [TPR]. */
  totalPacketsReceived: number;
  /** Total packets transmitted [TPT]. */
  totalPacketsTransmitted: number;
  /** Missed packets: no room in the receive FIFO [MPC]. */
  missedPackets: number;
  /** Receive ring empty when a frame arrived [RNBC]. */
  receiveNoBuffers: number;
  /** Undersize frames received [RUC]. */
  receiveUndersize: number;
  /** Oversize frames received [ROC]. */
  receiveOversize: number;
  /** CRC errors [CRCERRS]. */
  crcErrors: number;
  /** Receive errors [RXERRC]. */
  receiveErrors: number;
};

/** All counters zero. */
export function emptyHwStats(): E1000eHwStats {
  return {
    goodPacketsReceived: 0,
    goodPacketsTransmitted: 0,
    goodOctetsReceived: 0,
    goodOctetsTransmitted: 0,
    totalPacketsReceived: 0,
    totalPacketsTransmitted: 0,
    missedPackets: 0,
    receiveNoBuffers: 0,
    receiveUndersize: 0,
    receiveOversize: 0,
    crcErrors: 0,
    receiveErrors: 0,
  };
}

/** Reads (and so clears) the registers; adds them to `hw` unless it is null (clearing at init). */
export function readHwCounters(bar: Region, hw: E1000eHwStats | null): void {
  // QEMU 7.2 copies TPT/TOT into GPTC/GOTC after every frame: read (and clear) those first,
  // so GPTC/GOTC hold only what was sent since the last read, as on the real part.
  const tpt = bar.read32(R.TPT);
  bar.read32(R.TOTL);
  bar.read32(R.TOTH);
  const tpr = bar.read32(R.TPR);
  const gprc = bar.read32(R.GPRC);
  const gptc = bar.read32(R.GPTC);
  const gorc = bar.read32(R.GORCL) + bar.read32(R.GORCH) * 2 ** 32; // low first: reading high clears both
  const gotc = bar.read32(R.GOTCL) + bar.read32(R.GOTCH) * 2 ** 32;
  const mpc = bar.read32(R.MPC);
  const rnbc = bar.read32(R.RNBC);
  const ruc = bar.read32(R.RUC);
  const roc = bar.read32(R.ROC);
  const crc = bar.read32(R.CRCERRS);
  const rxerr = bar.read32(R.RXERRC);
  if (hw === null) return;
  hw.totalPacketsTransmitted += tpt;
  hw.totalPacketsReceived += tpr;
  hw.goodPacketsReceived += gprc;
  hw.goodPacketsTransmitted += gptc;
  hw.goodOctetsReceived += gorc;
  hw.goodOctetsTransmitted += gotc;
  hw.missedPackets += mpc;
  hw.receiveNoBuffers += rnbc;
  hw.receiveUndersize += ruc;
  hw.receiveOversize += roc;
  hw.crcErrors += crc;
  hw.receiveErrors += rxerr;
}
