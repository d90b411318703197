import { EERD_DONE, EERD_START } from './regs.js';

const EEPROM_WORDS = 64;

/** The NVM behind EERD: what a driver reads the MAC address from. */
export class Eeprom {
  readonly #words = new Uint16Array(EEPROM_WORDS);

  /** MAC in words 0-2, the device id in words 11 and 13, checksum word 0x3f (sum 0xbaba). */
  constructor(mac: Uint8Array, deviceId: number) {
    const words = this.#words;
    words.fill(0xffff);
    for (let i = 0; i < 3; i++) words[i] = mac[2 * i]! | (mac[2 * i + 1]! << 8);
    words[11] = words[13] = deviceId;
    let sum = 0;
    for (let i = 0; i < 0x3f; i++) sum += words[i]!;
    words[0x3f] = (0xbaba - sum) & 0xffff;
  }

  /** What EERD reads back after the driver wrote `eerd`: the read is done at once. */
  lookup(eerd: number): number {
    const addr = (eerd >>> 2) & 0x3fff;
    const ok = addr < EEPROM_WORDS && (eerd & EERD_START) !== 0;
    return (ok ? EERD_DONE : 0) | (addr << 2) | ((ok ? this.#words[addr]! : 0) << 16);
  }
}
