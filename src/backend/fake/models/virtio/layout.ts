// Where QEMU 7.2's virtio-pci (hw/virtio/virtio-pci.c, disable-legacy=on) puts things: the
// spec lets a device choose the BAR and offsets of its structures; a model that chooses as
// QEMU does lets a driver tested here meet the same layout on the guest.
import {
  VIRTIO_PCI_CAP_BAR,
  VIRTIO_PCI_CAP_CFG_TYPE,
  VIRTIO_PCI_CAP_COMMON_CFG,
  VIRTIO_PCI_CAP_DEVICE_CFG,
  VIRTIO_PCI_CAP_ISR_CFG,
  VIRTIO_PCI_CAP_LENGTH,
  VIRTIO_PCI_CAP_NOTIFY_CFG,
  VIRTIO_PCI_CAP_OFFSET,
  VIRTIO_PCI_CAP_PCI_CFG,
  VIRTIO_PCI_CAP_SIZEOF,
  VIRTIO_PCI_CFG_CAP_SIZEOF,
  VIRTIO_PCI_NOTIFY_CAP_MULT,
  VIRTIO_PCI_NOTIFY_CAP_SIZEOF,
} from '../../../../uapi/virtio.js';
import type { ConfigBuilder } from '../../config.js';

/** The 64-bit prefetchable memory BAR holding the four structures (QEMU's modern_mem_bar_idx). */
export const MODERN_BAR = 4;
/** The BAR holding the MSI-X table (offset 0) and PBA (QEMU's msix_bar_idx, an exclusive 4 KiB BAR). */
export const MSIX_BAR = 1;
export const MSIX_BAR_SIZE = 4096;
/** msix_init_exclusive_bar puts the PBA half-way into the BAR. */
export const MSIX_PBA_OFFSET = 2048;

/** Each structure gets a 4 KiB page of BAR4, in this order. */
export const COMMON_OFFSET = 0x0000;
export const ISR_OFFSET = 0x1000;
export const DEVICE_OFFSET = 0x2000;
export const NOTIFY_OFFSET = 0x3000;
export const STRUCTURE_SIZE = 0x1000;
/** BAR4's size: the next power of two past the notify structure. */
export const MODERN_BAR_SIZE = 0x4000;
/** QEMU_VIRTIO_PCI_QUEUE_MEM_MULT: queue n is notified at NOTIFY_OFFSET + 4 * n. */
export const NOTIFY_OFF_MULTIPLIER = 4;

/** QEMU's VIRTIO_QUEUE_MAX: queue_select beyond it is ignored, and no queue is larger (VIRTQUEUE_MAX_SIZE). */
export const QEMU_VIRTIO_QUEUE_MAX = 1024;

/**
 * Adds the virtio structure capabilities as QEMU does: common, ISR, device, notify (with the
 * multiplier), then the PCI configuration access capability, each a 16- or 20-byte vendor
 * capability. As a conventional function's first capabilities they land at QEMU's offsets
 * 0x40, 0x50, 0x60, 0x70, 0x84 (after PCIe and PM, with `express`: 0x84 .. 0xc8).
 */
export function addVirtioCaps(b: ConfigBuilder): ConfigBuilder {
  const cap = (type: number, offset: number, length: number, size = VIRTIO_PCI_CAP_SIZEOF, bar = MODERN_BAR): Uint8Array => {
    const body = new Uint8Array(size);
    const v = new DataView(body.buffer);
    v.setUint8(VIRTIO_PCI_CAP_CFG_TYPE, type);
    v.setUint8(VIRTIO_PCI_CAP_BAR, bar);
    v.setUint32(VIRTIO_PCI_CAP_OFFSET, offset, true);
    v.setUint32(VIRTIO_PCI_CAP_LENGTH, length, true);
    return body;
  };
  // ConfigBuilder.vendor takes what follows id, next and length.
  const vendor = (full: Uint8Array) => b.vendor(full.subarray(VIRTIO_PCI_CAP_CFG_TYPE));
  vendor(cap(VIRTIO_PCI_CAP_COMMON_CFG, COMMON_OFFSET, STRUCTURE_SIZE));
  vendor(cap(VIRTIO_PCI_CAP_ISR_CFG, ISR_OFFSET, STRUCTURE_SIZE));
  vendor(cap(VIRTIO_PCI_CAP_DEVICE_CFG, DEVICE_OFFSET, STRUCTURE_SIZE));
  const notify = cap(VIRTIO_PCI_CAP_NOTIFY_CFG, NOTIFY_OFFSET, NOTIFY_OFF_MULTIPLIER * QEMU_VIRTIO_QUEUE_MAX, VIRTIO_PCI_NOTIFY_CAP_SIZEOF);
  new DataView(notify.buffer).setUint32(VIRTIO_PCI_NOTIFY_CAP_MULT, NOTIFY_OFF_MULTIPLIER, true);
  vendor(notify);
  // The config access window: present for the layout, not functional (vfio-pci's config space
  // here keeps vendor capabilities read-only; drivers use the BAR).
  vendor(cap(VIRTIO_PCI_CAP_PCI_CFG, 0, 0, VIRTIO_PCI_CFG_CAP_SIZEOF, 0));
  return b;
}
