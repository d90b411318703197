/**
 * The VF's side of the PF-VF mailbox, as Linux's igbvf drives it (mbx.c): take the buffer
 * (VFU), write the message, post it (REQ) and wait for the PF's acknowledgement (PFACK); wait
 * for the PF's message (PFSTS), read it and acknowledge it (ACK). PFSTS, PFACK and RSTD clear
 * when V2PMAILBOX is read, so every read keeps them in `#seen` until a check consumes them.
 *
 * Waiting polls V2PMAILBOX: a few reads at once, then every 0.5 ms (Linux's delay) until the
 * timeout, so a PF that never answers costs the timeout and a named error, never a hang. None
 * of this is on the hot path: the port talks to the PF at open, when the app changes a
 * setting, and when the PF pings it.
 */
import type { Region } from '../../model/region.js';
import { netError } from '../errors.js';
import type { VfioError } from '../../errors.js';
import * as R from '../../hw/e82576vf.js';
import { MSG_ACK, MSG_NACK, mailboxMessageName } from '../../hw/e82576vf-mailbox.js';

/** Sleeps the thread for `ms` without spinning. */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

const SPIN_READS = 16;
const POLL_MS = 0.5;

/** A reply of the PF: its words, and whether it says ACK or NACK. */
export interface MailboxReply {
  words: Uint32Array;
  ack: boolean;
  nack: boolean;
}

/** The VF's mailbox to its PF (see the module comment). */
export class VfMailbox {
  readonly #bar: Region;
  readonly #device: string;
  readonly #timeoutMs: number;
  readonly #op: string;
  /** Read-to-clear bits seen and not yet consumed. */
  #seen = 0;
  /** Messages posted and PF messages read (for stats). */
  sent = 0;
  received = 0;

  /** `op` names the caller in errors ('IgbvfPort.open'). */
  constructor(bar: Region, device: string, timeoutMs: number, op: string) {
    this.#bar = bar;
    this.#device = device;
    this.#timeoutMs = timeoutMs;
    this.#op = op;
  }

  /** Reads V2PMAILBOX, keeping the read-to-clear bits; returns them with the current ones. */
  bits(): number {
    const v = this.#bar.read32(R.V2PMAILBOX);
    this.#seen |= v & R.V2P_READ_TO_CLEAR;
    return v | this.#seen;
  }

  /** True (and consumed) when any of `mask` was seen: Linux's e1000_check_for_bit_vf. */
  check(mask: number): boolean {
    const hit = (this.bits() & mask) !== 0;
    this.#seen &= ~mask;
    return hit;
  }

  /** Polls until `mask` is seen (consumed) or `ms` pass; false on timeout. */
  waitFor(mask: number, ms = this.#timeoutMs): boolean {
    const deadline = performance.now() + ms;
    for (let i = 0; ; i++) {
      if (this.check(mask)) return true;
      if (performance.now() >= deadline) return false;
      if (i >= SPIN_READS) sleepSync(POLL_MS);
    }
  }

  /**
   * Posts `msg` (up to 16 words) and waits for the PF to acknowledge it (PFACK). Throws
   * ERR_VFIO_NET_MBX_TIMEOUT when the buffer cannot be taken or the PF does not acknowledge.
   */
  post(msg: ArrayLike<number>): void {
    this.#lock(msg[0]!, 'send');
    // Linux flushes an acknowledgement or message left over: the buffer is overwritten.
    this.check(R.V2P_PFACK | R.V2P_PFSTS);
    for (let i = 0; i < msg.length; i++) this.#bar.write32(R.VMBMEM + 4 * i, msg[i]! >>> 0);
    this.#bar.write32(R.V2PMAILBOX, R.V2P_REQ); // releases the buffer (no VFU) and tells the PF
    this.sent++;
    if (!this.waitFor(R.V2P_PFACK)) throw this.timeout(msg[0]!, 'acknowledge');
  }

  /** Waits for the PF's message (PFSTS), reads `words` of it and acknowledges it. Throws ERR_VFIO_NET_MBX_TIMEOUT. */
  receive(words: number, forMsg: number): MailboxReply {
    if (!this.waitFor(R.V2P_PFSTS)) throw this.timeout(forMsg, 'answer');
    return this.readMessage(words, forMsg);
  }

  /** Reads the PF's message now (PFSTS already seen) and acknowledges it. */
  readMessage(words: number, forMsg: number): MailboxReply {
    this.#lock(forMsg, 'read the answer to');
    const out = new Uint32Array(words);
    for (let i = 0; i < words; i++) out[i] = this.#bar.read32(R.VMBMEM + 4 * i);
    this.#bar.write32(R.V2PMAILBOX, R.V2P_ACK); // acknowledged, buffer released
    this.received++;
    return { words: out, ack: (out[0]! & MSG_ACK) !== 0, nack: (out[0]! & MSG_NACK) !== 0 };
  }

  /** Posts `msg` and returns the PF's answer (`words` long). */
  request(msg: ArrayLike<number>, words = 1): MailboxReply {
    this.post(msg);
    return this.receive(words, msg[0]!);
  }

  /** Takes the buffer (VFU), retrying while the PF holds it. */
  #lock(msg: number, what: string): void {
    const deadline = performance.now() + this.#timeoutMs;
    for (let i = 0; ; i++) {
      this.#bar.write32(R.V2PMAILBOX, R.V2P_VFU);
      if (this.bits() & R.V2P_VFU) return;
      if (performance.now() >= deadline)
        throw netError('ERR_VFIO_NET_MBX_TIMEOUT', this.#op, `could not take the mailbox to ${what} ${mailboxMessageName(msg)}: the PF held it for ${this.#timeoutMs} ms`, {
          device: this.#device,
          hint: this.#hint(),
        });
      if (i >= SPIN_READS) sleepSync(POLL_MS);
    }
  }

  /** ERR_VFIO_NET_MBX_TIMEOUT: the PF did not `what` the message in time. */
  timeout(msg: number, what: 'acknowledge' | 'answer'): VfioError {
    return netError('ERR_VFIO_NET_MBX_TIMEOUT', this.#op, `the PF did not ${what} ${mailboxMessageName(msg)} within ${this.#timeoutMs} ms`, {
      device: this.#device,
      hint: this.#hint(),
    });
  }

  #hint(): string {
    const resetting = (this.bits() & R.V2P_RSTI) !== 0;
    return resetting
      ? "the PF is resetting or not started (V2PMAILBOX.RSTI): IgbvfPort needs the kernel's igb on the PF with its interface up (ip link set <pf> up; a PF bound to vfio-pci answers no VF), then open the VF again"
      : "the PF's driver did not answer: IgbvfPort needs the kernel's igb on the PF with its interface up (ip link set <pf> up); a PF bound to vfio-pci answers no VF. A slow PF may need a larger mailboxTimeoutMs";
  }
}
