/**
 * The kernel's two-step for info structs with capability chains: ask with the
 * fixed size; if the reply's argsz is larger, the chain did not fit, so ask
 * again with the size the kernel named.
 */
export function queryWithCaps<T extends { argsz: number }>(
  encode: (argsz?: number) => Uint8Array,
  decode: (bytes: Uint8Array) => T,
  call: (bytes: Uint8Array) => void,
): T {
  let bytes = encode();
  call(bytes);
  const first = decode(bytes);
  if (first.argsz <= bytes.length) return first;
  bytes = encode(first.argsz);
  call(bytes);
  return decode(bytes);
}
