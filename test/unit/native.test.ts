/**
 * The native shim on the host: everything that needs no VFIO device. Device-fd
 * behaviour is covered in the guest (test/vm).
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadAddon, nativeBackend } from '../../src/backend/native.js';
import type { FdHandle } from '../../src/backend/backend.js';
import { VFIO_GET_API_VERSION, VFIO_GROUP_GET_STATUS, VFIO_IOMMU_MAP_DMA, VFIO_DEVICE_SET_IRQS } from '../../src/uapi/ioctl.js';

const b = nativeBackend();
const dir = mkdtempSync(join(tmpdir(), 'vfio-native-'));

function tempFile(bytes: number, fill = 0): string {
  const p = join(dir, `f${Math.random().toString(36).slice(2)}`);
  writeFileSync(p, Buffer.alloc(bytes, fill));
  return p;
}

describe('open/close', () => {
  it('reports errno like Node system errors', () => {
    try {
      b.open('/nonexistent/vfio');
      expect.unreachable();
    } catch (e) {
      expect(e).toMatchObject({ code: 'ENOENT', errno: -2, syscall: 'open' });
    }
  });
  it('closing twice is EBADF, not a crash', () => {
    const fd = b.open(tempFile(16));
    b.close(fd);
    expect(() => b.close(fd)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
  it('rejects bad arguments with TypeError/RangeError', () => {
    expect(() => b.open(42 as unknown as string)).toThrow(TypeError);
    expect(() => b.open('a\0b')).toThrow(/NUL/);
    expect(() => b.open('/tmp', 0o100 /* O_CREAT */)).toThrow(/only O_RDONLY/);
  });
});

// The shim names errnos from its own table (native/errno.cc), not glibc's strerrorname_np,
// which the prebuilt addon's glibc floor (2.28) does not have.
describe('errno names', () => {
  const name = loadAddon().errnoName;
  it('agrees with Node on every errno Node knows', () => {
    // Aliases name the same value as another errno; the shim gives the first name.
    const aliases: Record<string, string> = { EWOULDBLOCK: 'EAGAIN', ENOTSUP: 'EOPNOTSUPP', EDEADLOCK: 'EDEADLK' };
    for (const [code, n] of Object.entries(constants.errno)) expect([code, name(n)]).toEqual([code, aliases[code] ?? code]);
    expect(name(constants.errno.EAGAIN)).toBe('EAGAIN');
  });
  it('names what libuv does not: EBADFD and the kernel-internal ENOTSUPP', () => {
    expect(name(77)).toBe('EBADFD'); // Linux on x86-64 and arm64
    expect(name(524)).toBe('ENOTSUPP');
    expect(name(9999)).toBe('ERRNO_9999');
  });
});

describe('ioctl allow-list', () => {
  const fd = b.open(tempFile(16));
  it('refuses requests not on the list, MAP_DMA included', () => {
    expect(() => b.ioctl(fd, 0x5401 /* TCGETS */)).toThrow(/not on the allow-list/);
  });
  it('goes by the kind the handle recorded at open before trusting a request number', () => {
    // VFIO_IOMMU_MAP_DMA shares its number with VFIO_DEVICE_PCI_HOT_RESET; on anything but a
    // VFIO device that number must not reach the kernel with a JS-made struct.
    expect(fd.kind).toBe('other');
    for (const req of [VFIO_GET_API_VERSION, VFIO_GROUP_GET_STATUS, VFIO_IOMMU_MAP_DMA, VFIO_DEVICE_SET_IRQS]) {
      expect(() => b.ioctl(fd, req, new Uint8Array(64))).toThrow(
        expect.objectContaining({ code: 'ENOTTY', syscall: 'ioctl', message: expect.stringMatching(/non-VFIO file/) }),
      );
    }
  });
  it('checks the request number is an integer', () => {
    expect(() => b.ioctl(fd, 'x' as unknown as number)).toThrow(TypeError);
    expect(() => b.ioctl(fd, -1)).toThrow(/integer in \[0, 2\^32\)/);
    expect(() => b.ioctl(fd, VFIO_GET_API_VERSION + 0.5)).toThrow(RangeError);
  });
});

describe('mmap and detach-on-unmap', () => {
  it('maps a memfd, reads and writes through it, and detaches on munmap', () => {
    const fd = loadAddon().memfd(8192);
    expect(fd.kind).toBe('memfd');
    const path = `/proc/self/fd/${fd.fd}`;
    b.pwrite(fd, Buffer.alloc(8192, 0x11), 0);
    const ab = b.mmap(fd, 4096, 4096, 3);
    const u32 = new Uint32Array(ab);
    expect(Atomics.load(u32, 0)).toBe(0x11111111);
    Atomics.store(u32, 1, 0xcafef00d);
    b.munmap(ab);
    expect(ab.byteLength).toBe(0);
    expect(u32.length).toBe(0);
    expect(u32[0]).toBeUndefined();
    expect(() => Atomics.load(u32, 0)).toThrow(TypeError);
    expect(() => b.munmap(ab)).toThrow(/already released/);
    expect(readFileSync(path).readUInt32LE(4096 + 4)).toBe(0xcafef00d);
    b.close(fd);
  });
  it('validates offset, length and prot', () => {
    const fd = loadAddon().memfd(8192);
    expect(() => b.mmap(fd, 100, 4096, 3)).toThrow(/multiple of the page size/);
    expect(() => b.mmap(fd, 0, 0, 3)).toThrow(/greater than 0/);
    expect(() => b.mmap(fd, 0, 4096, 8)).toThrow(/prot/);
    expect(() => b.munmap(new ArrayBuffer(8))).toThrow(/not returned by mmap/);
    b.close(fd);
  });
  it('pread/pwrite at offsets, refusing detached buffers', () => {
    const fd = loadAddon().memfd(4096);
    expect(b.pwrite(fd, new Uint8Array([1, 2, 3, 4]), 8)).toBe(4);
    const got = new Uint8Array(4);
    expect(b.pread(fd, got, 8)).toBe(4);
    expect([...got]).toEqual([1, 2, 3, 4]);
    const ab = b.mmap(fd, 0, 4096, 3);
    const view = new Uint8Array(ab, 0, 16);
    b.munmap(ab);
    expect(() => b.pread(fd, view, 0)).toThrow(/detached \(freed\) buffer/); // never read into freed memory
    expect(() => b.pread(fd, got, -1)).toThrow(RangeError);
    b.close(fd);
  });
});

describe('DMA memory', () => {
  it('is zeroed, page-rounded, and detached by dmaFree', () => {
    const m = b.dmaAlloc(5000, 'never');
    expect(m.pageSize).toBe(4096);
    expect(m.buffer.byteLength).toBe(8192);
    expect(new Uint8Array(m.buffer).every((x) => x === 0)).toBe(true);
    const u8 = new Uint8Array(m.buffer);
    u8[0] = 1;
    b.dmaFree(m.buffer);
    expect(u8.length).toBe(0);
    expect(() => b.dmaFree(m.buffer)).toThrow(/already released/);
  });
  it('keeps DMA memory and device mappings apart', () => {
    const fd = loadAddon().memfd(4096);
    const ab = b.mmap(fd, 0, 4096, 3);
    const m = b.dmaAlloc(4096, 'never');
    expect(() => b.dmaFree(ab)).toThrow(/device mapping/);
    expect(() => b.munmap(m.buffer)).toThrow(/DMA memory/);
    expect(() => b.dmaMap(fd, ab, 0, 4096, 0n, 3)).toThrow(/only memory from dmaAlloc/);
    b.munmap(ab);
    b.dmaFree(m.buffer);
    b.close(fd);
  });
  it('bounds-checks dmaMap before any ioctl and reports the kernel errno after', () => {
    const fd = b.open(tempFile(16));
    const m = b.dmaAlloc(4096, 'never');
    expect(() => b.dmaMap(fd, m.buffer, 0, 8192, 0n, 3)).toThrow(/outside the 4096-byte buffer/);
    expect(() => b.dmaMap(fd, m.buffer, 4096, 1, 0n, 3)).toThrow(/outside/);
    expect(() => b.dmaMap(fd, m.buffer, 0, 4096, 0n, 4)).toThrow(/READ \(1\) and WRITE \(2\)/);
    expect(() => b.dmaMap(fd, m.buffer, 0, 4096, -1n as bigint, 3)).toThrow(RangeError);
    expect(() => b.dmaMap(fd, m.buffer, 0, 4096, 0n, 3)).toThrow(
      expect.objectContaining({ code: 'ENOTTY', message: expect.stringMatching(/not a VFIO container/) }),
    );
    expect(() => b.dmaUnmap(fd, 0n, 4096n, 1)).toThrow(/UNMAP_ALL/);
    b.dmaFree(m.buffer);
    b.close(fd);
  });
  it('refuses required hugepages with a clear error when none are reserved', () => {
    let nr = 0;
    try {
      nr = Number(readFileSync('/proc/sys/vm/nr_hugepages', 'utf8'));
    } catch {}
    if (nr === 0) expect(() => b.dmaAlloc(4096, 'require')).toThrow(/hugepages/);
    else b.dmaFree(b.dmaAlloc(4096, 'require').buffer);
    const m = b.dmaAlloc(4096, 'prefer');
    expect([4096, 2 ** 21]).toContain(m.pageSize);
    b.dmaFree(m.buffer);
  });
});

describe('eventfd and the poller', () => {
  it('delivers the counter on the event loop and closes the fd on close()', async () => {
    const fd = b.eventfd();
    const number = fd.fd;
    const got = await new Promise<number>((resolve) => {
      const p = b.poll(fd, (err, n) => {
        expect(err).toBeNull();
        p.close();
        expect(p.closed).toBe(true);
        resolve(n);
      });
      b.eventfdWrite(fd, 3);
      b.eventfdWrite(fd, 4);
    });
    expect(got).toBe(7);
    // libuv closes handles in the loop's close phase, after this turn.
    await new Promise((r) => setTimeout(r, 10));
    expect(fd.closed).toBe(true);
    expect(existsSync(`/proc/self/fd/${number}`)).toBe(false);
  });
  it('reads nothing (null) when no event is pending', () => {
    const fd = b.eventfd();
    expect(b.eventfdRead(fd)).toBeNull();
    b.eventfdWrite(fd, 5);
    expect(b.eventfdRead(fd)).toBe(5);
    b.close(fd);
  });
  it('a throwing callback is reported as an uncaught exception, not a crash', async () => {
    const fd = b.eventfd();
    const err = await new Promise<Error>((resolve) => {
      const prev = process.listeners('uncaughtException');
      process.removeAllListeners('uncaughtException');
      process.once('uncaughtException', (e) => {
        for (const l of prev) process.on('uncaughtException', l);
        p.close();
        resolve(e);
      });
      const p = b.poll(fd, () => {
        throw new Error('listener failed');
      });
      b.eventfdWrite(fd, 1);
    });
    expect(err.message).toBe('listener failed');
  });
  it('unref lets the loop exit; close is idempotent', () => {
    const p = b.poll(b.eventfd(), () => {});
    p.unref();
    p.ref();
    p.close();
    p.close();
    expect(p.closed).toBe(true);
  });
  it('validates arguments', () => {
    const e = b.eventfd();
    expect(() => b.poll(-1 as unknown as FdHandle, () => {})).toThrow(TypeError);
    expect(() => b.poll(e, 'x' as unknown as () => void)).toThrow(TypeError);
    expect(() => b.eventfdWrite(e, 0)).toThrow(RangeError);
    b.close(e);
  });
});

// Issue 12, finding 5: files are handles the addon made, never fd numbers JS could swap.
describe('handles', () => {
  const a = loadAddon();
  const proto = a.FdHandle.prototype as object;
  // Every entry point that takes a file, with that file first (the Poller is a constructor).
  const takers: [string, (h: unknown) => unknown][] = [
    ['close', (h) => a.close(h as FdHandle)],
    ['ioctl', (h) => a.ioctl(h as FdHandle, VFIO_GET_API_VERSION)],
    ['groupDeviceFd', (h) => a.groupDeviceFd(h as FdHandle, '0000:00:00.0')],
    ['bindIommufd', (h) => a.bindIommufd(h as FdHandle, h as FdHandle)],
    ['pread', (h) => a.pread(h as FdHandle, new Uint8Array(4), 0)],
    ['pwrite', (h) => a.pwrite(h as FdHandle, new Uint8Array(4), 0)],
    ['mmap', (h) => a.mmap(h as FdHandle, 0, 4096, 3)],
    ['dmaMap', (h) => a.dmaMap(h as FdHandle, a.dmaAlloc(4096, 0).buffer, 0, 4096, 0n, 3)],
    ['dmaUnmap', (h) => a.dmaUnmap(h as FdHandle, 0n, 4096n, 0)],
    ['ioasMap', (h) => a.ioasMap(h as FdHandle, 1, a.dmaAlloc(4096, 0).buffer, 0, 4096, 0n, 6)],
    ['ioasUnmap', (h) => a.ioasUnmap(h as FdHandle, 1, 0n, 4096n)],
    ['ioasIovaRanges', (h) => a.ioasIovaRanges(h as FdHandle, 1)],
    ['eventfdWrite', (h) => a.eventfdWrite(h as FdHandle, 1)],
    ['eventfdRead', (h) => a.eventfdRead(h as FdHandle)],
    ['Poller', (h) => new a.Poller(h as FdHandle, () => {})],
  ];

  it('numbers, plain objects, {fd}, a forged kind, a Proxy or a Poller are TypeErrors at every entry point', () => {
    const real = a.memfd(4096);
    const poller = b.poll(b.eventfd(), () => {});
    const fakes: [string, unknown][] = [
      ['the number of an open file', real.fd],
      ['0', 0],
      ['a plain object', {}],
      ['{ fd: 3 }', { fd: 3 }],
      ['a forged container', { fd: real.fd, kind: 'container', closed: false }],
      ['an object on the handle prototype', Object.create(proto)],
      ['the prototype', proto],
      ['a Proxy of a handle', new Proxy(real, {})],
      ['a Poller', poller],
      ['null', null],
    ];
    for (const [fn, call] of takers)
      for (const [what, v] of fakes) {
        expect(() => call(v), `${fn}(${what})`).toThrow(TypeError);
        expect(() => call(v), `${fn}(${what})`).toThrow(new RegExp(`${fn}: argument 1 must be a handle from open\\(\\)`));
      }
    expect(() => a.close(3 as unknown as FdHandle)).toThrow(/fd numbers are not accepted/);
    // None of that touched the real file.
    expect(real.closed).toBe(false);
    b.pwrite(real, new Uint8Array([7]), 0);
    poller.close();
    b.close(real);
  });

  it('fd, kind and closed refuse another receiver; the constructor refuses JS', () => {
    const poller = b.poll(b.eventfd(), () => {});
    for (const name of ['fd', 'kind', 'closed']) {
      const get = Object.getOwnPropertyDescriptor(proto, name)!.get!;
      for (const self of [{}, Object.create(proto), proto, poller, new Date(), 3, null, undefined])
        expect(() => get.call(self), `${name} on ${String(self)}`).toThrow(TypeError);
    }
    poller.close();
    const Ctor = a.FdHandle as unknown as new (...args: unknown[]) => object;
    for (const args of [[], [3], [{ fd: 3 }], [b.eventfd()]])
      expect(() => new Ctor(...args)).toThrow(/the constructor cannot be called/);
    expect(() => Reflect.construct(Ctor, [3])).toThrow(TypeError);
    class Sub extends Ctor {}
    expect(() => new Sub(3)).toThrow(TypeError);
  });

  it('records the kind once, when made', () => {
    const files = [b.open(tempFile(16)), b.eventfd(), a.memfd(4096)];
    expect(files.map((f) => f.kind)).toEqual(['other', 'eventfd', 'memfd']);
    for (const f of files) {
      expect(f).toBeInstanceOf(a.FdHandle);
      expect(f.closed).toBe(false);
      expect(existsSync(`/proc/self/fd/${f.fd}`)).toBe(true);
      b.close(f);
    }
  });

  it('a closed handle is EBADF at every entry point, close included', () => {
    for (const make of [() => b.open(tempFile(4096)), () => b.eventfd(), () => a.memfd(4096)]) {
      const h = make();
      b.close(h);
      expect(h.closed).toBe(true);
      expect(h.fd).toBe(-1);
      for (const [fn, call] of takers)
        expect(() => call(h), `${fn} on a closed ${h.kind}`).toThrow(
          expect.objectContaining({ code: 'EBADF', message: expect.stringMatching(/the handle is closed/) }),
        );
    }
  });

  it('refuses what a kind of file cannot do: eventfd reads elsewhere, pread on an eventfd, mmap of a non-device', () => {
    const e = b.eventfd();
    const f = b.open(tempFile(8192));
    const m = a.memfd(4096);
    expect(() => b.pread(e, new Uint8Array(8), 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => b.pwrite(e, new Uint8Array(8), 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => b.eventfdRead(m)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/not an eventfd/) }));
    expect(() => b.poll(f, () => {})).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/not an eventfd/) }));
    for (const h of [e, f]) expect(() => b.mmap(h, 0, 4096, 3)).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    expect(() => b.mmap(m, 0, 8192, 3)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/past the end/) }));
    expect(() => b.groupDeviceFd(f, '0000:00:00.0')).toThrow(
      expect.objectContaining({ code: 'ENOTTY', message: expect.stringMatching(/not a VFIO group/) }),
    );
    expect(() => b.dmaUnmap(e, 0n, 4096n, 0)).toThrow(expect.objectContaining({ code: 'ENOTTY', message: expect.stringMatching(/an eventfd, not a VFIO container/) }));
    expect(() => b.ioasUnmap(f, 1, 0n, 4096n)).toThrow(expect.objectContaining({ code: 'ENOTTY', message: expect.stringMatching(/a non-VFIO file, not an iommufd/) }));
    for (const h of [e, f, m]) b.close(h);
  });

  it('close of an eventfd a poller owns is EBUSY; poller.close() closes the handle', async () => {
    const e = b.eventfd();
    const number = e.fd;
    const p = b.poll(e, () => {});
    expect(() => b.close(e)).toThrow(expect.objectContaining({ code: 'EBUSY', message: expect.stringMatching(/close the poller/) }));
    expect(() => b.poll(e, () => {})).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    b.eventfdWrite(e, 1); // still usable while polled
    p.close();
    expect(e.closed).toBe(true);
    expect(e.fd).toBe(-1);
    expect(() => b.close(e)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    await new Promise((r) => setTimeout(r, 10)); // the fd itself closes in libuv's close phase
    expect(existsSync(`/proc/self/fd/${number}`)).toBe(false);
  });

  it('poller.close() cannot close anything else, even a file that took its old fd number', async () => {
    const e = b.eventfd();
    const number = e.fd;
    const p = b.poll(e, () => {});
    p.close();
    await new Promise((r) => setTimeout(r, 10));
    // The lowest free number is the poller's old one, unless another thread took it first.
    const extra: FdHandle[] = [];
    let next = b.open(tempFile(16, 0x5a));
    while (next.fd !== number && extra.length < 8) extra.push(next), (next = b.open(tempFile(16, 0x5a)));
    expect(next.fd).toBe(number);
    p.close();
    p.close();
    await new Promise((r) => setTimeout(r, 10));
    const got = new Uint8Array(4);
    expect(b.pread(next, got, 0)).toBe(4);
    expect([...got]).toEqual([0x5a, 0x5a, 0x5a, 0x5a]);
    expect(() => b.eventfdRead(e)).toThrow(expect.objectContaining({ code: 'EBADF' })); // not the file now at its number
    for (const h of [next, ...extra]) b.close(h);
  });

  it('a failed Poller constructor leaves the handle open, unpolled and usable', () => {
    const e = b.eventfd();
    expect(() => b.poll(e, 'not a function' as unknown as () => void)).toThrow(TypeError);
    expect(() => new a.Poller(e, undefined as unknown as () => void)).toThrow(TypeError);
    expect(e.closed).toBe(false);
    b.eventfdWrite(e, 3);
    expect(b.eventfdRead(e)).toBe(3);
    b.close(e); // not EBUSY: no poller owns it
    expect(e.closed).toBe(true);
  });

  it('a handle nobody closed closes its fd when it is garbage-collected', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const numbers = (() => [b.open(tempFile(16)), b.eventfd(), a.memfd(4096)].map((h) => h.fd))();
    for (let k = 0; k < 20 && numbers.some((n) => existsSync(`/proc/self/fd/${n}`)); k++) {
      gc();
      await new Promise((r) => setTimeout(r, 5)); // Node runs Node-API finalizers after the GC
    }
    for (const n of numbers) expect(existsSync(`/proc/self/fd/${n}`), `fd ${n}`).toBe(false);
  });
});
