/**
 * The 82574's initialisation steps (datasheet chapter 4, software initialization sequence)
 * as functions over BAR0: reset, link, station address, the PHY through MDIC, and the ring
 * registers. The port (port.ts) runs them in order; none of them is on the hot path.
 */
import type { Device } from '../../model/device.js';
import type { Region } from '../../model/region.js';
import { netError } from '../errors.js';
import * as R from '../../hw/e82574.js';

/** Sleeps the thread for `ms` without spinning (the datasheet's short waits during init). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function fail(code: string, device: Device, message: string): never {
  throw netError(code, 'E1000ePort.open', message, { device: device.address });
}

/** Function reset through VFIO (when asked and offered), CTRL.RST, NVM auto-read, link up, MTA cleared. */
export function resetAndLink(device: Device, bar: Region, flr: boolean): void {
  if (flr && device.canReset) device.reset();
  device.config.setBusMaster(true);
  bar.write32(R.IMC, R.ICR_ALL); // mask everything before the reset ...
  bar.write32(R.CTRL, bar.read32(R.CTRL) | R.CTRL_RST);
  sleepSync(1); // §10.2.2.1: wait ~1 ms before touching the device again
  for (let i = 0; bar.read32(R.CTRL) & R.CTRL_RST; i++) {
    if (i > 100) fail('ERR_VFIO_NET_RESET_TIMEOUT', device, 'CTRL.RST did not clear within 100 ms');
    sleepSync(1);
  }
  bar.write32(R.IMC, R.ICR_ALL); // ... and after it
  bar.read32(R.ICR);
  bar.write32(R.ICR, R.ICR_ALL);
  for (let i = 0; !(bar.read32(R.EEC) & R.EEC_AUTO_RD); i++) {
    if (i > 100) fail('ERR_VFIO_NET_NVM_TIMEOUT', device, 'the NVM auto-read (EEC.AUTO_RD) did not complete');
    sleepSync(1);
  }
  // Copper PHY with auto-negotiation: set link up, let the PHY negotiate speed and duplex.
  const ctrl = bar.read32(R.CTRL);
  bar.write32(R.CTRL, ((ctrl | R.CTRL_SLU) & ~(R.CTRL_FRCSPD | R.CTRL_FRCDPX | R.CTRL_PHY_RST | R.CTRL_GIO_MASTER_DISABLE | R.CTRL_VME)) >>> 0);
  // The multicast table is undefined after reset.
  for (let i = 0; i < R.MTA_ENTRIES; i++) bar.write32(R.MTA + 4 * i, 0);
}

function readNvm(device: Device, bar: Region, word: number): number {
  bar.write32(R.EERD, (word << R.EERD_ADDR_SHIFT) | R.EERD_START);
  for (let i = 0; i < 1000; i++) {
    const v = bar.read32(R.EERD);
    if (v & R.EERD_DONE) return v >>> R.EERD_DATA_SHIFT;
  }
  return fail('ERR_VFIO_NET_NVM_TIMEOUT', device, `EERD read of NVM word ${word} did not complete`);
}

/** The station address from RAL0/RAH0 (§10.2.5), or from NVM words 0-2 (programmed into RAL0/RAH0) when RAH0 is not valid. */
export function readMac(device: Device, bar: Region): Uint8Array {
  let low = bar.read32(R.RAL0);
  let high = bar.read32(R.RAH0);
  if (!(high & R.RAH_AV)) {
    const words = [0, 1, 2].map((w) => readNvm(device, bar, w));
    low = (words[0]! | (words[1]! << 16)) >>> 0;
    high = words[2]!;
    bar.write32(R.RAL0, low); // §10.2.5: low first, then high with Address Valid
    bar.write32(R.RAH0, (high | R.RAH_AV) >>> 0);
  }
  return Uint8Array.of(low & 0xff, (low >>> 8) & 0xff, (low >>> 16) & 0xff, low >>> 24, high & 0xff, (high >>> 8) & 0xff);
}

/** One MDIC access to the PHY (§10.2.2); returns the data of a read. */
export function mdic(device: Device, bar: Region, value: number): number {
  bar.write32(R.MDIC, value >>> 0);
  for (let i = 0; i < 1000; i++) {
    const v = bar.read32(R.MDIC);
    if (v & R.MDIC_ERROR) throw netError('ERR_VFIO_NET_MDIC', 'E1000ePort MDIC', `PHY access 0x${(value >>> 0).toString(16)} failed`, { device: device.address });
    if (v & R.MDIC_READY) return v & R.MDIC_DATA_MASK;
  }
  throw netError('ERR_VFIO_NET_MDIC', 'E1000ePort MDIC', 'PHY access did not complete', { device: device.address });
}

/** Restarts auto-negotiation through the PHY: the link drops at once and comes back (LSC). */
export function restartAutoNegotiation(device: Device, bar: Region): void {
  const phy = (reg: number) => (reg << R.MDIC_REG_SHIFT) | (R.PHY_ADDRESS << R.MDIC_PHY_SHIFT);
  const ctrl = mdic(device, bar, phy(R.PHY_CTRL) | R.MDIC_OP_READ);
  mdic(device, bar, ((ctrl | R.PHY_CTRL_AN_ENABLE | R.PHY_CTRL_RESTART_AN) & 0xffff) | phy(R.PHY_CTRL) | R.MDIC_OP_WRITE);
}

/** RCTL for the options: receiver on, broadcast, CRC stripped, long frames, buffer size, promiscuous. */
export function rctl(bsize: number, promiscuous: boolean): number {
  return R.RCTL_EN | R.RCTL_BAM | R.RCTL_SECRC | R.RCTL_LPE | R.RCTL_RDMTS_HALF | bsize | (promiscuous ? R.RCTL_UPE | R.RCTL_MPE : 0);
}

/** Receive initialization (chapter 4): ring registers, RCTL, then the tail (every descriptor but one to the NIC). */
export function initReceive(bar: Region, iova: number, descriptors: number, rctlValue: number): void {
  bar.write32(R.RCTL, 0);
  bar.write32(R.RDTR, 0); // no receive interrupt delay
  bar.write32(R.RADV, 0);
  bar.write32(R.RFCTL, bar.read32(R.RFCTL) & ~R.RFCTL_EXTEN); // legacy descriptors
  bar.write32(R.RDBAL0, iova % 2 ** 32);
  bar.write32(R.RDBAH0, Math.floor(iova / 2 ** 32));
  bar.write32(R.RDLEN0, descriptors * R.DESC_SIZE);
  bar.write32(R.RDH0, 0);
  bar.write32(R.RDT0, 0);
  bar.write32(R.RCTL, rctlValue);
  // head == tail means "ring empty" (§7.1): one descriptor always stays with software.
  bar.write32(R.RDT0, descriptors - 1);
}

/** Transmit initialization (chapter 4). */
export function initTransmit(bar: Region, iova: number, descriptors: number): void {
  bar.write32(R.TCTL, 0);
  bar.write32(R.TIDV, 0);
  bar.write32(R.TADV, 0);
  bar.write32(R.TDBAL, iova % 2 ** 32);
  bar.write32(R.TDBAH, Math.floor(iova / 2 ** 32));
  bar.write32(R.TDLEN, descriptors * R.DESC_SIZE);
  bar.write32(R.TDH, 0);
  bar.write32(R.TDT, 0);
  bar.write32(R.TARC0, bar.read32(R.TARC0) | R.TARC_ENABLE);
  bar.write32(R.TIPG, R.TIPG_DEFAULT);
  bar.write32(R.TCTL, R.TCTL_EN | R.TCTL_PSP | (0x0f << R.TCTL_CT_SHIFT) | (0x3f << R.TCTL_COLD_SHIFT) | R.TCTL_RTLC);
}

/** Receiver and transmitter off, interrupts masked, bus mastering off: no DMA and no MSI from here on. */
export function quiesce(device: Device, bar: Region): void {
  bar.write32(R.IMC, R.ICR_ALL);
  bar.write32(R.RCTL, 0);
  bar.write32(R.TCTL, 0);
  device.config.setBusMaster(false);
}
