import {
  MAX_MULTICAST_HASHES, MSGINFO_MASK, MSGINFO_SHIFT, MSG_ACK, MSG_CTS, MSG_ID_MASK, MSG_NACK, PF_CONTROL_MSG, VF_MAC_FILTER_ADD, VF_MAC_FILTER_CLR, VF_RESET,
  VF_SET_LPE, VF_SET_MAC_ADDR, VF_SET_MULTICAST, VF_SET_PROMISC, VF_SET_PROMISC_MULTICAST, VF_SET_VLAN, multicastHash,
} from '../../../../hw/e82576vf-mailbox.js';
import { MAILBOX_WORDS } from '../../../../hw/e82576vf.js';
import type { Mailbox, MailboxPeer } from './mailbox.js';

/** What the emulated PF driver is told at construction. */
export interface PfDriverOptions {
  /** The VF's MAC address set by an administrator (`ip link set <pf> vf N mac …`); null: none, the VF picks one. */
  mac: Uint8Array | null;
  /** The PF's driver is loaded and its interface up: it answers the mailbox. */
  up: boolean;
  /** Message ids it NACKs whatever they ask (a stricter or older PF driver). */
  refuse: ReadonlySet<number>;
}

/** Linux's IGB_VF_FLAG_* pause after a NACK to a VF that has not reset: no reply within 2 s of the last. */
const NACK_PAUSE_MS = 2000;
/** Linux igb: a VF asks for at most this frame size (MAX_JUMBO_FRAME_SIZE). */
const MAX_JUMBO_FRAME = 9216;

/**
 * The PF's side of the mailbox as Linux's igb driver answers it (igb_main.c: igb_msg_task,
 * igb_rcv_msg_from_vf, igb_vf_reset_msg, igb_vf_reset_event, igb_set_vf_*), for one VF,
 * with the receive filter it programs for the VF (its MAC address, broadcast, the multicast
 * hashes or multicast promiscuous, the largest frame) and the queue enables (VFRE, VFTE).
 *
 *  - VF_RESET: forgets the VF's multicast, promiscuous and VLAN settings, enables its queues,
 *    marks it clear to send, and answers ACK with the MAC address (or NACK when none is set).
 *  - Any other message before a reset: NACK without CTS, at most one per 2 s (else no reply).
 *  - VF_SET_MAC_ADDR: NACK when an administrator set the VF's MAC, or for a multicast or zero
 *    address; the filter add/clear variants are accepted. VF_SET_MULTICAST: up to 30 hashes.
 *    VF_SET_PROMISC: multicast promiscuous only (any other flag NACK). VF_SET_LPE: the largest
 *    frame. VF_SET_VLAN: remembered, not filtered on. Anything else: NACK | CTS.
 *  - A VF reset (its CTRL.RST, or a function reset) clears the VF's MAC address unless an
 *    administrator set it, and its clear-to-send.
 *  - Link changes ping the VF (PF_CONTROL_MSG, with CTS once it has reset).
 */
export class PfDriver implements MailboxPeer {
  readonly #mbx: Mailbox;
  readonly #adminMac: boolean;
  /** Message ids NACKed regardless. */
  refuse: ReadonlySet<number>;
  /** The driver answers the mailbox (false: not loaded, or its interface down). */
  up: boolean;
  /** The VF's MAC address as the PF filters on it, or null. */
  mac: Uint8Array | null;
  /** The VF completed a reset handshake. */
  cts = false;
  /** Receive enabled for the VF (VFRE). */
  rxEnabled = false;
  /** Transmit enabled for the VF (VFTE). */
  txEnabled = false;
  /** Multicast hashes the VF registered. */
  multicast: number[] = [];
  /** Multicast promiscuous (VMOLR.MPME). */
  allMulticast = false;
  /** Long packets accepted (VMOLR.LPE, set by VF_SET_LPE). */
  longPackets = false;
  /** The largest frame with FCS when longPackets (VMOLR.RLPML; QEMU's reset value 0x2600). */
  maxFrame = 0x2600;
  /** VLAN ids the VF asked for. */
  readonly vlans = new Set<number>();
  /** Every message the PF received, word 0 (for tests). */
  readonly received: number[] = [];
  #lastNack = 0;

  constructor(mailbox: Mailbox, options: PfDriverOptions) {
    this.#mbx = mailbox;
    this.mac = options.mac;
    this.#adminMac = options.mac !== null;
    this.up = options.up;
    this.refuse = options.refuse;
    mailbox.connect(this);
  }

  /** Whether an administrator set the VF's address (the VF may not change it). */
  get adminMac(): boolean {
    return this.#adminMac;
  }

  request(): void {
    if (!this.up) return;
    if (!this.#mbx.pfLock()) return; // the VF still holds the buffer: Linux's read fails, no answer
    const msg = this.#mbx.memory.slice();
    this.#mbx.pfUnlock();
    this.#mbx.pfAck();
    this.received.push(msg[0]!);
    if (msg[0]! & (MSG_ACK | MSG_NACK)) return; // already processed
    if (msg[0] === VF_RESET) return this.#resetMessage();
    if (!this.cts) {
      if (Date.now() - this.#lastNack < NACK_PAUSE_MS) return;
      this.#lastNack = Date.now();
      return this.#reply([msg[0]! | MSG_NACK]);
    }
    const ok = this.refuse.has(msg[0]! & MSG_ID_MASK) ? false : this.#handle(msg);
    this.#reply([(msg[0]! | MSG_CTS | (ok ? MSG_ACK : MSG_NACK)) >>> 0]);
  }

  /** igb_rcv_ack_from_vf: a VF that has not reset is NACKed, at most once per 2 s. */
  ack(): void {
    if (!this.up || this.cts || Date.now() - this.#lastNack < NACK_PAUSE_MS) return;
    this.#lastNack = Date.now();
    this.#reply([MSG_NACK]);
  }

  /** A function-level or CTRL.RST reset of the VF (VFLRE): igb_vf_reset_event. */
  vfReset(): void {
    this.rxEnabled = this.txEnabled = false;
    if (!this.#adminMac) this.mac = null;
    this.#forget();
  }

  /** Tells the VF something changed (a link change): PF_CONTROL_MSG, CTS once it has reset. */
  ping(): void {
    if (this.up) this.#reply([PF_CONTROL_MSG | (this.cts ? MSG_CTS : 0)]);
  }

  /** The PF's driver resets (its interface goes down): its ping without CTS is overwritten by the reset, V2PMAILBOX reads RSTI alone, the VF's queues stopped; it answers nothing more until pfUp. */
  down(): void {
    this.cts = false;
    this.#mbx.pfReset();
    this.rxEnabled = this.txEnabled = false;
    this.up = false;
  }

  /** The PF's driver is up again: CTRL_EXT.PFRSTD (RSTI clears, RSTD set). */
  upAgain(): void {
    this.up = true;
    this.#mbx.resetDone();
  }

  /** The receive filter the PF programmed for the VF: its address, broadcast, its multicast hashes (or all multicast). */
  accepts(frame: Uint8Array): boolean {
    if (!this.rxEnabled) return false;
    const dst = frame.subarray(0, 6);
    if (dst.every((b) => b === 0xff)) return true; // VMOLR.BAM
    if (dst[0]! & 1) return this.allMulticast || this.multicast.includes(multicastHash(dst));
    const mac = this.mac;
    return mac !== null && dst.every((b, i) => b === mac[i]);
  }

  /** igb_rx_is_oversized for the VF's pool. */
  oversized(frame: Uint8Array): boolean {
    const vlan = frame.length >= 14 && frame[12] === 0x81 && frame[13] === 0x00 ? 4 : 0;
    return this.longPackets ? frame.length + 4 > this.maxFrame : frame.length > 14 + vlan + 1500;
  }

  #resetMessage(): void {
    this.#forget();
    this.rxEnabled = this.txEnabled = true;
    this.cts = true;
    const reply = new Uint32Array(3);
    if (this.mac) {
      reply[0] = VF_RESET | MSG_ACK;
      new Uint8Array(reply.buffer, 4, 6).set(this.mac);
    } else reply[0] = VF_RESET | MSG_NACK;
    this.#reply(reply);
  }

  /** igb_vf_reset: what a reset forgets. */
  #forget(): void {
    this.cts = false;
    this.#lastNack = Date.now();
    this.multicast = [];
    this.allMulticast = false;
    this.vlans.clear();
  }

  #handle(msg: Uint32Array): boolean {
    const info = msg[0]! & MSGINFO_MASK;
    const bytes = new Uint8Array(msg.buffer, msg.byteOffset, MAILBOX_WORDS * 4);
    switch (msg[0]! & MSG_ID_MASK) {
      case VF_SET_MAC_ADDR: {
        const addr = bytes.slice(4, 10);
        if (info === VF_MAC_FILTER_CLR) return true;
        if (info === VF_MAC_FILTER_ADD) return !this.#adminMac;
        if (info !== 0 || this.#adminMac || addr[0]! & 1 || addr.every((b) => b === 0)) return false;
        this.mac = addr;
        return true;
      }
      case VF_SET_PROMISC:
        this.allMulticast = (info & VF_SET_PROMISC_MULTICAST) !== 0;
        return (info & ~VF_SET_PROMISC_MULTICAST) === 0;
      case VF_SET_MULTICAST: {
        const n = info >>> MSGINFO_SHIFT;
        const hashes = new Uint16Array(msg.buffer, msg.byteOffset + 4, (MAILBOX_WORDS - 1) * 2);
        this.multicast = Array.from(hashes.subarray(0, Math.min(n, MAX_MULTICAST_HASHES)));
        return true;
      }
      case VF_SET_LPE:
        this.longPackets = true;
        this.maxFrame = Math.min(msg[1]!, MAX_JUMBO_FRAME);
        return true;
      case VF_SET_VLAN: {
        const vid = msg[1]! & 0xfff;
        if (info) this.vlans.add(vid);
        else this.vlans.delete(vid);
        return true;
      }
      default:
        return false;
    }
  }

  /** igb_write_mbx: the message into the buffer (if the VF does not hold it), then STS. */
  #reply(words: ArrayLike<number>): void {
    if (!this.#mbx.pfLock()) return;
    for (let i = 0; i < words.length; i++) this.#mbx.memory[i] = words[i]!;
    this.#mbx.pfSend();
    this.#mbx.pfUnlock();
  }
}
