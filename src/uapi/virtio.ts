// Virtio 1.x over PCI as data: the layouts of <linux/virtio_pci.h>, <linux/virtio_config.h>,
// <linux/virtio_ring.h> and <linux/virtio_net.h> (the virtio specification's, under the
// kernel's names). One place for both sides: the driver (src/virtio, src/net/virtio-net) and
// the fake kernel's device model read the same table.

/** Red Hat's vendor id, which every virtio PCI function carries. */
export const PCI_VENDOR_ID_REDHAT_QUMRANET = 0x1af4;
/** Modern (virtio 1.x only) device ids are this plus the virtio device id. */
export const VIRTIO_PCI_MODERN_DEVICE_BASE = 0x1040;
/** Transitional device ids run 0x1000-0x103f (legacy and modern interfaces both). */
export const VIRTIO_PCI_TRANSITIONAL_FIRST = 0x1000;
export const VIRTIO_PCI_TRANSITIONAL_LAST = 0x103f;

/** Virtio device ids (the spec's "Device Types"), by name. */
export const VIRTIO_ID: Readonly<Record<'net' | 'block' | 'console' | 'entropy' | 'balloon' | 'scsi' | '9p' | 'gpu' | 'input' | 'vsock' | 'crypto' | 'iommu' | 'mem' | 'sound' | 'fs' | 'pmem', number>> = {
  net: 1,
  block: 2,
  console: 3,
  entropy: 4,
  balloon: 5,
  scsi: 8,
  '9p': 9,
  gpu: 16,
  input: 18,
  vsock: 19,
  crypto: 20,
  iommu: 23,
  mem: 24,
  sound: 25,
  fs: 26,
  pmem: 27,
};

/** Transitional PCI device id → virtio device id (the spec's table; the rest are not assigned). */
export const VIRTIO_TRANSITIONAL_IDS: Readonly<Record<number, number>> = {
  0x1000: VIRTIO_ID.net,
  0x1001: VIRTIO_ID.block,
  0x1002: VIRTIO_ID.balloon,
  0x1003: VIRTIO_ID.console,
  0x1004: VIRTIO_ID.scsi,
  0x1005: VIRTIO_ID.entropy,
  0x1009: VIRTIO_ID['9p'],
};

// --- struct virtio_pci_cap: a vendor-specific PCI capability (PCI_CAP_ID_VNDR) per structure
export const VIRTIO_PCI_CAP_VNDR = 0;
export const VIRTIO_PCI_CAP_NEXT = 1;
export const VIRTIO_PCI_CAP_LEN = 2;
export const VIRTIO_PCI_CAP_CFG_TYPE = 3;
export const VIRTIO_PCI_CAP_BAR = 4;
export const VIRTIO_PCI_CAP_ID = 5;
export const VIRTIO_PCI_CAP_OFFSET = 8;
export const VIRTIO_PCI_CAP_LENGTH = 12;
export const VIRTIO_PCI_CAP_SIZEOF = 16;
/** struct virtio_pci_notify_cap: the cap, then notify_off_multiplier. */
export const VIRTIO_PCI_NOTIFY_CAP_MULT = 16;
export const VIRTIO_PCI_NOTIFY_CAP_SIZEOF = 20;
/** struct virtio_pci_cfg_cap: the cap, then a 4-byte data window. */
export const VIRTIO_PCI_CFG_CAP_DATA = 16;
export const VIRTIO_PCI_CFG_CAP_SIZEOF = 20;

export const VIRTIO_PCI_CAP_COMMON_CFG = 1;
export const VIRTIO_PCI_CAP_NOTIFY_CFG = 2;
export const VIRTIO_PCI_CAP_ISR_CFG = 3;
export const VIRTIO_PCI_CAP_DEVICE_CFG = 4;
export const VIRTIO_PCI_CAP_PCI_CFG = 5;
export const VIRTIO_PCI_CAP_SHARED_MEMORY_CFG = 8;
export const VIRTIO_PCI_CAP_VENDOR_CFG = 9;

// --- struct virtio_pci_common_cfg (little-endian), offsets in the common structure
export const VIRTIO_PCI_COMMON_DFSELECT = 0;
export const VIRTIO_PCI_COMMON_DF = 4;
export const VIRTIO_PCI_COMMON_GFSELECT = 8;
export const VIRTIO_PCI_COMMON_GF = 12;
export const VIRTIO_PCI_COMMON_MSIX = 16;
export const VIRTIO_PCI_COMMON_NUMQ = 18;
export const VIRTIO_PCI_COMMON_STATUS = 20;
export const VIRTIO_PCI_COMMON_CFGGENERATION = 21;
export const VIRTIO_PCI_COMMON_Q_SELECT = 22;
export const VIRTIO_PCI_COMMON_Q_SIZE = 24;
export const VIRTIO_PCI_COMMON_Q_MSIX = 26;
export const VIRTIO_PCI_COMMON_Q_ENABLE = 28;
export const VIRTIO_PCI_COMMON_Q_NOFF = 30;
export const VIRTIO_PCI_COMMON_Q_DESCLO = 32;
export const VIRTIO_PCI_COMMON_Q_DESCHI = 36;
export const VIRTIO_PCI_COMMON_Q_AVAILLO = 40;
export const VIRTIO_PCI_COMMON_Q_AVAILHI = 44;
export const VIRTIO_PCI_COMMON_Q_USEDLO = 48;
export const VIRTIO_PCI_COMMON_Q_USEDHI = 52;
export const VIRTIO_PCI_COMMON_Q_NDATA = 56;
export const VIRTIO_PCI_COMMON_Q_RESET = 58;
/** The common structure up to queue_device (what a virtio 1.0 device must provide). */
export const VIRTIO_PCI_COMMON_CFG_MIN_SIZEOF = 56;
/** config_msix_vector / queue_msix_vector meaning "no vector". */
export const VIRTIO_MSI_NO_VECTOR = 0xffff;

// --- ISR status (read clears it)
export const VIRTIO_PCI_ISR_QUEUE = 0x1;
export const VIRTIO_PCI_ISR_CONFIG = 0x2;

// --- device status
export const VIRTIO_CONFIG_S_ACKNOWLEDGE = 1;
export const VIRTIO_CONFIG_S_DRIVER = 2;
export const VIRTIO_CONFIG_S_DRIVER_OK = 4;
export const VIRTIO_CONFIG_S_FEATURES_OK = 8;
export const VIRTIO_CONFIG_S_NEEDS_RESET = 0x40;
export const VIRTIO_CONFIG_S_FAILED = 0x80;

// --- device-independent feature bits (bit numbers in the 64-bit feature word)
export const VIRTIO_F_NOTIFY_ON_EMPTY = 24;
export const VIRTIO_F_ANY_LAYOUT = 27;
export const VIRTIO_RING_F_INDIRECT_DESC = 28;
export const VIRTIO_RING_F_EVENT_IDX = 29;
export const VIRTIO_F_VERSION_1 = 32;
export const VIRTIO_F_ACCESS_PLATFORM = 33;
export const VIRTIO_F_RING_PACKED = 34;
export const VIRTIO_F_IN_ORDER = 35;
export const VIRTIO_F_ORDER_PLATFORM = 36;
export const VIRTIO_F_SR_IOV = 37;
export const VIRTIO_F_NOTIFICATION_DATA = 38;
export const VIRTIO_F_NOTIF_CONFIG_DATA = 39;
export const VIRTIO_F_RING_RESET = 40;

// --- split virtqueues: struct vring_desc, vring_avail, vring_used
export const VRING_DESC_SIZEOF = 16;
export const VRING_DESC_ADDR = 0;
export const VRING_DESC_LEN = 8;
export const VRING_DESC_FLAGS = 12;
export const VRING_DESC_NEXT = 14;
export const VRING_DESC_F_NEXT = 1;
export const VRING_DESC_F_WRITE = 2;
export const VRING_DESC_F_INDIRECT = 4;
/** avail: flags, idx, ring[size], then used_event (with EVENT_IDX). */
export const VRING_AVAIL_FLAGS = 0;
export const VRING_AVAIL_IDX = 2;
export const VRING_AVAIL_RING = 4;
export const VRING_AVAIL_F_NO_INTERRUPT = 1;
/** used: flags, idx, ring[size] of { id: u32, len: u32 }, then avail_event (with EVENT_IDX). */
export const VRING_USED_FLAGS = 0;
export const VRING_USED_IDX = 2;
export const VRING_USED_RING = 4;
export const VRING_USED_ELEM_SIZEOF = 8;
export const VRING_USED_F_NO_NOTIFY = 1;
/** Alignment of the three parts of a split ring (virtio 1.x; legacy aligned used to 4096). */
export const VRING_DESC_ALIGN = 16;
export const VRING_AVAIL_ALIGN = 2;
export const VRING_USED_ALIGN = 4;
/** Largest split queue: sizes are powers of two up to this. */
export const VIRTQUEUE_MAX_SIZE = 32768;

/** Bytes of the available ring of a split queue of `size` entries, used_event included. */
export function vringAvailSize(size: number): number {
  return VRING_AVAIL_RING + 2 * size + 2;
}

/** Bytes of the used ring of a split queue of `size` entries, avail_event included. */
export function vringUsedSize(size: number): number {
  return VRING_USED_RING + VRING_USED_ELEM_SIZEOF * size + 2;
}

/**
 * vring_need_event: with EVENT_IDX, whether moving an index from `old` to `next` crosses the
 * other side's event index `event` (all 16-bit, wrapping).
 */
export function vringNeedEvent(event: number, next: number, old: number): boolean {
  return ((next - event - 1) & 0xffff) < ((next - old) & 0xffff);
}

// --- virtio-net feature bits
export const VIRTIO_NET_F_CSUM = 0;
export const VIRTIO_NET_F_GUEST_CSUM = 1;
export const VIRTIO_NET_F_CTRL_GUEST_OFFLOADS = 2;
export const VIRTIO_NET_F_MTU = 3;
export const VIRTIO_NET_F_MAC = 5;
export const VIRTIO_NET_F_GUEST_TSO4 = 7;
export const VIRTIO_NET_F_GUEST_TSO6 = 8;
export const VIRTIO_NET_F_GUEST_ECN = 9;
export const VIRTIO_NET_F_GUEST_UFO = 10;
export const VIRTIO_NET_F_HOST_TSO4 = 11;
export const VIRTIO_NET_F_HOST_TSO6 = 12;
export const VIRTIO_NET_F_HOST_ECN = 13;
export const VIRTIO_NET_F_HOST_UFO = 14;
export const VIRTIO_NET_F_MRG_RXBUF = 15;
export const VIRTIO_NET_F_STATUS = 16;
export const VIRTIO_NET_F_CTRL_VQ = 17;
export const VIRTIO_NET_F_CTRL_RX = 18;
export const VIRTIO_NET_F_CTRL_VLAN = 19;
export const VIRTIO_NET_F_CTRL_RX_EXTRA = 20;
export const VIRTIO_NET_F_GUEST_ANNOUNCE = 21;
export const VIRTIO_NET_F_MQ = 22;
export const VIRTIO_NET_F_CTRL_MAC_ADDR = 23;
export const VIRTIO_NET_F_HASH_REPORT = 57;
export const VIRTIO_NET_F_RSS = 60;
export const VIRTIO_NET_F_RSC_EXT = 61;
export const VIRTIO_NET_F_STANDBY = 62;
export const VIRTIO_NET_F_SPEED_DUPLEX = 63;

// --- struct virtio_net_config (device-specific configuration)
export const VIRTIO_NET_CONFIG_MAC = 0;
export const VIRTIO_NET_CONFIG_STATUS = 6;
export const VIRTIO_NET_CONFIG_MAX_PAIRS = 8;
export const VIRTIO_NET_CONFIG_MTU = 10;
export const VIRTIO_NET_CONFIG_SPEED = 12;
export const VIRTIO_NET_CONFIG_DUPLEX = 16;
export const VIRTIO_NET_S_LINK_UP = 1;
export const VIRTIO_NET_S_ANNOUNCE = 2;
/** speed when the device does not know it. */
export const VIRTIO_NET_SPEED_UNKNOWN = 0xffffffff;

// --- struct virtio_net_hdr_v1: in front of every frame, both directions (12 bytes with VERSION_1)
export const VIRTIO_NET_HDR_FLAGS = 0;
export const VIRTIO_NET_HDR_GSO_TYPE = 1;
export const VIRTIO_NET_HDR_HDR_LEN = 2;
export const VIRTIO_NET_HDR_GSO_SIZE = 4;
export const VIRTIO_NET_HDR_CSUM_START = 6;
export const VIRTIO_NET_HDR_CSUM_OFFSET = 8;
export const VIRTIO_NET_HDR_NUM_BUFFERS = 10;
export const VIRTIO_NET_HDR_V1_SIZEOF = 12;
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_F_RSC_INFO = 4;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

// --- the virtio-net control queue: struct virtio_net_ctrl_hdr { u8 class; u8 command; }, the
// command's data, then one device-written ack byte
export const VIRTIO_NET_CTRL_HDR_SIZEOF = 2;
export const VIRTIO_NET_OK = 0;
export const VIRTIO_NET_ERR = 1;
/** Receive filtering (VIRTIO_NET_F_CTRL_RX, _RX_EXTRA); data: u8 on/off. */
export const VIRTIO_NET_CTRL_RX = 0;
export const VIRTIO_NET_CTRL_RX_PROMISC = 0;
export const VIRTIO_NET_CTRL_RX_ALLMULTI = 1;
export const VIRTIO_NET_CTRL_RX_ALLUNI = 2;
export const VIRTIO_NET_CTRL_RX_NOMULTI = 3;
export const VIRTIO_NET_CTRL_RX_NOUNI = 4;
export const VIRTIO_NET_CTRL_RX_NOBCAST = 5;
/** MAC filter tables (two of { le32 entries; u8 macs[entries][6] }: unicast, multicast) and the address (CTRL_MAC_ADDR). */
export const VIRTIO_NET_CTRL_MAC = 1;
export const VIRTIO_NET_CTRL_MAC_TABLE_SET = 0;
export const VIRTIO_NET_CTRL_MAC_ADDR_SET = 1;
/** VLAN filter (VIRTIO_NET_F_CTRL_VLAN); data: le16 vid. */
export const VIRTIO_NET_CTRL_VLAN = 2;
export const VIRTIO_NET_CTRL_VLAN_ADD = 0;
export const VIRTIO_NET_CTRL_VLAN_DEL = 1;
/** Acknowledging VIRTIO_NET_S_ANNOUNCE (VIRTIO_NET_F_GUEST_ANNOUNCE). */
export const VIRTIO_NET_CTRL_ANNOUNCE = 3;
export const VIRTIO_NET_CTRL_ANNOUNCE_ACK = 0;
/** Queue pairs in use (VIRTIO_NET_F_MQ; data: le16 pairs), RSS and hash configuration. */
export const VIRTIO_NET_CTRL_MQ = 4;
export const VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET = 0;
export const VIRTIO_NET_CTRL_MQ_RSS_CONFIG = 1;
export const VIRTIO_NET_CTRL_MQ_HASH_CONFIG = 2;
/** Receive offloads in use (VIRTIO_NET_F_CTRL_GUEST_OFFLOADS); data: le64 offload feature bits. */
export const VIRTIO_NET_CTRL_GUEST_OFFLOADS = 5;
export const VIRTIO_NET_CTRL_GUEST_OFFLOADS_SET = 0;

/** virtio-net's queues: receiveq of pair N is 2N, transmitq 2N+1; the control queue follows the last pair. */
export function virtioNetRxQueue(pair: number): number {
  return 2 * pair;
}
/** The transmit queue of pair N (2N+1). */
export function virtioNetTxQueue(pair: number): number {
  return 2 * pair + 1;
}

/** Names of the feature bits for display (`vfio info`), device-independent and virtio-net's. */
export const VIRTIO_FEATURE_NAMES: Readonly<Record<number, string>> = {
  [VIRTIO_F_NOTIFY_ON_EMPTY]: 'NOTIFY_ON_EMPTY',
  [VIRTIO_F_ANY_LAYOUT]: 'ANY_LAYOUT',
  [VIRTIO_RING_F_INDIRECT_DESC]: 'RING_INDIRECT_DESC',
  [VIRTIO_RING_F_EVENT_IDX]: 'RING_EVENT_IDX',
  [VIRTIO_F_VERSION_1]: 'VERSION_1',
  [VIRTIO_F_ACCESS_PLATFORM]: 'ACCESS_PLATFORM',
  [VIRTIO_F_RING_PACKED]: 'RING_PACKED',
  [VIRTIO_F_IN_ORDER]: 'IN_ORDER',
  [VIRTIO_F_ORDER_PLATFORM]: 'ORDER_PLATFORM',
  [VIRTIO_F_SR_IOV]: 'SR_IOV',
  [VIRTIO_F_NOTIFICATION_DATA]: 'NOTIFICATION_DATA',
  [VIRTIO_F_NOTIF_CONFIG_DATA]: 'NOTIF_CONFIG_DATA',
  [VIRTIO_F_RING_RESET]: 'RING_RESET',
};

/** Names of virtio-net's own feature bits (0-23 and 57-63). */
export const VIRTIO_NET_FEATURE_NAMES: Readonly<Record<number, string>> = {
  [VIRTIO_NET_F_CSUM]: 'CSUM',
  [VIRTIO_NET_F_GUEST_CSUM]: 'GUEST_CSUM',
  [VIRTIO_NET_F_CTRL_GUEST_OFFLOADS]: 'CTRL_GUEST_OFFLOADS',
  [VIRTIO_NET_F_MTU]: 'MTU',
  [VIRTIO_NET_F_MAC]: 'MAC',
  6: 'GSO',
  [VIRTIO_NET_F_GUEST_TSO4]: 'GUEST_TSO4',
  [VIRTIO_NET_F_GUEST_TSO6]: 'GUEST_TSO6',
  [VIRTIO_NET_F_GUEST_ECN]: 'GUEST_ECN',
  [VIRTIO_NET_F_GUEST_UFO]: 'GUEST_UFO',
  [VIRTIO_NET_F_HOST_TSO4]: 'HOST_TSO4',
  [VIRTIO_NET_F_HOST_TSO6]: 'HOST_TSO6',
  [VIRTIO_NET_F_HOST_ECN]: 'HOST_ECN',
  [VIRTIO_NET_F_HOST_UFO]: 'HOST_UFO',
  [VIRTIO_NET_F_MRG_RXBUF]: 'MRG_RXBUF',
  [VIRTIO_NET_F_STATUS]: 'STATUS',
  [VIRTIO_NET_F_CTRL_VQ]: 'CTRL_VQ',
  [VIRTIO_NET_F_CTRL_RX]: 'CTRL_RX',
  [VIRTIO_NET_F_CTRL_VLAN]: 'CTRL_VLAN',
  [VIRTIO_NET_F_CTRL_RX_EXTRA]: 'CTRL_RX_EXTRA',
  [VIRTIO_NET_F_GUEST_ANNOUNCE]: 'GUEST_ANNOUNCE',
  [VIRTIO_NET_F_MQ]: 'MQ',
  [VIRTIO_NET_F_CTRL_MAC_ADDR]: 'CTRL_MAC_ADDR',
  [VIRTIO_NET_F_HASH_REPORT]: 'HASH_REPORT',
  [VIRTIO_NET_F_RSS]: 'RSS',
  [VIRTIO_NET_F_RSC_EXT]: 'RSC_EXT',
  [VIRTIO_NET_F_STANDBY]: 'STANDBY',
  [VIRTIO_NET_F_SPEED_DUPLEX]: 'SPEED_DUPLEX',
};
