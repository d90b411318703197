import type { Backend, FdHandle } from '../backend/backend.js';
import { PROT_READ, PROT_WRITE } from '../backend/backend.js';
import { VfioError, closedError, syscall } from '../errors.js';
import {
  VFIO_REGION_INFO_FLAG_MMAP,
  VFIO_REGION_INFO_FLAG_READ,
  VFIO_REGION_INFO_FLAG_WRITE,
  type RegionInfo,
} from '../uapi/vfio-region.js';
import { VFIO_PCI_CONFIG_REGION_INDEX, VFIO_PCI_ROM_REGION_INDEX, VFIO_PCI_VGA_REGION_INDEX } from '../uapi/vfio-pci.js';

/** What errors and `vfio info` call vfio-pci's region `index`: 'BAR0' … 'BAR5', 'ROM', 'config', 'VGA'. */
export function regionName(index: number): string {
  if (index <= 5) return `BAR${index}`;
  if (index === VFIO_PCI_ROM_REGION_INDEX) return 'ROM';
  if (index === VFIO_PCI_CONFIG_REGION_INDEX) return 'config';
  if (index === VFIO_PCI_VGA_REGION_INDEX) return 'VGA';
  return `region ${index}`;
}

interface Area {
  /** Region offset of the first byte. */
  start: number;
  /** Exclusive. */
  end: number;
  buffer: ArrayBuffer;
  u8: Uint8Array;
  u16: Uint16Array;
  u32: Uint32Array;
  u64: BigUint64Array;
}

type Width = 1 | 2 | 4 | 8;

// Regions up to this size whose one mapping covers them take the fast path, whose mask
// checks ((offset & ~3) === offset: an integer, aligned) hold only for offsets below 2^31.
const FAST_LIMIT = 2 ** 31;

/**
 * A device region (a BAR, the ROM, config space) with exact-width register
 * accessors. Mapped areas are accessed with Atomics.load/Atomics.store: one
 * access of exactly the element's width that the JIT never merges or splits,
 * and a store that is ordered after earlier stores (MMIO is not memory: see
 * README.md, "Safety model"). Offsets outside the mapped areas go through pread/pwrite
 * on the device fd, which is also how non-mmappable and I/O-port BARs work, and how a region
 * that is not both readable and writable is reached (it is never mapped).
 *
 * Every accessor takes a byte offset from the start of the region, aligned to the access
 * width, and throws a RangeError when the access falls outside the region, is unaligned, or
 * the value does not fit (a TypeError when the offset is not a number). After close() they throw a VfioError (ERR_VFIO_CLOSED); an
 * access through pread/pwrite to a region the kernel does not let be read (or written)
 * throws ERR_VFIO_ACCESS, and a short transfer EIO.
 */
export class Region {
  /** Its VFIO region index (vfio-pci: 0–5 the BARs, 6 ROM, 7 config, 8 VGA). */
  readonly index: number;
  /** 'BAR0' … 'BAR5', 'ROM', 'config', 'VGA' or 'region N'. */
  readonly name: string;
  /** Bytes. 0 for a region the device does not implement. */
  readonly size: number;
  /** VFIO_REGION_INFO_FLAG_* bits: READ, WRITE, MMAP, CAPS. */
  readonly flags: number;
  /** VFIO_DEVICE_GET_REGION_INFO as read at open, capabilities included. */
  readonly info: RegionInfo;
  /** Why the region could not be mmapped, when it could not. */
  readonly mmapError: Error | undefined;
  #backend: Backend;
  #file: FdHandle;
  #device: string;
  /** The region's position in the device fd. */
  #base: number;
  #areas: Area[] = [];
  #whole: Area | null = null;
  #closed = false;
  #scratch = new Uint8Array(8);
  #scratchView = new DataView(this.#scratch.buffer);

  /** @internal created by Device.region() */
  constructor(backend: Backend, file: FdHandle, device: string, name: string, info: RegionInfo, mmap: boolean) {
    this.#backend = backend;
    this.#file = file;
    this.#device = device;
    this.name = name;
    this.info = info;
    this.index = info.index;
    this.size = Number(info.size);
    this.flags = info.flags;
    this.#base = Number(info.offset);
    let mmapError: Error | undefined;
    // Only a region that is both readable and writable is mapped: the backends hand out no
    // read-only memory (a store into it would be a SIGSEGV), and the rest goes through
    // pread/pwrite, which check the region's flags.
    if (mmap && (info.flags & VFIO_REGION_INFO_FLAG_MMAP) !== 0 && this.readable && this.writable && this.size > 0) {
      try {
        this.#mapAreas();
      } catch (e) {
        mmapError = e as Error;
        this.#unmapAreas();
      }
    }
    this.mmapError = mmapError;
    const only = this.#areas[0];
    if (this.#areas.length === 1 && only && only.start === 0 && only.end >= this.size && this.size <= FAST_LIMIT) this.#whole = only;
  }

  /** The kernel lets the region be read. */
  get readable(): boolean {
    return (this.flags & VFIO_REGION_INFO_FLAG_READ) !== 0;
  }
  /** The kernel lets the region be written. */
  get writable(): boolean {
    return (this.flags & VFIO_REGION_INFO_FLAG_WRITE) !== 0;
  }
  /** The mmapped parts as [start, end) region offsets; the rest uses pread/pwrite. */
  get mappedAreas(): readonly {
    /** Region offset of the first mapped byte. */
    start: number;
    /** Region offset just past the last mapped byte. */
    end: number;
  }[] {
    return this.#areas.map((a) => ({ start: a.start, end: a.end }));
  }
  /** True after close(). */
  get closed(): boolean {
    return this.#closed;
  }

  #mapAreas(): void {
    const page = this.#backend.pageSize;
    const sparse = this.info.caps.sparseMmap;
    const areas = sparse
      ? sparse.map((a) => ({ start: Number(a.offset), size: Number(a.size) })).filter((a) => a.size > 0)
      : [{ start: 0, size: Math.ceil(this.size / page) * page }];
    const prot = PROT_READ | PROT_WRITE;
    for (const { start, size } of areas) {
      const buffer = syscall(`mmap ${this.name}`, { device: this.#device }, () =>
        this.#backend.mmap(this.#file, this.#base + start, size, prot),
      );
      const end = Math.min(start + size, this.size);
      const len = end - start;
      this.#areas.push({
        start,
        end,
        buffer,
        u8: new Uint8Array(buffer, 0, len),
        u16: new Uint16Array(buffer, 0, len >>> 1),
        u32: new Uint32Array(buffer, 0, len >>> 2),
        u64: new BigUint64Array(buffer, 0, Math.floor(len / 8)),
      });
    }
  }

  #unmapAreas(): void {
    for (const a of this.#areas) this.#backend.munmap(a.buffer);
    this.#areas = [];
    this.#whole = null;
  }

  /** One 8-bit read at `offset`. */
  read8(offset: number): number {
    const a = this.#whole;
    if (a !== null && (offset | 0) === offset && offset >= 0 && offset < this.size) return Atomics.load(a.u8, offset);
    return this.#read(offset, 1) as number;
  }
  /** One 16-bit little-endian read at `offset` (2-byte aligned). */
  read16(offset: number): number {
    const a = this.#whole;
    if (a !== null && (offset & ~1) === offset && offset >= 0 && offset <= this.size - 2) return Atomics.load(a.u16, offset >>> 1);
    return this.#read(offset, 2) as number;
  }
  /** One 32-bit little-endian read at `offset` (4-byte aligned), as an unsigned number. */
  read32(offset: number): number {
    const a = this.#whole;
    if (a !== null && (offset & ~3) === offset && offset >= 0 && offset <= this.size - 4) return Atomics.load(a.u32, offset >>> 2);
    return this.#read(offset, 4) as number;
  }
  /**
   * A 64-bit little-endian read at `offset` (8-byte aligned): one 64-bit access when mapped;
   * through pread, whatever access width the kernel's region handler uses.
   */
  read64(offset: number): bigint {
    const a = this.#whole;
    if (a !== null && (offset & ~7) === offset && offset >= 0 && offset <= this.size - 8) return Atomics.load(a.u64, offset >>> 3);
    return this.#read(offset, 8) as bigint;
  }

  /** One 8-bit write at `offset`; `value` in 0 … 255 (or -128 … -1). */
  write8(offset: number, value: number): void {
    const a = this.#whole;
    if (a !== null && (offset | 0) === offset && offset >= 0 && offset < this.size && (value & 0xff) === value) Atomics.store(a.u8, offset, value);
    else this.#write(offset, 1, value);
  }
  /** One 16-bit little-endian write at `offset` (2-byte aligned); `value` in 0 … 65535 (or a negative int16). */
  write16(offset: number, value: number): void {
    const a = this.#whole;
    if (a !== null && (offset & ~1) === offset && offset >= 0 && offset <= this.size - 2 && (value & 0xffff) === value)
      Atomics.store(a.u16, offset >>> 1, value);
    else this.#write(offset, 2, value);
  }
  /**
   * One 32-bit little-endian write at `offset` (4-byte aligned). Accepts 0 … 2^32-1 (or a
   * negative int32, taken as its two's complement).
   */
  write32(offset: number, value: number): void {
    const a = this.#whole;
    if (a !== null && (offset & ~3) === offset && offset >= 0 && offset <= this.size - 4 && ((value >>> 0) === value || (value | 0) === value))
      Atomics.store(a.u32, offset >>> 2, value);
    else this.#write(offset, 4, value);
  }
  /** A 64-bit little-endian write at `offset` (8-byte aligned) of a BigInt in [0, 2^64); one access when mapped. */
  write64(offset: number, value: bigint): void {
    const a = this.#whole;
    if (a !== null && (offset & ~7) === offset && offset >= 0 && offset <= this.size - 8 && typeof value === 'bigint' && BigInt.asUintN(64, value) === value)
      Atomics.store(a.u64, offset >>> 3, value);
    else this.#write(offset, 8, value);
  }

  /**
   * Copies `target.length` bytes out of the region from `offset` (memory-like areas only,
   * e.g. a device buffer: the copy's access widths are unspecified).
   */
  readBytes(offset: number, target: Uint8Array): void {
    this.#checkRange('readBytes', offset, target.length, 1);
    const a = this.#areaFor(offset, target.length);
    if (a) target.set(a.u8.subarray(offset - a.start, offset - a.start + target.length));
    else this.#pio('pread', offset, target);
  }
  /** Copies `source` into the region at `offset` (memory-like areas only, as readBytes). */
  writeBytes(offset: number, source: Uint8Array): void {
    this.#checkRange('writeBytes', offset, source.length, 1);
    const a = this.#areaFor(offset, source.length);
    if (a) a.u8.set(source, offset - a.start);
    else this.#pio('pwrite', offset, source);
  }

  /** Unmaps every area (detaching its buffer) and refuses further access. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unmapAreas();
  }

  #checkRange(op: string, offset: number, width: number, align: number): void {
    if (this.#closed) throw closedError(`${this.name}`, `${this.name}.${op}`, this.#device);
    if (typeof offset !== 'number') throw new TypeError(`${this.name}.${op}: offset must be a number, got ${typeof offset} ${String(offset)}`);
    if (!Number.isInteger(offset) || offset < 0 || offset + width > this.size)
      throw new RangeError(`${this.name}.${op}: offset ${offset} (+${width}) is outside the ${this.size}-byte region`);
    if (offset % align !== 0) throw new RangeError(`${this.name}.${op}: offset 0x${offset.toString(16)} is not ${align}-byte aligned`);
  }

  #areaFor(offset: number, width: number): Area | undefined {
    for (const a of this.#areas) if (offset >= a.start && offset + width <= a.end) return a;
    return undefined;
  }

  #read(offset: number, width: Width): number | bigint {
    this.#checkRange(`read${width * 8}`, offset, width, width);
    const a = this.#areaFor(offset, width);
    const rel = a ? offset - a.start : 0;
    switch (width) {
      case 1:
        if (a) return Atomics.load(a.u8, rel);
        break;
      case 2:
        if (a) return Atomics.load(a.u16, rel / 2);
        break;
      case 4:
        if (a) return Atomics.load(a.u32, rel / 4);
        break;
      case 8:
        if (a) return Atomics.load(a.u64, rel / 8);
        break;
    }
    const bytes = this.#scratch.subarray(0, width);
    this.#pio('pread', offset, bytes);
    const v = this.#scratchView;
    return width === 1 ? v.getUint8(0) : width === 2 ? v.getUint16(0, true) : width === 4 ? v.getUint32(0, true) : v.getBigUint64(0, true);
  }

  #write(offset: number, width: Width, value: number | bigint): void {
    this.#checkRange(`write${width * 8}`, offset, width, width);
    const op = `${this.name}.write${width * 8}`;
    if (width === 8) {
      if (typeof value !== 'bigint' || BigInt.asUintN(64, value) !== value)
        throw new RangeError(`${op}: value must be a BigInt in [0, 2^64)`);
    } else {
      const max = 2 ** (width * 8);
      const ok = typeof value === 'number' && Number.isInteger(value) && value >= -(max / 2) && value < max;
      if (!ok) throw new RangeError(`${op}: value ${String(value)} does not fit in ${width * 8} bits`);
    }
    const a = this.#areaFor(offset, width);
    if (a) {
      const rel = offset - a.start;
      if (width === 1) Atomics.store(a.u8, rel, value as number);
      else if (width === 2) Atomics.store(a.u16, rel / 2, value as number);
      else if (width === 4) Atomics.store(a.u32, rel / 4, value as number);
      else Atomics.store(a.u64, rel / 8, value as bigint);
      return;
    }
    const v = this.#scratchView;
    if (width === 1) v.setUint8(0, value as number);
    else if (width === 2) v.setUint16(0, value as number, true);
    else if (width === 4) v.setUint32(0, (value as number) >>> 0, true);
    else v.setBigUint64(0, value as bigint, true);
    this.#pio('pwrite', offset, this.#scratch.subarray(0, width));
  }

  #pio(kind: 'pread' | 'pwrite', offset: number, bytes: Uint8Array): void {
    if (kind === 'pread' ? !this.readable : !this.writable)
      throw new VfioError({ code: 'ERR_VFIO_ACCESS', op: `${kind} ${this.name}`, device: this.#device, message: `${this.name} is not ${kind === 'pread' ? 'readable' : 'writable'}` });
    const n = syscall(`${kind} ${this.name}`, { device: this.#device }, () =>
      kind === 'pread' ? this.#backend.pread(this.#file, bytes, this.#base + offset) : this.#backend.pwrite(this.#file, bytes, this.#base + offset),
    );
    if (n !== bytes.length)
      throw new VfioError({
        code: 'EIO',
        op: `${kind} ${this.name}`,
        device: this.#device,
        message: `${n} of ${bytes.length} bytes at offset 0x${offset.toString(16)} transferred`,
      });
  }
}
