// What the transmit and receive rings share: the bus's DMA, and reading descriptors and frames.

/** The part of the kernel's DeviceBus that moves descriptors and buffers, through the IOMMU. */
export interface Dma {
  /** null when the IOVA is unmapped or Bus Master is off (the kernel records the fault). */
  dmaRead(iova: number, length: number): Uint8Array | null;
  /** false when it cannot (the kernel records the fault). */
  dmaWrite(iova: number, data: Uint8Array): boolean;
}

export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export function isBroadcast(f: Uint8Array): boolean {
  return f[0] === 0xff && f[1] === 0xff && f[2] === 0xff && f[3] === 0xff && f[4] === 0xff && f[5] === 0xff;
}

/** The IOVA of descriptor `index` in a ring of 16-byte legacy descriptors at `base`. */
export const descriptorAt = (base: number, index: number): number => base + index * 16;

/**
 * Descriptor `index` of the ring at IOVA `base`, read through the IOMMU. A faulted read is
 * reported and reads as zeros: the model carries on, as QEMU does after a failed pci_dma_read.
 */
export function readDescriptor(bus: Dma, base: number, index: number, ring: 'receive' | 'transmit', report: (message: string) => void): DataView {
  const at = descriptorAt(base, index);
  const desc = bus.dmaRead(at, 16);
  if (!desc) report(`${ring} descriptor ${index} at IOVA 0x${at.toString(16)}: DMA read faulted`);
  return view(desc ?? new Uint8Array(16));
}
