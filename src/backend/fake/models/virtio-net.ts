import {
  PCI_VENDOR_ID_REDHAT_QUMRANET,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_RING_RESET,
  VIRTIO_F_VERSION_1,
  VIRTIO_NET_CONFIG_DUPLEX,
  VIRTIO_NET_CONFIG_MAC,
  VIRTIO_NET_CONFIG_MAX_PAIRS,
  VIRTIO_NET_CONFIG_MTU,
  VIRTIO_NET_CONFIG_SPEED,
  VIRTIO_NET_CONFIG_STATUS,
  VIRTIO_NET_F_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_CTRL_RX_EXTRA,
  VIRTIO_NET_F_CTRL_VLAN,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_GUEST_ANNOUNCE,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MQ,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_MTU,
  VIRTIO_NET_F_SPEED_DUPLEX,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_S_LINK_UP,
  VIRTIO_NET_SPEED_UNKNOWN,
  VIRTIO_RING_F_EVENT_IDX,
  VIRTIO_RING_F_INDIRECT_DESC,
  virtioNetRxQueue,
  virtioNetTxQueue,
} from '../../../uapi/virtio.js';
import { ConfigBuilder } from '../config.js';
import type { BarSpec, DeviceBus, DeviceModel } from '../model.js';
import { parseMac } from './e1000e.js';
import type { EthernetLink, EthernetPort } from './ethernet.js';
import { addVirtioCaps, MODERN_BAR, MODERN_BAR_SIZE, MSIX_BAR, MSIX_BAR_SIZE, MSIX_PBA_OFFSET } from './virtio/layout.js';
import { controlCommand, RxFilter } from './virtio/net-ctrl.js';
import { receive, transmitFrame } from './virtio/net-queues.js';
import { VirtioPciDevice, type VirtioDeviceType } from './virtio/transport.js';

/** Options of VirtioNetModel. */
export interface VirtioNetModelOptions {
  /** The MAC address in the device configuration (default 52:54:00:12:34:57). */
  mac?: string | Uint8Array;
  /** The cable is plugged in: VIRTIO_NET_S_LINK_UP (default true). */
  link?: boolean;
  /** The size the receive and transmit queues offer (QEMU's rx_queue_size/tx_queue_size, default 256). */
  queueSize?: number;
  /** The features offered (default QEMU_VIRTIO_NET_FEATURES). */
  features?: bigint;
  /** Features that make the device refuse FEATURES_OK when the driver accepts them (a test hook). */
  refuseFeatures?: bigint;
  /** PCI device id (default 0x1041, modern virtio-net). */
  deviceId?: number;
  /** MSI-X vectors (QEMU: 2 per queue pair + 2, so 4); at most 128. */
  msixVectors?: number;
  /**
   * Plugged in behind a PCIe root port: QEMU then adds a PCIe capability (with FLR) and a PM
   * capability, config space is 4 KiB, and VFIO_DEVICE_RESET works. Default false: a
   * conventional function on the root bus, as the guest has it (no FLR, no PM: the only reset
   * is device_status = 0).
   */
  express?: boolean;
}

const bit = (n: number): bigint => 1n << BigInt(n);

/**
 * What QEMU 7.2's `-device virtio-net-pci,disable-legacy=on,iommu_platform=on` offers with a
 * backend without a virtio-net header (a hub port or user networking, so no checksum or
 * segmentation offloads): MAC, STATUS, MRG_RXBUF, the control-queue features (CTRL_VQ,
 * CTRL_RX, CTRL_RX_EXTRA, CTRL_VLAN, CTRL_MAC_ADDR, CTRL_GUEST_OFFLOADS, GUEST_ANNOUNCE),
 * INDIRECT_DESC, EVENT_IDX, VERSION_1, ACCESS_PLATFORM and RING_RESET. (NOTIFY_ON_EMPTY,
 * ANY_LAYOUT and GSO are legacy-only: QEMU hides them from modern drivers.)
 */
export const QEMU_VIRTIO_NET_FEATURES: bigint = [
  VIRTIO_NET_F_CTRL_GUEST_OFFLOADS,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_STATUS,
  VIRTIO_NET_F_CTRL_VQ,
  VIRTIO_NET_F_CTRL_RX,
  VIRTIO_NET_F_CTRL_VLAN,
  VIRTIO_NET_F_CTRL_RX_EXTRA,
  VIRTIO_NET_F_GUEST_ANNOUNCE,
  VIRTIO_NET_F_CTRL_MAC_ADDR,
  VIRTIO_RING_F_INDIRECT_DESC,
  VIRTIO_RING_F_EVENT_IDX,
  VIRTIO_F_VERSION_1,
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_RING_RESET,
].reduce((a, n) => a | bit(n), 0n);

/** The control queue (after the one pair) and QEMU's size for it. */
const CTRL_QUEUE = 2;
const CTRL_QUEUE_SIZE = 64;
/** Bytes of struct virtio_net_config QEMU exposes, by the last offered feature that needs them (virtio_net_set_config_size). */
const CONFIG_SIZES: readonly [number, number][] = [
  [VIRTIO_NET_F_MAC, VIRTIO_NET_CONFIG_STATUS],
  [VIRTIO_NET_F_STATUS, VIRTIO_NET_CONFIG_MAX_PAIRS],
  [VIRTIO_NET_F_MQ, VIRTIO_NET_CONFIG_MTU],
  [VIRTIO_NET_F_MTU, VIRTIO_NET_CONFIG_SPEED],
  [VIRTIO_NET_F_SPEED_DUPLEX, VIRTIO_NET_CONFIG_DUPLEX + 1],
];

/**
 * A model of QEMU 7.2's modern virtio-net PCI function (`virtio-net-pci,disable-legacy=on,
 * iommu_platform=on`; hw/virtio/virtio-pci.c, virtio.c, hw/net/virtio-net.c) on the fake hub:
 *
 *  - PCI: 1af4:1041 revision 1, subsystem 1af4:1100, class 0x020000, INTA; BAR1 a 4 KiB MSI-X
 *    BAR (table at 0, PBA at 2 KiB; 4 vectors), BAR4 16 KiB 64-bit prefetchable holding the
 *    common configuration (0x0000), ISR (0x1000), device configuration (0x2000) and
 *    notifications (0x3000, multiplier 4); vendor capabilities at 0x40..0x84 and MSI-X at 0x98,
 *    linked newest first (0x98 -> 0x84 -> ... -> 0x40) as QEMU links them; no MSI, no PM, no
 *    FLR (so not resettable) unless `express` (behind a PCIe root port: PCIe + PM capabilities,
 *    FLR).
 *  - Queues: receive 0 and transmit 1 (`queueSize`, 256), control 2 (64). Split rings through
 *    the IOMMU; EVENT_IDX, INDIRECT_DESC; no packed rings.
 *  - Control queue (answered whether or not CTRL_VQ was negotiated, as QEMU does): receive
 *    modes (promiscuous, on after every reset, all-multi, ...), MAC and VLAN filter tables, the
 *    MAC address; announce, offloads and multiqueue commands are refused (VIRTIO_NET_ERR).
 *  - Transmit: each chain's buffers are one header + frame; the header is dropped and the
 *    frame goes to the hub (lost while the link is down), used length 0. Receive: header
 *    (num_buffers 1) + frame in one chain; a frame larger than the chain is dropped (the
 *    buffer stays for the next one; counted in `rxOversize`); MRG_RXBUF when negotiated. With
 *    no buffers posted the frame waits in the hub until the driver kicks the receive queue.
 *  - Errors QEMU treats as fatal (bad descriptor chains, faulted ring or buffer DMA) set
 *    DEVICE_NEEDS_RESET with a configuration interrupt and stop the queues until reset; they,
 *    and anything else a driver should not do, are in `errors`, never thrown.
 */
export class VirtioNetModel implements DeviceModel, EthernetPort {
  readonly config: Uint8Array;
  readonly bars: readonly (BarSpec | undefined)[];
  readonly resettable: boolean;
  /** What the driver did that the device would not like, oldest first. */
  readonly errors: string[] = [];
  /** The MAC address in the device configuration. */
  readonly mac: Uint8Array;
  /** Frames dropped because the receive buffer was too small (QEMU drops them without counting). */
  rxOversize = 0;
  readonly #t: VirtioPciDevice;
  readonly #filter: RxFilter;
  readonly #configSize: number;
  #msixTable = new Uint8Array(MSIX_BAR_SIZE);
  #link: EthernetLink | null = null;
  #cable: boolean;

  constructor(options: VirtioNetModelOptions = {}) {
    this.mac = options.mac === undefined ? Uint8Array.of(0x52, 0x54, 0x00, 0x12, 0x34, 0x57) : typeof options.mac === 'string' ? parseMac(options.mac) : Uint8Array.from(options.mac);
    if (this.mac.length !== 6) throw new RangeError('VirtioNetModel: mac must have 6 bytes');
    const queueSize = options.queueSize ?? 256;
    if (!Number.isInteger(queueSize) || queueSize < 1 || queueSize > 1024 || (queueSize & (queueSize - 1)) !== 0)
      throw new RangeError(`VirtioNetModel: queueSize must be a power of two from 1 to 1024, got ${queueSize}`);
    const vectors = options.msixVectors ?? 4;
    if (!Number.isInteger(vectors) || vectors < 1 || vectors > MSIX_PBA_OFFSET / 16) throw new RangeError(`VirtioNetModel: msixVectors must be 1..${MSIX_PBA_OFFSET / 16}, got ${vectors}`);
    const features = options.features ?? QEMU_VIRTIO_NET_FEATURES;
    this.#cable = options.link ?? true;
    this.#configSize = CONFIG_SIZES.reduce((n, [f, size]) => ((features | bit(VIRTIO_NET_F_MAC)) & bit(f) ? Math.max(n, size) : n), 0);
    const deviceId = options.deviceId ?? 0x1041;
    const modern = deviceId >= 0x1040;
    const express = options.express ?? false;
    this.resettable = express;
    const pci = new ConfigBuilder({
      vendor: PCI_VENDOR_ID_REDHAT_QUMRANET,
      device: deviceId,
      classCode: 0x020000,
      revision: modern ? 1 : 0,
      subsystemVendor: PCI_VENDOR_ID_REDHAT_QUMRANET,
      subsystem: modern ? 0x1100 : 1,
      interruptPin: 1,
      express,
      newestFirst: true, // QEMU's pci_add_capability: the list starts at the MSI-X capability
    });
    // virtio_pci_realize adds these before the device is plugged (so below the virtio ones).
    if (express) pci.pcie({ flr: true }).pm();
    this.config = addVirtioCaps(pci)
      .msix({ tableSize: vectors, tableBar: MSIX_BAR, tableOffset: 0, pbaBar: MSIX_BAR, pbaOffset: MSIX_PBA_OFFSET })
      .build();
    const bars: (BarSpec | undefined)[] = [];
    bars[MSIX_BAR] = { size: MSIX_BAR_SIZE };
    bars[MODERN_BAR] = { size: MODERN_BAR_SIZE, is64: true, prefetchable: true };
    bars.length = 6;
    this.bars = bars;
    this.#filter = new RxFilter(this.mac);
    const type: VirtioDeviceType = {
      config: () => this.#deviceConfig(),
      notify: (index) => this.#notify(index),
      featuresChanged: (f) => this.#filter.setVlanFiltering((f & bit(VIRTIO_NET_F_CTRL_VLAN)) !== 0n),
      statusChanged: (old, status) => {
        if (!(old & VIRTIO_CONFIG_S_DRIVER_OK) && status & VIRTIO_CONFIG_S_DRIVER_OK) {
          this.#link?.ready(this);
          this.#transmit();
        }
      },
      reset: () => this.#filter.reset(),
    };
    this.#t = new VirtioPciDevice(
      { features, queueSizes: [queueSize, queueSize, CTRL_QUEUE_SIZE], msixVectors: vectors, refuseFeatures: options.refuseFeatures ?? 0n },
      type,
      (m) => this.#error(m),
    );
  }

  attach(bus: DeviceBus): void {
    this.#t.attach(bus);
  }

  connect(link: EthernetLink): void {
    this.#link = link;
  }

  // ---- test hooks and state ------------------------------------------------------

  /** device_status as the device holds it. */
  get status(): number {
    this.#t.syncBusMaster();
    return this.#t.status;
  }

  /** The features the driver accepted (what it wrote, less what was not offered). */
  get driverFeatures(): bigint {
    return this.#t.driverFeatures;
  }

  /** The features offered. */
  get deviceFeatures(): bigint {
    return this.#t.deviceFeatures;
  }

  /** The cable: VIRTIO_NET_S_LINK_UP follows it, with a configuration interrupt when it changes. */
  setLink(up: boolean): void {
    if (up === this.#cable) return;
    this.#cable = up;
    this.#t.notifyConfig();
    if (up) this.#link?.ready(this);
  }

  /** The link is up (VIRTIO_NET_S_LINK_UP). */
  get linkUp(): boolean {
    return this.#cable;
  }

  /** The device hit an internal error: DEVICE_NEEDS_RESET, a configuration interrupt, queues stopped until reset. */
  raiseNeedsReset(): void {
    const t = this.#t;
    t.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
    t.notifyConfig();
    t.broken = true;
  }

  /** Writes a used-ring entry { id, len } the driver did not ask for, and interrupts as a real one would. */
  injectUsed(queue: number, id: number, len: number): void {
    const q = this.#t.queues[queue];
    const bus = this.#t.bus;
    if (!q || !q.ready || !bus) throw new Error(`VirtioNetModel.injectUsed: queue ${queue} is not set up`);
    this.#t.guard(() => {
      q.push(bus, id, len);
      this.#t.notifyQueue(queue);
    });
  }

  // ---- reset ---------------------------------------------------------------------

  /** FLR (VFIO_DEVICE_RESET, with `express`): everything but the cable back to power-on. */
  reset(): void {
    this.#t.functionReset();
    this.#msixTable.fill(0);
  }

  // ---- BAR access ----------------------------------------------------------------

  read(bar: number, offset: number, width: 1 | 2 | 4 | 8): number | bigint {
    try {
      if (width === 8) return BigInt(this.#read(bar, offset, 4)) | (BigInt(this.#read(bar, offset + 4, 4)) << 32n);
      return this.#read(bar, offset, width);
    } catch (e) {
      this.#error(`read BAR${bar}+0x${offset.toString(16)}: ${(e as Error).message}`);
      return width === 8 ? 0n : 0;
    }
  }

  write(bar: number, offset: number, width: 1 | 2 | 4 | 8, value: number | bigint): void {
    try {
      if (width === 8) {
        const v = BigInt.asUintN(64, BigInt(value));
        this.#write(bar, offset, 4, Number(v & 0xffffffffn));
        this.#write(bar, offset + 4, 4, Number(v >> 32n));
        return;
      }
      this.#write(bar, offset, width, Number(value) >>> 0);
    } catch (e) {
      this.#error(`write BAR${bar}+0x${offset.toString(16)}: ${(e as Error).message}`);
    }
  }

  #read(bar: number, offset: number, width: number): number {
    if (bar === MODERN_BAR && offset + width <= MODERN_BAR_SIZE) return this.#t.read(offset, width);
    if (bar === MSIX_BAR && offset + width <= MSIX_PBA_OFFSET) {
      let v = 0;
      for (let i = 0; i < width; i++) v |= this.#msixTable[offset + i]! << (8 * i);
      return v >>> 0;
    }
    return 0; // the PBA: nothing pending that the model tracks
  }

  #write(bar: number, offset: number, width: number, value: number): void {
    if (bar === MODERN_BAR && offset + width <= MODERN_BAR_SIZE) return this.#t.write(offset, width, value);
    if (bar === MSIX_BAR && offset + width <= MSIX_PBA_OFFSET) for (let i = 0; i < width; i++) this.#msixTable[offset + i] = (value >>> (8 * i)) & 0xff;
  }

  // ---- device configuration ------------------------------------------------------

  /** struct virtio_net_config, cut to the size the offered features need. */
  #deviceConfig(): Uint8Array {
    const c = new Uint8Array(VIRTIO_NET_CONFIG_DUPLEX + 1);
    const v = new DataView(c.buffer);
    c.set(this.#filter.mac, VIRTIO_NET_CONFIG_MAC);
    v.setUint16(VIRTIO_NET_CONFIG_STATUS, this.#cable ? VIRTIO_NET_S_LINK_UP : 0, true);
    v.setUint16(VIRTIO_NET_CONFIG_MAX_PAIRS, 1, true);
    v.setUint16(VIRTIO_NET_CONFIG_MTU, 1500, true);
    v.setUint32(VIRTIO_NET_CONFIG_SPEED, VIRTIO_NET_SPEED_UNKNOWN, true);
    v.setUint8(VIRTIO_NET_CONFIG_DUPLEX, 0xff); // DUPLEX_UNKNOWN
    return c.subarray(0, this.#configSize);
  }

  // ---- queues --------------------------------------------------------------------

  #notify(index: number): void {
    if (index === virtioNetRxQueue(0)) this.#link?.ready(this); // QEMU's virtio_net_handle_rx: flush what waits
    else if (index === virtioNetTxQueue(0)) this.#transmit();
    else this.#control();
  }

  /** QEMU's virtio_net_handle_ctrl: every command answered with an ack byte, used length 1. */
  #control(): void {
    const t = this.#t;
    const bus = t.bus;
    const q = t.queues[CTRL_QUEUE]!;
    if (!bus) return;
    for (let c = q.pop(bus); c; c = q.pop(bus)) {
      q.push(bus, c.head, controlCommand(bus, c, this.#filter, (f) => t.has(f), VIRTIO_NET_F_MQ));
      t.notifyQueue(CTRL_QUEUE);
    }
  }

  /**
   * QEMU's tx bottom half: only with DRIVER_OK; notifications off while the ring is drained,
   * back on (avail_event = avail idx) when it is empty, and drained again if the driver raced.
   */
  #transmit(): void {
    const t = this.#t;
    const bus = t.bus;
    const q = t.queues[virtioNetTxQueue(0)]!;
    if (!bus || !t.running || !q.ready) return;
    t.guard(() => {
      for (;;) {
        q.setNotification(bus, false);
        for (let c = q.pop(bus); c; c = q.pop(bus)) {
          const frame = transmitFrame(bus, c, (m) => this.#error(m));
          if (frame && this.#cable) this.#link?.send(this, frame.slice());
          q.push(bus, c.head, 0);
          t.notifyQueue(virtioNetTxQueue(0));
        }
        q.setNotification(bus, true);
        if (q.pending(bus) === 0) return;
      }
    });
  }

  // ---- the wire ------------------------------------------------------------------

  /** QEMU's virtio_net_can_receive: DRIVER_OK, the receive queue set up, the device not disabled (Bus Master). */
  canReceive(): boolean {
    const t = this.#t;
    return t.running && t.queues[virtioNetRxQueue(0)]!.ready;
  }

  receiveFrame(frame: Uint8Array): boolean {
    if (!this.canReceive()) return false;
    if (!this.#cable) return true; // QEMU drops frames for a NIC whose link is down
    const t = this.#t;
    const bus = t.bus!;
    const q = t.queues[virtioNetRxQueue(0)]!;
    let taken = true;
    t.guard(() => {
      const r = receive(bus, q, frame, t.has(VIRTIO_NET_F_MRG_RXBUF), (f) => this.#filter.accepts(f));
      if (r === 'no-buffers') taken = false;
      else if (r === 'too-big') this.rxOversize++;
      else t.notifyQueue(virtioNetRxQueue(0));
    });
    return taken;
  }

  #error(message: string): void {
    if (this.errors.length < 1000) this.errors.push(message);
  }
}
