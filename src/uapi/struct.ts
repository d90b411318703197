// Declarative little-endian C struct layouts.
//
// Alignment follows the LP64 / AAPCS ABIs, where a __u64 inside a struct is
// 8-byte aligned. i386 aligns it to 4, which would shift every u64 that
// follows a lone u32; Node no longer ships for 32-bit x86, so that ABI is not
// modelled. VFIO is little-endian on every architecture Node runs on.

/** A C scalar type: `__u8`, `__u16`, `__u32`, `__s32`, `__u64` (little-endian, naturally aligned). */
export type ScalarKind = 'u8' | 'u16' | 'u32' | 'i32' | 'u64';
/** A field's kind: a scalar, or explicit padding bytes. */
export type FieldKind = ScalarKind | 'pad';

/** `[name, kind]`, `[name, kind, count]` for a fixed array, `[name, 'pad', bytes]`. */
export type FieldSpec =
  | readonly [name: string, kind: ScalarKind]
  | readonly [name: string, kind: ScalarKind, count: number]
  | readonly [name: string, kind: 'pad', bytes: number];

/**
 * What decode() gives for a field: a number for a scalar (a bigint for u64), a Uint8Array
 * for a u8 array, an array of numbers (bigints for u64) for other arrays.
 */
export type DecodedValue<F> = F extends readonly [string, 'u64']
  ? bigint
  : F extends readonly [string, 'u8', number]
    ? Uint8Array
    : F extends readonly [string, 'u64', number]
      ? bigint[]
      : F extends readonly [string, ScalarKind, number]
        ? number[]
        : number;

/** What encode() takes for a field: a number (number or bigint for u64), or an array-like of them for an array. */
export type EncodedValue<F> = F extends readonly [string, 'u64']
  ? number | bigint
  : F extends readonly [string, 'u64', number]
    ? ArrayLike<number | bigint>
    : F extends readonly [string, ScalarKind, number]
      ? ArrayLike<number>
      : number;

/** The fields of a spec that carry data: every one but the padding. */
export type DataField<Fs extends readonly FieldSpec[]> = Exclude<Fs[number], readonly [string, 'pad', number]>;

/** The name of any field of a spec. */
export type FieldName<Fs extends readonly FieldSpec[]> = Fs[number][0];

/** A decoded struct: one property per data field, named as in the spec. */
export type Decoded<Fs extends readonly FieldSpec[]> = {
  [F in DataField<Fs> as F[0]]: DecodedValue<F>;
};

/** Missing fields encode as zero, which is what every VFIO input struct wants for reserved words. */
export type EncodeInput<Fs extends readonly FieldSpec[]> = {
  [F in DataField<Fs> as F[0]]?: EncodedValue<F>;
};

/** Where one field sits in a Struct. */
export interface FieldLayout {
  /** As in the spec (the kernel header's name). */
  readonly name: string;
  /** The scalar type, or 'pad'. */
  readonly kind: FieldKind;
  /** Byte offset from the start of the struct. */
  readonly offset: number;
  /** Bytes occupied, including every array element. */
  readonly size: number;
  /** 0 for a scalar, the element count for a fixed array. */
  readonly count: number;
}

/** Where encode() writes: into an existing buffer (an ioctl argument with trailing data). */
export interface EncodeTarget {
  /** The buffer; the struct's bytes are overwritten, the rest left alone. */
  bytes: Uint8Array;
  /** Byte offset of the struct in `bytes` (default 0). */
  offset?: number;
}

const SCALAR_SIZE: Record<ScalarKind, number> = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 };

const LIMITS: Record<Exclude<ScalarKind, 'u64'>, readonly [number, number]> = {
  u8: [0, 0xff],
  u16: [0, 0xffff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

const U64_MAX = (1n << 64n) - 1n;

function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

/**
 * A C struct layout with its encoder and decoder: fields laid out as the LP64 C ABI does
 * (each naturally aligned, the size rounded to the largest alignment), little-endian.
 * Made by defineStruct, which keeps the field names in the type.
 */
export class Struct<Fs extends readonly FieldSpec[] = readonly FieldSpec[]> {
  /** The C struct's name, for errors ('vfio_region_info'). */
  readonly name: string;
  /** sizeof, in bytes (trailing padding included). */
  readonly size: number;
  /** _Alignof, in bytes. */
  readonly align: number;
  /** Every field, padding included, in declaration order. */
  readonly fields: readonly FieldLayout[];
  readonly #byName: ReadonlyMap<string, FieldLayout>;

  constructor(name: string, specs: Fs) {
    const fields: FieldLayout[] = [];
    const byName = new Map<string, FieldLayout>();
    let offset = 0;
    let maxAlign = 1;
    for (const spec of specs) {
      const [fieldName, kind] = spec;
      const raw = spec[2];
      if (byName.has(fieldName)) throw new Error(`${name}: duplicate field ${fieldName}`);
      if (raw !== undefined && !(Number.isInteger(raw) && raw > 0)) {
        throw new Error(`${name}.${fieldName}: count must be a positive integer`);
      }
      let layout: FieldLayout;
      if (kind === 'pad') {
        layout = { name: fieldName, kind, offset, size: raw ?? 0, count: 0 };
      } else {
        const elem = SCALAR_SIZE[kind];
        offset = alignUp(offset, elem);
        maxAlign = Math.max(maxAlign, elem);
        layout = { name: fieldName, kind, offset, size: elem * (raw ?? 1), count: raw ?? 0 };
      }
      fields.push(layout);
      byName.set(fieldName, layout);
      offset += layout.size;
    }
    this.name = name;
    this.align = maxAlign;
    this.size = alignUp(offset, maxAlign);
    this.fields = fields;
    this.#byName = byName;
  }

  /** offsetof(): a field's byte offset; an Error for a name the struct does not have. */
  offsetOf(field: FieldName<Fs>): number {
    const f = this.#byName.get(field);
    if (f === undefined) throw new Error(`${this.name} has no field ${String(field)}`);
    return f.offset;
  }

  /**
   * Writes every byte of the struct (padding and omitted fields become zero,
   * so stale buffer contents never reach the kernel). Returns the target
   * buffer, or a fresh one of `size` bytes. A RangeError when a value does not fit its
   * field, an array is too long, or the struct does not fit in the target.
   */
  encode(values: EncodeInput<Fs>, into?: EncodeTarget): Uint8Array {
    const bytes = into?.bytes ?? new Uint8Array(this.size);
    const base = into?.offset ?? 0;
    if (!Number.isInteger(base) || base < 0 || base + this.size > bytes.length) {
      throw new RangeError(
        `${this.name}: ${this.size} bytes do not fit at offset ${base} of a ${bytes.length}-byte buffer`,
      );
    }
    if (into !== undefined) bytes.fill(0, base, base + this.size);
    const view = new DataView(bytes.buffer, bytes.byteOffset + base, this.size);
    const input = values as Record<string, unknown>;
    for (const f of this.fields) {
      if (f.kind === 'pad') continue;
      const v = input[f.name];
      if (v === undefined) continue;
      if (f.count === 0) {
        this.#put(view, f, f.offset, v);
        continue;
      }
      const arr = v as ArrayLike<unknown>;
      if (typeof arr !== 'object' || arr === null || typeof arr.length !== 'number' || arr.length > f.count) {
        throw new RangeError(`${this.name}.${f.name}: expected at most ${f.count} elements`);
      }
      const elem = SCALAR_SIZE[f.kind];
      for (let i = 0; i < arr.length; i++) this.#put(view, f, f.offset + i * elem, arr[i]);
    }
    return bytes;
  }

  /** Reads the struct at `offset` of `bytes`; a RangeError when the buffer is too short. */
  decode(bytes: Uint8Array, offset = 0): Decoded<Fs> {
    if (!Number.isInteger(offset) || offset < 0 || offset + this.size > bytes.length) {
      throw new RangeError(
        `${this.name}: need ${this.size} bytes at offset ${offset}, buffer has ${bytes.length}`,
      );
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, this.size);
    const out: Record<string, unknown> = {};
    for (const f of this.fields) {
      if (f.kind === 'pad') continue;
      if (f.count === 0) {
        out[f.name] = get(view, f.kind, f.offset);
      } else if (f.kind === 'u8') {
        out[f.name] = bytes.slice(offset + f.offset, offset + f.offset + f.count);
      } else {
        const elem = SCALAR_SIZE[f.kind];
        const arr: unknown[] = new Array(f.count);
        for (let i = 0; i < f.count; i++) arr[i] = get(view, f.kind, f.offset + i * elem);
        out[f.name] = arr;
      }
    }
    return out as Decoded<Fs>;
  }

  #put(view: DataView, f: FieldLayout, at: number, v: unknown): void {
    const kind = f.kind as ScalarKind;
    if (kind === 'u64') {
      let big: bigint;
      if (typeof v === 'bigint') big = v;
      else if (typeof v === 'number' && Number.isInteger(v)) big = BigInt(v);
      else throw this.#bad(f, v, 'an integer number or bigint');
      if (big < 0n || big > U64_MAX) throw this.#bad(f, v, 'within 0..2^64-1');
      view.setBigUint64(at, big, true);
      return;
    }
    const n = typeof v === 'bigint' ? Number(v) : v;
    const [lo, hi] = LIMITS[kind];
    if (typeof n !== 'number' || !Number.isInteger(n) || n < lo || n > hi) {
      throw this.#bad(f, v, `an integer within ${lo}..${hi}`);
    }
    switch (kind) {
      case 'u8':
        view.setUint8(at, n);
        break;
      case 'u16':
        view.setUint16(at, n, true);
        break;
      case 'u32':
        view.setUint32(at, n, true);
        break;
      case 'i32':
        view.setInt32(at, n, true);
        break;
    }
  }

  #bad(f: FieldLayout, v: unknown, want: string): RangeError {
    const shown = typeof v === 'bigint' ? `${v}n` : typeof v === 'number' ? String(v) : typeof v;
    return new RangeError(`${this.name}.${f.name} (${f.kind}): ${shown} is not ${want}`);
  }
}

function get(view: DataView, kind: ScalarKind, at: number): number | bigint {
  switch (kind) {
    case 'u8':
      return view.getUint8(at);
    case 'u16':
      return view.getUint16(at, true);
    case 'u32':
      return view.getUint32(at, true);
    case 'i32':
      return view.getInt32(at, true);
    case 'u64':
      return view.getBigUint64(at, true);
  }
}

/**
 * A Struct from field specs, in declaration order: `[name, kind]`, `[name, kind, count]` for
 * a fixed array, `[name, 'pad', bytes]`. The field names become the keys of encode's input
 * and decode's output. An Error for a duplicate name or a bad count.
 *
 *   const vfioIrqInfo = defineStruct('vfio_irq_info', [['argsz', 'u32'], ['flags', 'u32'], ['index', 'u32'], ['count', 'u32']]);
 */
export function defineStruct<const Fs extends readonly FieldSpec[]>(name: string, fields: Fs): Struct<Fs> {
  return new Struct(name, fields);
}
