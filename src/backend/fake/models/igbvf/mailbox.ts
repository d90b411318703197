import { MAILBOX_WORDS, V2P_ACK, V2P_PFACK, V2P_PFSTS, V2P_PFU, V2P_READ_TO_CLEAR, V2P_REQ, V2P_RSTD, V2P_RSTI, V2P_VFU } from '../../../../hw/e82576vf.js';

/** What the mailbox tells the PF's side when the VF writes V2PMAILBOX. */
export interface MailboxPeer {
  /** The VF posted a message (REQ). */
  request(): void;
  /** The VF read the PF's message (ACK). */
  ack(): void;
}

/**
 * The mailbox hardware between one VF and the PF, as QEMU's igb core has it
 * (igb_set_vfmailbox, igb_set_pfmailbox, igb_mac_vfmailbox_read): the 16-word buffer, the
 * VF's control bits (V2PMAILBOX) and the PF's operations on them. Either side takes the buffer
 * by setting its ownership bit, which it gets only while the other side does not hold it.
 *
 * One difference from QEMU, which hands REQ and ACK to the PF's interrupt handler and updates
 * the ownership bit after: the model updates ownership first and then lets the PF's driver
 * answer at once (synchronously), since the fake kernel runs the driver's polling loop and
 * the PF in one thread.
 */
export class Mailbox {
  /** The message buffer (VMBMEM), read and written by both sides. */
  readonly memory = new Uint32Array(MAILBOX_WORDS);
  #v2p = 0;
  #peer: MailboxPeer | null = null;
  #notifyVf: () => void;

  /** `notifyVf` raises the VF's mailbox interrupt (the PF wrote a message or an acknowledgement). */
  constructor(notifyVf: () => void) {
    this.#notifyVf = notifyVf;
  }

  connect(peer: MailboxPeer): void {
    this.#peer = peer;
  }

  /** The control bits now, without the read side effects (for tests). */
  get bits(): number {
    return this.#v2p;
  }

  // ---- the VF's side ------------------------------------------------------------------

  /** A VF read of V2PMAILBOX: PFSTS, PFACK and RSTD clear as they are read. */
  readV2p(): number {
    const v = this.#v2p;
    this.#v2p &= ~V2P_READ_TO_CLEAR;
    return v;
  }

  /** A VF write of V2PMAILBOX. */
  writeV2p(val: number): void {
    if (val & V2P_VFU) {
      if (!(this.#v2p & V2P_PFU)) this.#v2p |= V2P_VFU;
    } else this.#v2p &= ~V2P_VFU;
    if (val & V2P_REQ) this.#peer?.request();
    if (val & V2P_ACK) this.#peer?.ack();
  }

  // ---- the PF's side ------------------------------------------------------------------

  /** Takes the buffer for the PF; false while the VF holds it. */
  pfLock(): boolean {
    if (this.#v2p & V2P_VFU) return false;
    this.#v2p |= V2P_PFU;
    return true;
  }

  pfUnlock(): void {
    this.#v2p &= ~V2P_PFU;
  }

  /** The PF acknowledges the VF's message (P2VMAILBOX.ACK): PFACK for the VF, and its interrupt. */
  pfAck(): void {
    this.#v2p |= V2P_PFACK;
    this.#notifyVf();
  }

  /** The PF posts a message (P2VMAILBOX.STS): PFSTS for the VF, and its interrupt. */
  pfSend(): void {
    this.#v2p |= V2P_PFSTS;
    this.#notifyVf();
  }

  /** The PF is resetting (RSTI, until resetDone). */
  resetIndication(): void {
    this.#v2p |= V2P_RSTI;
  }

  /** The PF's CTRL.RST (QEMU's igb_reset): V2PMAILBOX back to its reset value, RSTI alone; a message or acknowledgement not yet read is lost. */
  pfReset(): void {
    this.#v2p = V2P_RSTI;
  }

  /** The PF's driver wrote CTRL_EXT.PFRSTD: RSTI clears, RSTD is set. */
  resetDone(): void {
    this.#v2p = (this.#v2p & ~V2P_RSTI) | V2P_RSTD;
  }
}
