// An argsz-sized ioctl argument as vfio handles it: it reads at most argsz bytes of
// the struct (a shorter argsz reads the rest as zero) and writes back no more than
// the caller said it has room for.
import type { Decoded, EncodeInput, FieldSpec, Struct } from '../../uapi/struct.js';

/** The struct as the kernel reads it from the first `argsz` bytes. */
export function readArg<Fs extends readonly FieldSpec[]>(s: Struct<Fs>, bytes: Uint8Array, argsz: number): Decoded<Fs> {
  const copy = new Uint8Array(s.size);
  copy.set(bytes.subarray(0, Math.min(argsz, s.size)));
  return s.decode(copy);
}

/**
 * Writes `values` back into the fields that fit whole in `argsz` bytes: vfio copies
 * back up to the last field the caller's argsz covers (its minsz), and padding keeps
 * what the caller sent.
 */
export function writeArg<Fs extends readonly FieldSpec[]>(s: Struct<Fs>, values: EncodeInput<Fs>, bytes: Uint8Array, argsz: number): void {
  const out = s.encode({ ...(readArg(s, bytes, argsz) as EncodeInput<Fs>), ...values });
  for (const f of s.fields) if (f.kind !== 'pad' && f.offset + f.size <= argsz) bytes.set(out.subarray(f.offset, f.offset + f.size), f.offset);
}
