import { describe, expect, expectTypeOf, it } from 'vitest';
import { defineStruct, vfioRegionInfo } from '../../src/uapi/index.js';

describe('defineStruct layout', () => {
  it('aligns each field naturally and pads the tail to the largest alignment', () => {
    const s = defineStruct('t', [
      ['a', 'u8'],
      ['b', 'u64'],
      ['c', 'u16'],
    ]);
    expect([s.offsetOf('a'), s.offsetOf('b'), s.offsetOf('c')]).toEqual([0, 8, 16]);
    expect(s.size).toBe(24);
    expect(s.align).toBe(8);
  });

  it('does not pad a struct of small fields beyond its own alignment', () => {
    const s = defineStruct('t', [
      ['a', 'u16'],
      ['b', 'u8'],
    ]);
    expect(s.size).toBe(4);
  });

  it('places explicit padding and fixed arrays', () => {
    const s = defineStruct('t', [
      ['a', 'u8'],
      ['_pad', 'pad', 3],
      ['b', 'u8', 5],
      ['c', 'u32', 2],
    ]);
    expect(s.offsetOf('_pad')).toBe(1);
    expect(s.offsetOf('b')).toBe(4);
    expect(s.offsetOf('c')).toBe(12);
    expect(s.size).toBe(20);
  });

  it('rejects duplicate field names and bad counts', () => {
    expect(() => defineStruct('dup', [['a', 'u8'], ['a', 'u8']])).toThrow(/dup: duplicate field a/);
    expect(() => defineStruct('zero', [['a', 'u32', 0]])).toThrow(/zero\.a/);
  });

  it('offsetOf refuses an unknown field at runtime', () => {
    expect(() => vfioRegionInfo.offsetOf('nope' as 'size')).toThrow(/vfio_region_info has no field nope/);
  });
});

describe('encode / decode', () => {
  it('round-trips vfio_region_info with u64 as bigint', () => {
    const bytes = vfioRegionInfo.encode({
      argsz: 32,
      flags: 7,
      index: 2,
      cap_offset: 0,
      size: 0x1_0000_0000n,
      offset: 2n << 40n,
    });
    expect(bytes.length).toBe(32);
    expect(vfioRegionInfo.decode(bytes)).toEqual({
      argsz: 32,
      flags: 7,
      index: 2,
      cap_offset: 0,
      size: 0x1_0000_0000n,
      offset: 2n << 40n,
    });
  });

  it('writes little-endian at the declared offsets', () => {
    const bytes = vfioRegionInfo.encode({ index: 0x01020304, size: 0x1122334455667788n });
    expect(Array.from(bytes.subarray(8, 12))).toEqual([4, 3, 2, 1]);
    expect(Array.from(bytes.subarray(16, 24))).toEqual([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
  });

  it('accepts a number for a u64 and the full u64 range as bigint', () => {
    const a = vfioRegionInfo.decode(vfioRegionInfo.encode({ size: 4096, offset: (1n << 64n) - 1n }));
    expect(a.size).toBe(4096n);
    expect(a.offset).toBe(0xffff_ffff_ffff_ffffn);
  });

  it('decodes at an offset inside a larger buffer', () => {
    const buf = new Uint8Array(100).fill(0xee);
    vfioRegionInfo.encode({ argsz: 99, index: 5 }, { bytes: buf, offset: 40 });
    const d = vfioRegionInfo.decode(buf, 40);
    expect(d.argsz).toBe(99);
    expect(d.index).toBe(5);
    // Omitted fields overwrite stale bytes with zero; bytes outside the struct stay.
    expect(d.flags).toBe(0);
    expect(d.size).toBe(0n);
    expect(buf[39]).toBe(0xee);
    expect(buf[72]).toBe(0xee);
  });

  it('round-trips i32 (negative), fixed arrays and zeroes padding', () => {
    const s = defineStruct('arr', [
      ['fd', 'i32'],
      ['uuid', 'u8', 4],
      ['_pad', 'pad', 4],
      ['words', 'u16', 3],
      ['big', 'u64', 2],
    ]);
    const buf = new Uint8Array(s.size).fill(0xaa);
    s.encode({ fd: -1, uuid: [1, 2, 3], words: [7, 8, 9], big: [1n, 2] }, { bytes: buf });
    const d = s.decode(buf);
    expect(d.fd).toBe(-1);
    expect(d.uuid).toEqual(Uint8Array.of(1, 2, 3, 0));
    expect(d.words).toEqual([7, 8, 9]);
    expect(d.big).toEqual([1n, 2n]);
    expect(Array.from(buf.subarray(8, 12))).toEqual([0, 0, 0, 0]);
    expectTypeOf(d.fd).toEqualTypeOf<number>();
    expectTypeOf(d.uuid).toEqualTypeOf<Uint8Array>();
    expectTypeOf(d.words).toEqualTypeOf<number[]>();
    expectTypeOf(d.big).toEqualTypeOf<bigint[]>();
    expect(Object.keys(d)).not.toContain('_pad');
  });

  it('types decoded fields from the declaration', () => {
    const d = vfioRegionInfo.decode(new Uint8Array(32));
    expectTypeOf(d.size).toEqualTypeOf<bigint>();
    expectTypeOf(d.index).toEqualTypeOf<number>();
    expect(typeof d.size).toBe('bigint');
    expect(typeof d.index).toBe('number');
  });
});

describe('encode validation', () => {
  const s = defineStruct('vfio_thing', [
    ['small', 'u8'],
    ['half', 'u16'],
    ['word', 'u32'],
    ['signed', 'i32'],
    ['wide', 'u64'],
    ['list', 'u32', 2],
  ]);

  it.each([
    ['small', 256],
    ['small', -1],
    ['half', 0x10000],
    ['word', 2 ** 32],
    ['word', 1.5],
    ['word', Number.NaN],
    ['signed', 2 ** 31],
    ['signed', -(2 ** 31) - 1],
    ['wide', -1],
    ['wide', 2 ** 64],
    ['wide', 1n << 64n],
    ['wide', -1n],
    ['wide', 0.5],
  ] as const)('%s = %s is a RangeError naming struct and field', (field, value) => {
    expect(() => s.encode({ [field]: value } as never)).toThrow(RangeError);
    expect(() => s.encode({ [field]: value } as never)).toThrow(`vfio_thing.${field}`);
  });

  it('accepts the boundaries', () => {
    const d = s.decode(s.encode({ small: 255, half: 0xffff, word: 0xffffffff, signed: -(2 ** 31), wide: 2 ** 53 }));
    expect(d).toMatchObject({ small: 255, half: 0xffff, word: 0xffffffff, signed: -(2 ** 31), wide: 2n ** 53n });
  });

  it('rejects a non-numeric value and an over-long array', () => {
    expect(() => s.encode({ word: '3' as unknown as number })).toThrow(/vfio_thing\.word.*string/);
    expect(() => s.encode({ list: [1, 2, 3] })).toThrow(/vfio_thing\.list: expected at most 2/);
  });

  it('refuses a target that is too small', () => {
    expect(() => s.encode({}, { bytes: new Uint8Array(s.size), offset: 1 })).toThrow(/vfio_thing: .* do not fit/);
  });

  it('decode of a short buffer is a RangeError naming the struct', () => {
    expect(() => vfioRegionInfo.decode(new Uint8Array(31))).toThrow(RangeError);
    expect(() => vfioRegionInfo.decode(new Uint8Array(31))).toThrow(/^vfio_region_info: need 32 bytes/);
    expect(() => vfioRegionInfo.decode(new Uint8Array(40), 9)).toThrow(/vfio_region_info/);
  });
});
