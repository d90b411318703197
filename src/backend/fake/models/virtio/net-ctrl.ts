// virtio-net's control queue and the receive filter it programs, as QEMU 7.2's
// hw/net/virtio-net.c has them (virtio_net_handle_ctrl_iov, receive_filter): QEMU answers
// commands whether or not CTRL_VQ was negotiated, and filters only once promiscuous mode,
// on after every reset, is turned off.
import {
  VIRTIO_NET_CTRL_ANNOUNCE,
  VIRTIO_NET_CTRL_HDR_SIZEOF,
  VIRTIO_NET_CTRL_MAC,
  VIRTIO_NET_CTRL_MAC_ADDR_SET,
  VIRTIO_NET_CTRL_MAC_TABLE_SET,
  VIRTIO_NET_CTRL_MQ,
  VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET,
  VIRTIO_NET_CTRL_RX,
  VIRTIO_NET_CTRL_RX_ALLMULTI,
  VIRTIO_NET_CTRL_RX_ALLUNI,
  VIRTIO_NET_CTRL_RX_NOBCAST,
  VIRTIO_NET_CTRL_RX_NOMULTI,
  VIRTIO_NET_CTRL_RX_NOUNI,
  VIRTIO_NET_CTRL_RX_PROMISC,
  VIRTIO_NET_CTRL_VLAN,
  VIRTIO_NET_CTRL_VLAN_ADD,
  VIRTIO_NET_CTRL_VLAN_DEL,
  VIRTIO_NET_ERR,
  VIRTIO_NET_OK,
} from '../../../../uapi/virtio.js';
import { gather, scatter } from './net-queues.js';
import { VirtioDeviceError, type Chain, type Dma } from './split-ring.js';

/** QEMU's MAC_TABLE_ENTRIES: more addresses than this overflow to "accept all" of that kind. */
export const MAC_TABLE_ENTRIES = 64;
const MAX_VLAN = 4096;

const sameMac = (a: Uint8Array, b: Uint8Array, at = 0): boolean => {
  for (let i = 0; i < 6; i++) if (a[i] !== b[at + i]) return false;
  return true;
};

/** The receive filter state (QEMU's promisc, allmulti, ..., mac_table, vlans, mac). */
export class RxFilter {
  promisc = true;
  allmulti = false;
  alluni = false;
  nomulti = false;
  nouni = false;
  nobcast = false;
  /** Unicast entries first, multicast from `firstMulti`. */
  macs: Uint8Array[] = [];
  firstMulti = 0;
  uniOverflow = false;
  multiOverflow = false;
  readonly vlans = new Uint32Array(MAX_VLAN / 32);
  /** The station address now (CTRL_MAC_ADDR may change it; reset restores the permanent one). */
  mac: Uint8Array;
  readonly #permanent: Uint8Array;

  constructor(mac: Uint8Array) {
    this.#permanent = mac;
    this.mac = mac.slice();
  }

  /** QEMU's virtio_net_reset. */
  reset(): void {
    this.promisc = true;
    this.allmulti = this.alluni = this.nomulti = this.nouni = this.nobcast = false;
    this.macs = [];
    this.firstMulti = 0;
    this.uniOverflow = this.multiOverflow = false;
    this.vlans.fill(0);
    this.mac = this.#permanent.slice();
  }

  /** Features accepted (QEMU's virtio_net_set_features): without CTRL_VLAN every VLAN passes. */
  setVlanFiltering(on: boolean): void {
    this.vlans.fill(on ? 0 : 0xffffffff);
  }

  /** QEMU's receive_filter. */
  accepts(f: Uint8Array): boolean {
    if (this.promisc) return true;
    if (f.length >= 16 && f[12] === 0x81 && f[13] === 0x00) {
      const vid = ((f[14]! << 8) | f[15]!) & 0xfff;
      if (!(this.vlans[vid >> 5]! & (1 << (vid & 0x1f)))) return false;
    }
    if (f[0]! & 1) {
      if (f[0] === 0xff && f[1] === 0xff && f[2] === 0xff && f[3] === 0xff && f[4] === 0xff && f[5] === 0xff) return !this.nobcast;
      if (this.nomulti) return false;
      if (this.allmulti || this.multiOverflow) return true;
      return this.macs.slice(this.firstMulti).some((m) => sameMac(m, f));
    }
    if (this.nouni) return false;
    if (this.alluni || this.uniOverflow || sameMac(this.mac, f)) return true;
    return this.macs.slice(0, this.firstMulti).some((m) => sameMac(m, f));
  }

  /** One command: VIRTIO_NET_OK or VIRTIO_NET_ERR (QEMU's handlers, for a device with one queue pair and no offloads). */
  command(cls: number, cmd: number, data: Uint8Array, has: (feature: number) => boolean, mqFeature: number): number {
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    switch (cls) {
      case VIRTIO_NET_CTRL_RX: {
        if (data.length < 1) return VIRTIO_NET_ERR;
        const on = data[0] !== 0;
        if (cmd === VIRTIO_NET_CTRL_RX_PROMISC) this.promisc = on;
        else if (cmd === VIRTIO_NET_CTRL_RX_ALLMULTI) this.allmulti = on;
        else if (cmd === VIRTIO_NET_CTRL_RX_ALLUNI) this.alluni = on;
        else if (cmd === VIRTIO_NET_CTRL_RX_NOMULTI) this.nomulti = on;
        else if (cmd === VIRTIO_NET_CTRL_RX_NOUNI) this.nouni = on;
        else if (cmd === VIRTIO_NET_CTRL_RX_NOBCAST) this.nobcast = on;
        else return VIRTIO_NET_ERR;
        return VIRTIO_NET_OK;
      }
      case VIRTIO_NET_CTRL_MAC:
        if (cmd === VIRTIO_NET_CTRL_MAC_ADDR_SET) {
          if (data.length !== 6) return VIRTIO_NET_ERR;
          this.mac = data.slice();
          return VIRTIO_NET_OK;
        }
        return cmd === VIRTIO_NET_CTRL_MAC_TABLE_SET ? this.#macTable(v) : VIRTIO_NET_ERR;
      case VIRTIO_NET_CTRL_VLAN: {
        if (data.length < 2) return VIRTIO_NET_ERR;
        const vid = v.getUint16(0, true);
        if (vid >= MAX_VLAN) return VIRTIO_NET_ERR;
        if (cmd === VIRTIO_NET_CTRL_VLAN_ADD) this.vlans[vid >> 5]! |= 1 << (vid & 0x1f);
        else if (cmd === VIRTIO_NET_CTRL_VLAN_DEL) this.vlans[vid >> 5]! &= ~(1 << (vid & 0x1f));
        else return VIRTIO_NET_ERR;
        return VIRTIO_NET_OK;
      }
      case VIRTIO_NET_CTRL_MQ:
        // One pair: only "use 1 pair", and only with MQ negotiated.
        return cmd === VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET && has(mqFeature) && data.length >= 2 && v.getUint16(0, true) === 1 ? VIRTIO_NET_OK : VIRTIO_NET_ERR;
      case VIRTIO_NET_CTRL_ANNOUNCE: // the model never announces (no migration)
      default:
        // GUEST_OFFLOADS too: the hub port has no virtio-net header, so no offload can be set.
        return VIRTIO_NET_ERR;
    }
  }

  /** MAC_TABLE_SET: { le32 n; macs[n] } unicast then the same for multicast; too many is overflow, short data an error. */
  #macTable(v: DataView): number {
    let at = 0;
    const table = (): { macs: Uint8Array[]; overflow: boolean; exact: boolean } | null => {
      if (at + 4 > v.byteLength) return null;
      const n = v.getUint32(at, true);
      at += 4;
      if (n * 6 > v.byteLength - at) return null;
      const macs: Uint8Array[] = [];
      for (let i = 0; i < n && n <= MAC_TABLE_ENTRIES; i++) macs.push(new Uint8Array(v.buffer, v.byteOffset + at + 6 * i, 6).slice());
      at += n * 6;
      return { macs, overflow: n > MAC_TABLE_ENTRIES, exact: at === v.byteLength };
    };
    const uni = table();
    if (!uni) return VIRTIO_NET_ERR;
    const multi = table();
    if (!multi || !multi.exact) return VIRTIO_NET_ERR;
    const multiOverflow = multi.macs.length + uni.macs.length > MAC_TABLE_ENTRIES || multi.overflow;
    this.macs = [...uni.macs, ...(multiOverflow ? [] : multi.macs)];
    this.firstMulti = uni.macs.length;
    this.uniOverflow = uni.overflow;
    this.multiOverflow = multiOverflow;
    return VIRTIO_NET_OK;
  }
}

/**
 * Answers one control-queue chain: the header and data from the driver-readable buffers, the
 * ack byte into the first device-writable one. Returns the used length (1). Without room for
 * either it is QEMU's virtio_error "virtio-net ctrl missing headers".
 */
export function controlCommand(bus: Dma, chain: Chain, filter: RxFilter, has: (feature: number) => boolean, mqFeature: number): number {
  const inBytes = chain.in.reduce((n, s) => n + s.len, 0);
  const out = gather(bus, chain.out);
  if (inBytes < 1 || out.length < VIRTIO_NET_CTRL_HDR_SIZEOF) throw new VirtioDeviceError('virtio-net ctrl missing headers');
  const ack = filter.command(out[0]!, out[1]!, out.subarray(VIRTIO_NET_CTRL_HDR_SIZEOF), has, mqFeature);
  return scatter(bus, chain.in, 0, Uint8Array.of(ack));
}
