/**
 * No input can make the fake kernel fail with anything but what the native shim
 * would give: a system error (code + errno) for what the kernel refuses, or a
 * TypeError/RangeError naming the call for a malformed argument. An internal
 * exception (a property of undefined, a BigInt mixing error) is a bug.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { FakeKernel, EduModel } from '../../src/backend/fake/index.js';
import { ALLOWED_IOCTLS } from '../../src/backend/allowlist.js';

// A small deterministic PRNG so a failure reproduces.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const NAMED = /^(open|close|ioctl|pread|pwrite|mmap|munmap|dmaAlloc|dmaFree|dmaMap|dmaUnmap|eventfdWrite|eventfdRead|Poller|VFIO_[A-Z_]+|write|read|uv_poll_init)\b/;

function acceptable(e: unknown): boolean {
  if (e instanceof TypeError || e instanceof RangeError) return NAMED.test(e.message);
  const x = e as { code?: unknown; errno?: unknown; syscall?: unknown };
  return e instanceof Error && typeof x.code === 'string' && typeof x.errno === 'number' && x.errno < 0 && typeof x.syscall === 'string';
}

const kernel = new FakeKernel();
kernel.addDevice('0000:00:02.0', new EduModel({ dmaDelayMs: 0 }));
afterAll(() => kernel.dispose());

describe('the fake kernel under random input', () => {
  it.each([0xf00d, 1, 2, 3, 0xbeef, 42, 7, 99])('answers 20000 random calls (seed %i) with only system errors or named argument errors', (seed) => {
    const r = rng(seed);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const fds: number[] = [];
    const buffers: ArrayBuffer[] = [];
    const values = (): unknown =>
      pick([
        () => Math.floor(r() * 2 ** 32),
        () => -1,
        () => 1.5,
        () => NaN,
        () => 2 ** 60,
        () => BigInt(Math.floor(r() * 2 ** 40)),
        () => -5n,
        () => 'x',
        () => undefined,
        () => null,
        () => ({}),
        () => pick(fds.length ? fds : [0]),
        () => new Uint8Array(Math.floor(r() * 64)).map(() => Math.floor(r() * 256)),
      ])();
    const structArg = () => {
      const b = new Uint8Array(Math.floor(r() * 80));
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
      if (b.length >= 4 && r() < 0.7) new DataView(b.buffer).setUint32(0, Math.min(b.length, Math.floor(r() * 96)), true);
      return b;
    };
    const calls: (() => unknown)[] = [
      () => fds.push(kernel.open(pick([`${kernel.root}/dev/vfio/vfio`, `${kernel.root}/dev/vfio/0`, `${kernel.root}/dev/vfio/7`, '/etc/passwd', values() as string]))),
      () => kernel.close(pick(fds.length ? fds : [values() as number])),
      () => fds.push(kernel.eventfd()),
      () => {
        const req = pick(ALLOWED_IOCTLS);
        const ret = kernel.ioctl(pick(fds.length ? fds : [values() as number]), r() < 0.9 ? req.number : (values() as number), pick([structArg(), values(), `0000:00:02.0`, undefined]) as Uint8Array);
        if (req.name === 'VFIO_GROUP_GET_DEVICE_FD' && ret > 0) fds.push(ret);
      },
      () => kernel.pread(pick(fds.length ? fds : [0]), structArg(), pick([Math.floor(r() * 2 ** 44), 7 * 2 ** 40 + Math.floor(r() * 300), values() as number])),
      () => kernel.pwrite(pick(fds.length ? fds : [0]), structArg(), pick([Math.floor(r() * 2 ** 20), 7 * 2 ** 40 + Math.floor(r() * 300), values() as number])),
      () => kernel.mmap(pick(fds.length ? fds : [0]), values() as number, values() as number, values() as number),
      () => buffers.push(kernel.dmaAlloc(pick([4096, 8192, Math.floor(r() * 20000), values() as number]), pick(['never', 'prefer', 'require', 'x']) as 'never').buffer),
      () => kernel.dmaFree(pick(buffers.length ? buffers : [new ArrayBuffer(8)])),
      () => kernel.dmaMap(pick(fds.length ? fds : [0]), pick(buffers.length ? buffers : [new ArrayBuffer(8)]), pick([0, 4096, values() as number]), pick([4096, 8192, values() as number]), pick([0x100000n, BigInt(Math.floor(r() * 2 ** 30)) * 4096n, values() as bigint]), pick([1, 2, 3, 0, 4, values() as number])),
      () => kernel.dmaUnmap(pick(fds.length ? fds : [0]), pick([0n, 0x100000n, values() as bigint]), pick([0n, 4096n, values() as bigint]), pick([0, 2, 1, values() as number])),
      () => kernel.eventfdWrite(pick(fds.length ? fds : [0]), values() as number),
      () => kernel.eventfdRead(pick(fds.length ? fds : [0])),
      () => kernel.munmap(values() as ArrayBuffer),
    ];
    let ok = 0;
    const bad: string[] = [];
    for (let i = 0; i < 20000; i++) {
      try {
        pick(calls)();
        ok++;
      } catch (e) {
        if (!acceptable(e)) bad.push(`${(e as Error)?.constructor?.name}: ${(e as Error)?.message ?? String(e)}${process.env.FUZZ_STACK ? (e as Error).stack : ""}`);
      }
    }
    expect([...new Set(bad)].slice(0, 10)).toEqual([]);
    expect(ok).toBeGreaterThan(500); // the fuzzer also reached the paths that succeed
  });
});
