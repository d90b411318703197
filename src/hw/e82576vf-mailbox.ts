/**
 * The 82576 PF-VF mailbox protocol: the messages a VF driver sends the PF's driver and what
 * the PF answers, as Linux's igb (PF) and igbvf (VF) drivers speak it (drivers/net/ethernet/
 * intel/igb/e1000_mbx.h and igb_main.c's igb_rcv_msg_from_vf; igbvf/mbx.h and vf.c). The
 * registers the messages travel through are in e82576vf.ts (VMBMEM, V2PMAILBOX).
 *
 * A message is up to 16 words. Word 0: the message id in bits 15:0, extra information in bits
 * 23:16 (MSGINFO), and in a reply the PF's verdict: ACK or NACK, and CTS once the VF has
 * completed a reset (the PF takes no other request before). A VF_RESET reply carries the MAC
 * address the PF assigned in words 1-2 (ACK), or NACK when none is assigned.
 *
 * The igb PF has no API negotiation (ixgbe's API_NEGOTIATE, 0x08, is not understood): any
 * message it does not know is answered NACK | CTS.
 */

/** Reply bits in word 0. */
export const MSG_ACK = 0x80000000;
export const MSG_NACK = 0x40000000;
/** Clear to send: the VF has completed its reset handshake. */
export const MSG_CTS = 0x20000000;
/** Bits 23:16 of word 0. */
export const MSGINFO_SHIFT = 16;
export const MSGINFO_MASK = 0xff << MSGINFO_SHIFT;
/** The message id (bits 15:0). */
export const MSG_ID_MASK = 0xffff;

/** VF → PF: reset me; the reply carries the MAC address in words 1-2 (3 words). */
export const VF_RESET = 0x01;
/** VF → PF: use the MAC address in words 1-2 (6 bytes). NACKed when an administrator set the VF's address. */
export const VF_SET_MAC_ADDR = 0x02;
/** MSGINFO of VF_SET_MAC_ADDR: clear / add an extra unicast filter (instead of setting the address). */
export const VF_MAC_FILTER_CLR = 0x01 << MSGINFO_SHIFT;
export const VF_MAC_FILTER_ADD = 0x02 << MSGINFO_SHIFT;
/** VF → PF: multicast hash list; MSGINFO the count (up to 30), the 16-bit hashes packed from word 1. */
export const VF_SET_MULTICAST = 0x03;
/** VF → PF: VLAN filter; MSGINFO 1 adds, 0 removes; word 1 the VLAN id. */
export const VF_SET_VLAN = 0x04;
/** VF → PF: largest frame to accept (word 1, bytes including the FCS): sets VMOLR.LPE/RLPML. */
export const VF_SET_LPE = 0x05;
/** VF → PF: promiscuous modes; MSGINFO bit 1 multicast promiscuous. igb refuses any other flag (no unicast promiscuous for VFs). */
export const VF_SET_PROMISC = 0x06;
export const VF_SET_PROMISC_UNICAST = 0x01 << MSGINFO_SHIFT;
export const VF_SET_PROMISC_MULTICAST = 0x02 << MSGINFO_SHIFT;
/** PF → VF: a control message (a "ping"): sent on link changes and when the PF resets (then without CTS). */
export const PF_CONTROL_MSG = 0x0100;

/** Multicast hashes one VF_SET_MULTICAST carries. */
export const MAX_MULTICAST_HASHES = 30;

/** How long Linux's igbvf waits for the PF: posted reads and writes, 2000 polls 500 µs apart (1 s). */
export const MBX_TIMEOUT_MS = 1000;
/** How long Linux waits for RSTD/RSTI after a VF reset: 200 polls 5 µs apart. */
export const RESET_WAIT_MS = 1;

/** A name for a message id, for errors ('VF_SET_MAC_ADDR', or the number in hex). */
export function mailboxMessageName(word0: number): string {
  const id = word0 & MSG_ID_MASK;
  const names: Record<number, string> = {
    [VF_RESET]: 'VF_RESET',
    [VF_SET_MAC_ADDR]: 'VF_SET_MAC_ADDR',
    [VF_SET_MULTICAST]: 'VF_SET_MULTICAST',
    [VF_SET_VLAN]: 'VF_SET_VLAN',
    [VF_SET_LPE]: 'VF_SET_LPE',
    [VF_SET_PROMISC]: 'VF_SET_PROMISC',
    [PF_CONTROL_MSG]: 'PF_CONTROL_MSG',
  };
  return names[id] ?? `message 0x${id.toString(16)}`;
}

/** The multicast filter hash Linux's igbvf sends for an address (128 MTA registers: bits 47:36 of the address). */
export function multicastHash(mac: Uint8Array): number {
  return ((mac[4]! >>> 4) | (mac[5]! << 4)) & 0xfff;
}
