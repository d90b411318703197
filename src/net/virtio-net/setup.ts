/**
 * virtio-net's initialisation steps (spec §3.1.1 and §5.1.5) as functions over the
 * transport: reset and feature negotiation, the station address, the link. The port
 * (port.ts) runs them in order; none of them is on the hot path.
 *
 * Features. Negotiated when offered: VERSION_1 (required: this is a virtio 1.x driver),
 * ACCESS_PLATFORM, RING_EVENT_IDX, MAC, STATUS. Not negotiated: the offloads (CSUM, GSO,
 * TSO: the header stays zero), MRG_RXBUF (a frame fits one buffer), CTRL_VQ and so CTRL_RX
 * and MQ (one queue pair), RING_PACKED (split queues only), INDIRECT_DESC.
 *
 * ACCESS_PLATFORM, decided as Linux does (drivers/virtio/virtio_ring.c, vring_use_dma_api):
 * the bit says the device's DMA goes through the platform's IOMMU. Linux accepts it whenever
 * it is offered, and without it the device reads and writes physical (guest-physical)
 * addresses, bypassing any IOMMU. So: accepted whenever offered; required when the device
 * sits behind an IOMMU (Device.dmaTranslated), because the addresses this driver hands out
 * are IOVAs that only the IOMMU turns into memory (QEMU: iommu_platform=on on the device);
 * not required in no-IOMMU mode, where a pool's IOVA is the physical address already.
 */
import type { Device } from '../../model/device.js';
import {
  VIRTIO_CONFIG_S_ACKNOWLEDGE,
  VIRTIO_CONFIG_S_DRIVER,
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_VERSION_1,
  VIRTIO_NET_CONFIG_MAC,
  VIRTIO_NET_CONFIG_STATUS,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_S_LINK_UP,
  VIRTIO_RING_F_EVENT_IDX,
} from '../../uapi/virtio.js';
import type { VirtioPciTransport } from '../../virtio/transport.js';

const bit = (n: number): bigint => 1n << BigInt(n);

/** The features the driver takes when offered. */
export const VIRTIO_NET_WANTED = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_ACCESS_PLATFORM) | bit(VIRTIO_RING_F_EVENT_IDX) | bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_NET_F_STATUS);

/** The features it cannot do without on this device (ACCESS_PLATFORM behind an IOMMU; see the module comment). */
export function requiredFeatures(device: Device): bigint {
  return bit(VIRTIO_F_VERSION_1) | (device.dmaTranslated ? bit(VIRTIO_F_ACCESS_PLATFORM) : 0n);
}

/**
 * Function reset through VFIO (when asked and offered), bus mastering on, the virtio reset,
 * ACKNOWLEDGE and DRIVER, then feature negotiation. Returns the negotiated features. Throws
 * what the transport throws (ERR_VFIO_VIRTIO_RESET_TIMEOUT, ERR_VFIO_VIRTIO_FEATURES).
 */
export function resetAndNegotiate(device: Device, transport: VirtioPciTransport, flr: boolean): bigint {
  if (flr && device.canReset) device.reset();
  device.config.setBusMaster(true);
  transport.reset();
  transport.addStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE);
  transport.addStatus(VIRTIO_CONFIG_S_DRIVER);
  return transport.negotiate(VIRTIO_NET_WANTED, requiredFeatures(device));
}

/**
 * The station address: virtio_net_config.mac with VIRTIO_NET_F_MAC; without it a random
 * locally administered unicast address, as Linux does (eth_hw_addr_random): the device
 * delivers every frame anyway (no CTRL_RX filter), so it only names the port's frames.
 */
export function readMac(transport: VirtioPciTransport): Uint8Array {
  if (!transport.hasFeature(VIRTIO_NET_F_MAC)) {
    const mac = crypto.getRandomValues(new Uint8Array(6));
    mac[0] = (mac[0]! & 0xfe) | 0x02;
    return mac;
  }
  return transport.readConfig((r) => Uint8Array.from({ length: 6 }, (_, i) => r.u8(VIRTIO_NET_CONFIG_MAC + i)));
}

/** Link up: virtio_net_config.status & LINK_UP with VIRTIO_NET_F_STATUS; always up without it (§5.1.4). */
export function readLinkUp(transport: VirtioPciTransport): boolean {
  if (!transport.hasFeature(VIRTIO_NET_F_STATUS)) return true;
  return (transport.readConfig((r) => r.u16(VIRTIO_NET_CONFIG_STATUS)) & VIRTIO_NET_S_LINK_UP) !== 0;
}
