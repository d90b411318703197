/**
 * Finding a virtio 1.x PCI function's structures (spec §4.1.4 "Virtio Structure PCI
 * Capabilities"): each of the common configuration, notifications, ISR status and
 * device-specific configuration lives in a BAR at an offset that a vendor-specific PCI
 * capability (PCI_CAP_ID_VNDR) names. A device may list a type more than once: as Linux's
 * virtio_pci_find_capability does, the first one with a valid BAR is taken.
 */
import type { Device } from '../model/device.js';
import { PCI_CAP_ID_VNDR } from '../uapi/pci-regs.js';
import {
  VIRTIO_PCI_CAP_BAR,
  VIRTIO_PCI_CAP_CFG_TYPE,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_LENGTH,
  VIRTIO_PCI_CAP_NOTIFY_CFG,
  VIRTIO_PCI_CAP_OFFSET,
  VIRTIO_PCI_CAP_SIZEOF,
  VIRTIO_PCI_NOTIFY_CAP_MULT,
  VIRTIO_PCI_NOTIFY_CAP_SIZEOF,
} from '../uapi/virtio.js';
import { virtioError } from './errors.js';

/** Where one virtio structure lives: a BAR and a range in it. */
export interface VirtioStructure {
  /** The BAR (0-5). */
  readonly bar: number;
  /** Offset of the structure in the BAR. */
  readonly offset: number;
  /** Its length in bytes. */
  readonly length: number;
  /** Where its capability sits in config space. */
  readonly capOffset: number;
}

/** The structures of a modern virtio PCI function. */
export interface VirtioCaps {
  /** struct virtio_pci_common_cfg. */
  readonly common: VirtioStructure;
  /** The notification area: queue n is notified at notify_off(n) × notifyOffMultiplier. */
  readonly notify: VirtioStructure;
  /** The ISR status byte. */
  readonly isr: VirtioStructure;
  /** The device-specific configuration (virtio_net_config …); null when the device has none. */
  readonly device: VirtioStructure | null;
  /** notify_off_multiplier from the notify capability (0: every queue shares one address). */
  readonly notifyOffMultiplier: number;
}

/**
 * Walks the device's vendor-specific capabilities for the virtio structures. Throws
 * ERR_VFIO_VIRTIO_NOT_MODERN when the common, notify or ISR structure is missing (a legacy-
 * only function, or not virtio at all).
 */
export function findVirtioCaps(device: Device): VirtioCaps {
  const config = device.config;
  const found = new Map<number, VirtioStructure>();
  let multiplier = 0;
  for (const cap of config.capabilities()) {
    if (cap.id !== PCI_CAP_ID_VNDR) continue;
    const at = cap.offset;
    // cap_len below the struct: not a virtio capability (some other vendor capability).
    if (at + VIRTIO_PCI_CAP_SIZEOF > config.size || config.read8(at + 2) < VIRTIO_PCI_CAP_SIZEOF) continue;
    const type = config.read8(at + VIRTIO_PCI_CAP_CFG_TYPE);
    const bar = config.read8(at + VIRTIO_PCI_CAP_BAR);
    if (bar > 5 || found.has(type)) continue; // reserved BAR values: skip (spec §4.1.4)
    found.set(type, { bar, offset: config.read32(at + VIRTIO_PCI_CAP_OFFSET), length: config.read32(at + VIRTIO_PCI_CAP_LENGTH), capOffset: at });
    if (type === VIRTIO_PCI_CAP_NOTIFY_CFG && config.read8(at + 2) >= VIRTIO_PCI_NOTIFY_CAP_SIZEOF) multiplier = config.read32(at + VIRTIO_PCI_NOTIFY_CAP_MULT);
  }
  const common = found.get(VIRTIO_PCI_CAP_COMMON_CFG);
  const notify = found.get(VIRTIO_PCI_CAP_NOTIFY_CFG);
  const isr = found.get(VIRTIO_PCI_CAP_ISR_CFG);
  if (!common || !notify || !isr) {
    const missing = [!common && 'common', !notify && 'notify', !isr && 'ISR'].filter(Boolean).join(', ');
    throw virtioError('ERR_VFIO_VIRTIO_NOT_MODERN', 'findVirtioCaps', `no virtio 1.x ${missing} structure among the vendor capabilities: the function has no modern interface`, {
      device: device.address,
      hint: 'a legacy-only (virtio 0.9) device cannot be driven; in QEMU use a modern or transitional device (disable-modern=off, the default)',
    });
  }
  return { common, notify, isr, device: found.get(VIRTIO_PCI_CAP_DEVICE_CFG) ?? null, notifyOffMultiplier: multiplier };
}
