/**
 * The VF's initialisation steps as functions over BAR0 and the mailbox, in the order Linux's
 * igbvf runs them (igbvf_probe/igbvf_reset, e1000_reset_hw_vf, e1000_init_hw_vf,
 * igbvf_configure_rx/tx): reset and the reset handshake with the PF, the station address, the
 * largest frame, the multicast mode, then the rings. None of them is on the hot path.
 */
import type { Device } from '../../model/device.js';
import type { Region } from '../../model/region.js';
import { netError } from '../errors.js';
import type { VfMailbox } from './mailbox.js';
import * as R from '../../hw/e82576vf.js';
import { MSG_ACK, MSG_NACK, RESET_WAIT_MS, VF_RESET, VF_SET_LPE, VF_SET_MAC_ADDR, VF_SET_PROMISC, VF_SET_PROMISC_MULTICAST, mailboxMessageName } from '../../hw/e82576vf-mailbox.js';

const OP = 'IgbvfPort.open';
/** The largest frame the VF asks the PF to accept: 1500 bytes of payload, an Ethernet header, a VLAN tag and the FCS (Linux: max_frame_size + VLAN_TAG_SIZE). */
export const MAX_FRAME_WITH_FCS = 1522;

/** What the reset handshake learnt. */
export interface ResetResult {
  /** The MAC address the PF assigned, or null (it NACKed: none assigned). */
  pfMac: Uint8Array | null;
  /** RSTD or RSTI was seen after the reset (QEMU shows RSTD only once after the PF's driver started). */
  resetSignalled: boolean;
}

/**
 * Function reset through VFIO (when asked and offered), bus mastering on, interrupts masked,
 * CTRL.RST, a short wait for the PF's reset indication (RSTD/RSTI), then VF_RESET through the
 * mailbox: the PF enables the VF's queues, marks it clear to send and answers with the MAC
 * address it assigned (ACK) or none (NACK). Linux gives up when RSTD/RSTI does not come; this
 * driver asks the PF anyway, since QEMU sets RSTD only once, when the PF's driver starts.
 * Throws ERR_VFIO_NET_MBX_TIMEOUT, or ERR_VFIO_NET_PF_REFUSED for an answer that is neither.
 */
export function resetVf(device: Device, bar: Region, mbx: VfMailbox, flr: boolean): ResetResult {
  if (flr && device.canReset) device.reset();
  device.config.setBusMaster(true);
  bar.write32(R.EIMC, R.EICR_VECTORS);
  bar.write32(R.CTRL, R.CTRL_RST);
  const resetSignalled = mbx.waitFor(R.V2P_RSTD | R.V2P_RSTI, Math.max(RESET_WAIT_MS, 10));
  const reply = mbx.request([VF_RESET], 3);
  const w0 = reply.words[0]!;
  if (w0 === (VF_RESET | MSG_ACK) >>> 0) {
    const b = new Uint8Array(reply.words.buffer, 4, 6).slice();
    return { pfMac: b.every((x) => x === 0) ? null : b, resetSignalled };
  }
  if (w0 === (VF_RESET | MSG_NACK) >>> 0) return { pfMac: null, resetSignalled };
  throw netError('ERR_VFIO_NET_PF_REFUSED', OP, `the PF answered VF_RESET with 0x${w0.toString(16).padStart(8, '0')}, neither ACK nor NACK`, {
    device: device.address,
    hint: 'another message crossed the reset: open the port again',
  });
}

/** A random locally administered unicast address, as Linux's eth_hw_addr_random makes. */
export function randomMac(): Uint8Array {
  const mac = crypto.getRandomValues(new Uint8Array(6));
  mac[0] = (mac[0]! & 0xfe) | 0x02;
  return mac;
}

const hexMac = (m: Uint8Array): string => Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');

/** ERR_VFIO_NET_PF_REFUSED for a NACKed request, with what to do about it. */
export function refused(device: string, op: string, msg: number, why: string, hint: string): Error {
  return netError('ERR_VFIO_NET_PF_REFUSED', op, `the PF refused ${mailboxMessageName(msg)} (NACK): ${why}`, { device, hint });
}

/**
 * The station address: `wanted` ('pf', an address, or undefined) against what the PF assigned
 * (see IgbvfPortOptions.mac). Asks the PF with VF_SET_MAC_ADDR when the address is not the
 * PF's. Throws ERR_VFIO_NET_NO_MAC, ERR_VFIO_NET_PF_REFUSED, ERR_VFIO_NET_MBX_TIMEOUT.
 */
export function chooseMac(device: string, mbx: VfMailbox, pfMac: Uint8Array | null, wanted: 'pf' | Uint8Array | undefined): Uint8Array {
  if (wanted === 'pf') {
    if (pfMac) return pfMac;
    throw netError('ERR_VFIO_NET_NO_MAC', OP, 'the PF has no MAC address for this VF (it NACKed VF_RESET) and the mac option asks for the PF\'s', {
      device,
      hint: "assign one on the PF's host (ip link set <pf> vf <n> mac <address>), or leave mac unset for a random one, or pass an address",
    });
  }
  const mac = wanted ?? pfMac ?? randomMac();
  if (pfMac && mac.every((b, i) => b === pfMac[i])) return mac;
  const msg = new Uint32Array(3);
  msg[0] = VF_SET_MAC_ADDR;
  new Uint8Array(msg.buffer, 4, 6).set(mac);
  const reply = mbx.request(msg);
  if (reply.nack)
    throw refused(
      device,
      OP,
      VF_SET_MAC_ADDR,
      `it will not filter on ${hexMac(mac)}${pfMac ? ` (an administrator assigned ${hexMac(pfMac)})` : ''}`,
      pfMac ? "leave mac unset (or 'pf') to use the assigned address, or change it on the PF's host (ip link set <pf> vf <n> mac <address>)" : 'pass another unicast address, or leave mac unset',
    );
  return mac;
}

/** VF_SET_LPE: the largest frame (with FCS) the PF is to accept for the VF. Throws ERR_VFIO_NET_PF_REFUSED. */
export function setMaxFrame(device: string, mbx: VfMailbox, bytes: number): void {
  if (mbx.request([VF_SET_LPE, bytes]).nack) throw refused(device, OP, VF_SET_LPE, `it will not accept ${bytes}-byte frames for the VF`, "check the PF's MTU and driver (dmesg on its host)");
}

/**
 * VF_SET_PROMISC: multicast promiscuous on or off. An 82576 VF cannot be unicast
 * promiscuous (Linux's igb refuses the flag): it receives its own address, broadcast, and
 * with this every multicast frame. Throws ERR_VFIO_NET_PF_REFUSED (an older igb without
 * VF_SET_PROMISC), ERR_VFIO_NET_MBX_TIMEOUT.
 */
export function setAllMulticast(device: string, op: string, mbx: VfMailbox, on: boolean): void {
  const msg = VF_SET_PROMISC | (on ? VF_SET_PROMISC_MULTICAST : 0);
  if (mbx.request([msg]).nack)
    throw refused(device, op, msg, 'the PF will not switch multicast promiscuous mode for the VF', 'open the port without promiscuous (a PF driver older than Linux 4.x has no VF_SET_PROMISC)');
}

/** Receive queue 0 (igbvf_configure_rx): off, ring registers, SRRCTL (one advanced buffer of `bufferSize`), on; then the tail: every descriptor but one to the NIC. */
export function initReceive(bar: Region, iova: number, descriptors: number, bufferSize: number): void {
  bar.write32(R.RXDCTL, bar.read32(R.RXDCTL) & ~R.XDCTL_QUEUE_ENABLE);
  bar.write32(R.RDBAL, iova % 2 ** 32);
  bar.write32(R.RDBAH, Math.floor(iova / 2 ** 32));
  bar.write32(R.RDLEN, descriptors * R.DESC_SIZE);
  bar.write32(R.RDH, 0);
  bar.write32(R.RDT, 0);
  bar.write32(R.SRRCTL, (R.SRRCTL_DROP_EN | R.SRRCTL_DESCTYPE_ADV_ONEBUF | R.srrctlBufferSize(bufferSize)!) >>> 0);
  bar.write32(R.RXDCTL, R.XDCTL_QUEUE_ENABLE | R.RXDCTL_THRESHOLDS);
  bar.write32(R.RDT, descriptors - 1);
}

/** Transmit queue 0 (igbvf_configure_tx): ring registers, then on. */
export function initTransmit(bar: Region, iova: number, descriptors: number): void {
  bar.write32(R.TXDCTL, 0);
  bar.write32(R.TDBAL, iova % 2 ** 32);
  bar.write32(R.TDBAH, Math.floor(iova / 2 ** 32));
  bar.write32(R.TDLEN, descriptors * R.DESC_SIZE);
  bar.write32(R.TDH, 0);
  bar.write32(R.TDT, 0);
  bar.write32(R.TXDCTL, R.XDCTL_QUEUE_ENABLE);
}

/** Interrupts masked, both queues off, bus mastering off: no DMA and no MSI-X from here on. */
export function quiesce(device: Device, bar: Region): void {
  bar.write32(R.EIMC, R.EICR_VECTORS);
  bar.write32(R.EIAC, 0);
  bar.write32(R.RXDCTL, bar.read32(R.RXDCTL) & ~R.XDCTL_QUEUE_ENABLE);
  bar.write32(R.TXDCTL, bar.read32(R.TXDCTL) & ~R.XDCTL_QUEUE_ENABLE);
  device.config.setBusMaster(false);
}
