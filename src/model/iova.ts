// IOVA allocation inside the ranges the IOMMU reports. IOVAs are JS numbers:
// the allocator only hands out addresses below 2^53, which every IOMMU's
// address width (39–57 bits) already implies in practice, and which keeps
// descriptor writes on the hot path free of BigInt.

/** A range of IOVAs, both ends inclusive, as JS numbers (below 2^53). */
export interface IovaRange {
  /** Inclusive. */
  start: number;
  /** Inclusive. */
  end: number;
}

/**
 * Allocates IOVAs inside the ranges the IOMMU reports (DmaSpace uses one per space). IOVAs
 * are JS numbers: it hands out addresses below 2^53 only, which every IOMMU's address width
 * (39–57 bits) already implies, and which keeps descriptor writes free of BigInt.
 * First-fit over sorted free extents: small and predictable, as drivers allocate rarely.
 */
export class IovaAllocator {
  private free: IovaRange[];

  /**
   * @param ranges usable IOVA ranges (inclusive ends), e.g. from VFIO_IOMMU_GET_INFO
   * @param floor lowest IOVA to hand out; keeps 0 and the first page from looking like NULL
   */
  constructor(ranges: readonly { start: bigint; end: bigint }[], floor = 0x100000) {
    const max = BigInt(Number.MAX_SAFE_INTEGER);
    this.free = ranges
      .map((r) => ({ start: r.start < BigInt(floor) ? floor : Number(r.start), end: Number(r.end > max ? max : r.end) }))
      .filter((r) => r.start <= r.end)
      .sort((a, b) => a.start - b.start);
  }

  /** The usable ranges that remain, for diagnostics. */
  get ranges(): readonly IovaRange[] {
    return this.free.map((r) => ({ ...r }));
  }

  /**
   * Takes `size` bytes aligned to `align` (a power of two) ending at or below `limit`
   * (exclusive, e.g. 2^28 for a 28-bit DMA mask). Returns undefined when nothing fits.
   */
  alloc(size: number, align: number, limit = Number.MAX_SAFE_INTEGER): number | undefined {
    for (let i = 0; i < this.free.length; i++) {
      const r = this.free[i]!;
      const start = Math.ceil(r.start / align) * align;
      const last = start + size - 1;
      if (last > r.end || last >= limit) continue;
      this.take(i, start, last);
      return start;
    }
    return undefined;
  }

  /** Takes exactly [iova, iova+size); false if any part is not free. */
  reserve(iova: number, size: number): boolean {
    const last = iova + size - 1;
    const i = this.free.findIndex((r) => r.start <= iova && last <= r.end);
    if (i < 0) return false;
    this.take(i, iova, last);
    return true;
  }

  /** Returns [iova, iova+size) to the pool, merging with neighbours. */
  release(iova: number, size: number): void {
    const r = { start: iova, end: iova + size - 1 };
    let i = 0;
    while (i < this.free.length && this.free[i]!.start < r.start) i++;
    this.free.splice(i, 0, r);
    // Merge with the next, then the previous extent.
    const next = this.free[i + 1];
    if (next && r.end + 1 === next.start) {
      r.end = next.end;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev && prev.end + 1 === r.start) {
      prev.end = r.end;
      this.free.splice(i, 1);
    }
  }

  private take(i: number, first: number, last: number): void {
    const r = this.free[i]!;
    const pieces: IovaRange[] = [];
    if (r.start < first) pieces.push({ start: r.start, end: first - 1 });
    if (last < r.end) pieces.push({ start: last + 1, end: r.end });
    this.free.splice(i, 1, ...pieces);
  }
}
