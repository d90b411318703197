// What a device model provides to the fake kernel, and what the kernel gives it
// back. A model is the device's side of the bus: its config space image, its BARs
// (every access trapped), and reactions to register writes that may DMA through
// the IOMMU or raise interrupts. See models/edu.ts for a complete one.

/** One BAR of a device model. */
export interface BarSpec {
  /** Bytes, a power of two (≥ 16 for memory BARs). */
  size: number;
  /** Memory (default) or I/O port space. */
  kind?: 'mem' | 'io';
  /** A 64-bit memory BAR (occupies this BAR and the next). */
  is64?: boolean;
  /** The prefetchable bit of a memory BAR (reported in config space only). */
  prefetchable?: boolean;
}

/** The kernel's side, handed to the model at attach time. */
export interface DeviceBus {
  /** Reads guest memory through the IOMMU; null (and a recorded fault) when unmapped or without Bus Master. */
  dmaRead(iova: number, length: number): Uint8Array | null;
  /** Writes through the IOMMU; false (and a recorded fault) when it cannot. */
  dmaWrite(iova: number, data: Uint8Array): boolean;
  /** Signals vector `vector` of the enabled interrupt type (MSI/MSI-X), or asserts INTx (level). */
  raiseIrq(vector?: number): void;
  /** Deasserts INTx (the device's interrupt cause was cleared). */
  lowerIrq(): void;
  /** Bus Master Enable in the command register. */
  readonly busMaster: boolean;
  /** Which interrupt type the driver enabled through VFIO_DEVICE_SET_IRQS. */
  readonly irqType: 'none' | 'intx' | 'msi' | 'msix';
}

/**
 * A device for the fake kernel: its config space image, its BARs (every access trapped and
 * handed to read/write), and reactions that may DMA or raise interrupts through the
 * DeviceBus. See EduModel for a complete one.
 */
export interface DeviceModel {
  /** The device's config space as the hardware presents it (256 or 4096 bytes); see ConfigBuilder. */
  readonly config: Uint8Array;
  /** BAR0..BAR5; undefined for unimplemented (and for the upper half of a 64-bit BAR). */
  readonly bars: readonly (BarSpec | undefined)[];
  /** The kernel can reset it on its own (FLR/PM): VFIO_DEVICE_RESET works. */
  readonly resettable?: boolean;
  /** Called once, at FakeKernel.addDevice: the bus to DMA and interrupt through. */
  attach(bus: DeviceBus): void;
  /** A naturally aligned access of `width` bytes inside BAR `bar`. */
  read(bar: number, offset: number, width: 1 | 2 | 4 | 8): number | bigint;
  /** A naturally aligned write of `width` bytes inside BAR `bar` (`value` a bigint for width 8). */
  write(bar: number, offset: number, width: 1 | 2 | 4 | 8, value: number | bigint): void;
  /** Back to power-on state (VFIO_DEVICE_RESET, when `resettable`). */
  reset?(): void;
  /**
   * A PF (a config space with an SR-IOV capability): the model of its VF number `index`
   * (0-based) of `count` being enabled, called when VFs are enabled through sriov_numvfs.
   */
  createVf?(index: number, count: number): DeviceModel;
  /** Stops timers; called when the kernel is disposed. */
  dispose?(): void;
}
