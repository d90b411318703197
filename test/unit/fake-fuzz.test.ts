/**
 * No input can make the fake kernel fail with anything but what the native shim
 * would give: a system error (code + errno) for what the kernel refuses, or a
 * TypeError/RangeError naming the call for a malformed argument. An internal
 * exception (a property of undefined, a BigInt mixing error) is a bug.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { FakeKernel, EduModel } from '../../src/backend/fake/index.js';
import { ALLOWED_IOCTLS } from '../../src/backend/allowlist.js';
import type { FdHandle } from '../../src/backend/backend.js';

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

const NAMED = /^(open|close|ioctl|groupDeviceFd|bindIommufd|pread|pwrite|mmap|munmap|dmaAlloc|dmaFree|dmaMap|dmaUnmap|ioasMap|ioasUnmap|ioasIovaRanges|eventfdWrite|eventfdRead|Poller|VFIO_[A-Z_]+|IOMMU_[A-Z_]+|write|read|uv_poll_init)\b/;

function acceptable(e: unknown): boolean {
  if (e instanceof TypeError || e instanceof RangeError) return NAMED.test(e.message);
  const x = e as { code?: unknown; errno?: unknown; syscall?: unknown };
  return e instanceof Error && typeof x.code === 'string' && typeof x.errno === 'number' && x.errno < 0 && typeof x.syscall === 'string';
}

const kernel = new FakeKernel({ iommufd: true });
kernel.addDevice('0000:00:02.0', new EduModel({ dmaDelayMs: 0 }));
// Another kernel's handles must be refused like any non-handle.
const other = new FakeKernel();
const foreign = [other.open(`${other.root}/dev/vfio/vfio`), other.eventfd()];
afterAll(() => {
  kernel.dispose();
  other.dispose();
});

describe('the fake kernel under random input', () => {
  it.each([0xf00d, 1, 2, 3, 0xbeef, 42, 7, 99])('answers 20000 random calls (seed %i) with only system errors or named argument errors', (seed) => {
    const r = rng(seed);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
    const fds: FdHandle[] = [];
    const buffers: ArrayBuffer[] = [];
    // Mostly a handle of this kernel (open or closed), sometimes what must not pass for one.
    const file = (): FdHandle =>
      (r() < 0.85 && fds.length ? pick(fds) : pick([() => pick(foreign), () => ({ fd: 100, kind: 'group', closed: false }), () => 100, values])()) as FdHandle;
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
        () => (fds.length ? pick(fds) : 0),
        () => (fds.length ? pick(fds).fd : 0),
        () => new Uint8Array(Math.floor(r() * 64)).map(() => Math.floor(r() * 256)),
      ])();
    const structArg = () => {
      const b = new Uint8Array(Math.floor(r() * 80));
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(r() * 256);
      if (b.length >= 4 && r() < 0.7) new DataView(b.buffer).setUint32(0, Math.min(b.length, Math.floor(r() * 96)), true);
      return b;
    };
    const calls: (() => unknown)[] = [
      () =>
        fds.push(
          kernel.open(
            pick([`${kernel.root}/dev/vfio/vfio`, `${kernel.root}/dev/vfio/0`, `${kernel.root}/dev/vfio/7`, `${kernel.root}/dev/iommu`, `${kernel.root}/dev/vfio/devices/vfio0`, '/etc/passwd', values() as string]),
          ),
        ),
      () => kernel.close(file()),
      () => fds.push(kernel.eventfd()),
      () => fds.push(kernel.groupDeviceFd(file(), pick(['0000:00:02.0', '0000:00:02.0\0', values() as string]))),
      () => kernel.bindIommufd(file(), file(), pick([undefined, new Uint8Array(16), values() as Uint8Array])),
      () => {
        const req = pick(ALLOWED_IOCTLS);
        kernel.ioctl(file(), r() < 0.9 ? req.number : (values() as number), pick([structArg(), values(), file(), `0000:00:02.0`, undefined]) as Uint8Array);
      },
      () => kernel.pread(file(), structArg(), pick([Math.floor(r() * 2 ** 44), 7 * 2 ** 40 + Math.floor(r() * 300), values() as number])),
      () => kernel.pwrite(file(), structArg(), pick([Math.floor(r() * 2 ** 20), 7 * 2 ** 40 + Math.floor(r() * 300), values() as number])),
      () => kernel.mmap(file(), values() as number, values() as number, values() as number),
      () => buffers.push(kernel.dmaAlloc(pick([4096, 8192, Math.floor(r() * 20000), values() as number]), pick(['never', 'prefer', 'require', 'x']) as 'never').buffer),
      () => kernel.dmaFree(pick(buffers.length ? buffers : [new ArrayBuffer(8)])),
 () => kernel.dmaMap(file(), pick(buffers.length ? buffers : [new ArrayBuffer(8)]), pick([0, 4096, values() as number]), pick([4096, 8192, values() as number]), pick([0x100000n, BigInt(Math.floor(r() * 2 ** 30)) * 4096n, values() as bigint]), pick([1, 2, 3, 0, 4, values() as number])),
      () => kernel.dmaUnmap(file(), pick([0n, 0x100000n, 0x101000n, values() as bigint]), pick([0n, 4096n, 8192n, values() as bigint]), pick([0, 2, 1, values() as number])),
      () => kernel.ioasMap(file(), pick([1, 2, values() as number]), pick(buffers.length ? buffers : [new ArrayBuffer(8)]), pick([0, 4096, values() as number]), pick([4096, 8192, values() as number]), pick([0x100000n, 0x101000n, values() as bigint]), pick([6, 2, 4, 0, values() as number])),
      () => kernel.ioasUnmap(file(), pick([1, 2, values() as number]), pick([0n, 0x100000n, 0x101000n, values() as bigint]), pick([4096n, 8192n, (1n << 64n) - 1n, values() as bigint])),
      () => kernel.ioasIovaRanges(file(), pick([1, 2, values() as number])),
      () => kernel.eventfdWrite(file(), values() as number),
      () => kernel.eventfdRead(file()),
      () => kernel.poll(file(), pick([() => {}, values() as () => void])).close(),
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
