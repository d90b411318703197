import { closedError } from '../errors.js';

const FREED_HINT = 'the buffer was freed (free(), or its device or space closed); allocate a new one with allocDma()';

/** @internal What a DmaBuffer's free() hands it back to: its DmaSpace. */
export interface DmaBufferOwner {
  /** Unmaps from the IOMMU, frees the memory, returns the IOVA range. */
  releaseDma(buffer: DmaBuffer): void;
}

/**
 * DMA memory: pinned memory mapped at an IOVA in a device's DMA space (a container or an
 * iommufd IOAS; in no-IOMMU mode the IOVA is the physical address). The bytes are an
 * ordinary ArrayBuffer (descriptor rings and packet buffers are plain typed arrays); the
 * IOVA is what the device is told. Made by DmaSpace.allocDma (or Device.allocDma).
 */
export class DmaBuffer {
  #buffer: ArrayBuffer | null;
  #owner: DmaBufferOwner;

  /** @internal created by DmaSpace.allocDma */
  constructor(
    owner: DmaBufferOwner,
    buffer: ArrayBuffer,
    /** Device-visible address of byte 0. */
    readonly iova: number,
    /** Bytes mapped (the request rounded up to the page size). */
    readonly size: number,
    /** 4096, or 2 MiB when backed by a hugepage. */
    readonly pageSize: number,
  ) {
    this.#owner = owner;
    this.#buffer = buffer;
  }

  /** The memory. Views made from it become empty when the buffer is freed. */
  get buffer(): ArrayBuffer {
    if (this.#buffer === null) throw closedError('this DMA buffer', 'DmaBuffer.buffer', undefined, FREED_HINT);
    return this.#buffer;
  }

  /** A fresh Uint8Array over the whole buffer. */
  get bytes(): Uint8Array {
    return new Uint8Array(this.buffer);
  }

  /** True after free(): `buffer`, `bytes` and iovaAt() then throw (ERR_VFIO_CLOSED). */
  get freed(): boolean {
    return this.#buffer === null;
  }

  /** IOVA of `offset` bytes into the buffer, bounds-checked (RangeError; ERR_VFIO_CLOSED once freed). */
  iovaAt(offset: number): number {
    if (this.#buffer === null) throw closedError('this DMA buffer', 'DmaBuffer.iovaAt', undefined, FREED_HINT);
    if (!(offset >= 0 && offset < this.size) || !Number.isInteger(offset))
      throw new RangeError(`DmaBuffer.iovaAt: offset ${offset} is outside [0, ${this.size})`);
    return this.iova + offset;
  }

  /** Unmaps from the IOMMU, then frees the memory. Idempotent. */
  free(): void {
    if (this.#buffer === null) return;
    this.#owner.releaseDma(this);
  }

  /** @internal */
  markFreed(): void {
    this.#buffer = null;
  }
}
