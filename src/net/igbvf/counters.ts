/**
 * The VF's statistics registers: 32-bit counters that are never cleared and wrap. Read
 * often enough (the octet counters wrap after 4 GiB, 34 s at 1 Gb/s), the differences
 * accumulate into running totals, as Linux's igbvf does (UPDATE_VF_COUNTER).
 */
import type { Region } from '../../model/region.js';
import * as R from '../../hw/e82576vf.js';

/**
 * The VF's own counters, accumulated since the port opened (register names in brackets). A
 * type alias rather than an interface, so it fits PortStats' `Record<string, number>`.
 */
export type IgbvfHwStats = {
  /** Good packets received [VFGPRC]. */
  goodPacketsReceived: number;
  /** Good packets transmitted [VFGPTC]. */
  goodPacketsTransmitted: number;
  /** Good octets received, with the FCS [VFGORC]. */
  goodOctetsReceived: number;
  /** Good octets transmitted, with the FCS [VFGOTC]. */
  goodOctetsTransmitted: number;
  /** Multicast packets received [VFMPRC]. */
  multicastReceived: number;
  /** Packets received from another function of the NIC (loopback) [VFGPRLBC]. */
  loopbackPacketsReceived: number;
  /** Packets sent to another function of the NIC [VFGPTLBC]. */
  loopbackPacketsTransmitted: number;
  /** Octets received by loopback [VFGORLBC]. */
  loopbackOctetsReceived: number;
  /** Octets sent by loopback [VFGOTLBC]. */
  loopbackOctetsTransmitted: number;
};

const REGISTERS: readonly [keyof IgbvfHwStats, number][] = [
  ['goodPacketsReceived', R.VFGPRC],
  ['goodPacketsTransmitted', R.VFGPTC],
  ['goodOctetsReceived', R.VFGORC],
  ['goodOctetsTransmitted', R.VFGOTC],
  ['multicastReceived', R.VFMPRC],
  ['loopbackPacketsReceived', R.VFGPRLBC],
  ['loopbackPacketsTransmitted', R.VFGPTLBC],
  ['loopbackOctetsReceived', R.VFGORLBC],
  ['loopbackOctetsTransmitted', R.VFGOTLBC],
];

/** The running totals and the last value read of each register. */
export class VfCounters {
  readonly totals: IgbvfHwStats = {
    goodPacketsReceived: 0,
    goodPacketsTransmitted: 0,
    goodOctetsReceived: 0,
    goodOctetsTransmitted: 0,
    multicastReceived: 0,
    loopbackPacketsReceived: 0,
    loopbackPacketsTransmitted: 0,
    loopbackOctetsReceived: 0,
    loopbackOctetsTransmitted: 0,
  };
  readonly #last = new Uint32Array(REGISTERS.length);

  /** Takes the registers' values now as the starting point (at open: the totals count from there). */
  start(bar: Region): void {
    REGISTERS.forEach(([, off], i) => (this.#last[i] = bar.read32(off)));
  }

  /** Reads the registers and adds what each moved since the last read, modulo 2^32. */
  update(bar: Region): IgbvfHwStats {
    const t = this.totals;
    REGISTERS.forEach(([name, off], i) => {
      const now = bar.read32(off);
      t[name] += (now - this.#last[i]!) >>> 0;
      this.#last[i] = now;
    });
    return t;
  }
}
