/* The shared-memory contract between the 82574 ring simulator (nic-sim.c) and the two
 * drivers measured against it: the C one (nic-driver.c) and the TypeScript one
 * (examples/e1000e/driver.ts through bench/nic/). bench/nic/layout.ts mirrors these
 * numbers; change both together.
 *
 * One file in /dev/shm holds, in order:
 *   [0, 128 KiB)          BAR0: the 82574's register file as plain memory
 *   [128 KiB, +4 KiB)     the control page: start/stop handshake between driver and simulator
 *   [NIC_DMA_OFFSET, ...) "DMA memory": IOVA = NIC_IOVA_BASE + offset into this area
 * Register and descriptor layouts are the datasheet's (Intel 82574 GbE Controller Family
 * Datasheet, §10.2 registers, §7.1/§7.2 legacy descriptors), as in src/hw/e82574.ts. */
#ifndef NIC_SIM_H
#define NIC_SIM_H

#include <stdint.h>

#define NIC_BAR_SIZE (128u * 1024u)
#define NIC_CTL_OFFSET NIC_BAR_SIZE
#define NIC_DMA_OFFSET (NIC_BAR_SIZE + 4096u)
#define NIC_DMA_SIZE (8u << 20)
#define NIC_FILE_SIZE (NIC_DMA_OFFSET + NIC_DMA_SIZE)
/* Above 4 GiB, so a driver that drops the high half of an address (RDBAH/TDBAH, the
 * descriptors' upper word) hands the simulator an address it rejects. */
#define NIC_IOVA_BASE 0x100000000ull

/* Registers the simulator reads or presets (byte offsets in BAR0). */
#define NIC_CTRL 0x0000
#define NIC_CTRL_RST (1u << 26)
#define NIC_STATUS 0x0008
#define NIC_STATUS_UP ((1u << 0) | (1u << 1) | (2u << 6)) /* full duplex, link up, 1000 Mb/s */
#define NIC_EEC 0x0010
#define NIC_EEC_AUTO_RD (1u << 9)
#define NIC_RCTL 0x0100
#define NIC_TCTL 0x0400
#define NIC_EN (1u << 1) /* RCTL.EN and TCTL.EN are the same bit */
#define NIC_RDBAL 0x2800
#define NIC_RDBAH 0x2804
#define NIC_RDLEN 0x2808
#define NIC_RDH 0x2810
#define NIC_RDT 0x2818
#define NIC_TDBAL 0x3800
#define NIC_TDBAH 0x3804
#define NIC_TDLEN 0x3808
#define NIC_TDH 0x3810
#define NIC_TDT 0x3818
#define NIC_TARC0 0x3840
#define NIC_RAL0 0x5400
#define NIC_RAH0 0x5404
#define NIC_RAH_AV (1u << 31)

/* Legacy descriptors, 16 bytes. */
#define NIC_DESC 16
#define NIC_RXD_STAT_DD 0x01
#define NIC_RXD_STAT_EOP 0x02
#define NIC_TXD_CMD_EOP 0x01
#define NIC_TXD_CMD_RS 0x08
#define NIC_TXD_STAT_DD 0x01

/* Control page, 32-bit words. The driver owns GO_MEASURE and STOP, the simulator READY. */
#define NIC_CTL_READY 0   /* simulator: registers preset, polling */
#define NIC_CTL_MEASURE 1 /* driver: 1 when its measured window opens, 2 when it closes */
#define NIC_CTL_STOP 2    /* driver: the simulator may exit and report */

/* The frames the simulator injects: 60 bytes as delivered with the CRC stripped
 * (RCTL.SECRC), i.e. a minimum-size 64-byte frame on the wire. */
#define NIC_FRAME_LEN 60
#define NIC_FRAME_SEQ 14   /* u64 sequence number, little-endian */
#define NIC_FRAME_STAMP 22 /* u64 TSC value at injection (0 when not measuring latency) */
#define NIC_FRAME_PATTERN 30
#define NIC_ETHERTYPE 0x88b5 /* IEEE 802 local experimental */

#endif
