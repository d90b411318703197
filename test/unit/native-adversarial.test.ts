/**
 * The native shim fed what hostile JS would feed it (issue 12). Every case must end in a
 * thrown error, never in a crash, undefined behaviour or a leak; CI runs this file on the
 * plain build and under ASan/UBSan (with float-cast-overflow).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeSync, ftruncateSync, mkdtempSync, openSync, read, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { randomFill } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { tmpdir } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { join } from 'node:path';
import { loadAddon, nativeBackend } from '../../src/backend/native.js';
import type { FdHandle } from '../../src/backend/backend.js';
import { fakeTarget } from '../conformance/fake-target.js';
import { flipArgsz } from '../helpers/argsz-flipper.js';
import { toVfioError, VfioError } from '../../src/errors.js';

const b = nativeBackend();
const addon = loadAddon() as unknown as Record<string, (...a: unknown[]) => unknown>;
const dir = mkdtempSync(join(tmpdir(), 'vfio-adversarial-'));
const fake = fakeTarget();
const fakeKernel = fake.kernel;
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  fake.kernel.dispose();
});

function tempFile(bytes: number): string {
  const p = join(dir, `f${Math.random().toString(36).slice(2)}`);
  writeFileSync(p, Buffer.alloc(bytes));
  return p;
}

const HOSTILE_NUMBERS = [NaN, Infinity, -Infinity, -1, -0.5, 1.5, 2 ** 31, 2 ** 32 + 2, 2 ** 53, 2 ** 64, 1e300, -1e300];

describe('numbers a double-to-integer cast would get wrong (float-cast-overflow)', () => {
  it('every numeric argument of every export is checked before any cast', () => {
    const fd = b.open(tempFile(8192));
    const calls: [string, (v: number) => unknown[]][] = [
      ['open', (v) => [tempFile(16), v]],
      ['close', (v) => [v]],
      ['ioctl', (v) => [v, 0x3b64]],
      ['ioctl', (v) => [fd, v]],
      ['bindIommufd', (v) => [v, fd]],
      ['bindIommufd', (v) => [fd, v]],
      ['bindIommufd', (v) => [fd, fd, v]],
      ['pread', (v) => [v, new Uint8Array(4), 0]],
      ['pread', (v) => [fd, new Uint8Array(4), v]],
      ['pwrite', (v) => [fd, new Uint8Array(4), v]],
      ['mmap', (v) => [v, 0, 4096, 3]],
      ['mmap', (v) => [fd, v, 4096, 3]],
      ['mmap', (v) => [fd, 0, v, 3]],
      ['mmap', (v) => [fd, 0, 4096, v]],
      ['dmaAlloc', (v) => [v, 0]],
      ['dmaAlloc', (v) => [4096, v]],
      ['dmaMap', (v) => [v, new ArrayBuffer(8), 0, 4096, 0, 3]],
      ['dmaUnmap', (v) => [fd, v, 4096, 0]],
      ['ioasMap', (v) => [fd, v, new ArrayBuffer(8), 0, 4096, 0, 3]],
      ['ioasUnmap', (v) => [fd, 1, 0, v]],
      ['ioasIovaRanges', (v) => [fd, v]],
      ['eventfd', (v) => [v]],
      ['eventfdWrite', (v) => [v, 1]],
      ['eventfdRead', (v) => [v]],
    ];
    for (const [name, args] of calls)
      for (const v of HOSTILE_NUMBERS) {
        let threw: unknown;
        let out: unknown;
        try {
          out = addon[name]!(...args(v));
        } catch (e) {
          threw = e;
        }
        // Either a clean refusal, or (open with flags -0/…) a result; never a crash.
        if (threw === undefined) {
          if ((name === 'open' || name === 'eventfd') && out instanceof (addon.FdHandle as unknown as typeof Object)) b.close(out as FdHandle);
          continue;
        }
        expect(threw, `${name}(${v})`).toBeInstanceOf(Error);
      }
    b.close(fd);
  });
});

describe('a mapping JS cannot be given as an ArrayBuffer', () => {
  // Node 20 refuses external ArrayBuffers above 2^32 bytes and runs the finalizer itself;
  // the shim must then release the mapping exactly once. A file mapping commits no memory.
  it('mmap longer than the runtime allows fails cleanly (no double free), or works', () => {
    // (A memfd: mmap refuses regular files, finding 9.)
    // Sparse: no memory behind it until touched.
    const fd = (addon.memfd as (size: number) => FdHandle)(2 ** 32 + 4096);
    for (let k = 0; k < 3; k++) {
      let buffer: ArrayBuffer | undefined;
      try {
        buffer = b.mmap(fd, 0, 2 ** 32 + 4096, 3);
      } catch (e) {
        expect(e).toBeInstanceOf(Error);
      }
      if (buffer) b.munmap(buffer);
    }
    b.close(fd);
  });
});

describe('Poller methods on a receiver that is not a Poller', () => {
  it('throw a TypeError for a plain object, another class, or the prototype itself', () => {
    const { Poller } = loadAddon() as unknown as { Poller: { prototype: object } };
    const proto = Poller.prototype as Record<string, unknown>;
    const closed = Object.getOwnPropertyDescriptor(proto, 'closed')!.get!;
    // Any wrapped native object would do; a Poller's prototype chain on a plain object is the sneaky one.
    const foreign = [{}, Object.create(proto), proto, new (class Other {})(), new Date(), null, undefined, 42];
    for (const self of foreign) {
      for (const m of ['close', 'ref', 'unref']) expect(() => (proto[m] as () => void).call(self), `${m} on ${String(self)}`).toThrow(TypeError);
      expect(() => closed.call(self), `closed on ${String(self)}`).toThrow(TypeError);
    }
    // A real one still works, and stays usable after all that.
    const p = b.poll(b.eventfd(), () => {});
    expect(p.closed).toBe(false);
    p.close();
    expect(p.closed).toBe(true);
  });
});

describe.each([
  ['native', b],
  ['fake', fakeKernel],
] as const)('argument checks the %s backend makes that ToInt32 or a rounding would get wrong', (_name, k) => {
  it('open takes flags O_RDONLY or O_RDWR only, as an exact integer', () => {
    const path = _name === 'native' ? tempFile(16) : fake.target.containerPath;
    for (const f of [NaN, 1.5, 2 ** 32 + 2, -1, Infinity, 0o4000 /* O_NONBLOCK */, 1 /* O_WRONLY */, 0o100 /* O_CREAT */])
      expect(() => k.open(path, f), String(f)).toThrow(RangeError);
    expect(() => k.open(path, '2' as unknown as number)).toThrow(TypeError);
    for (const f of [undefined, 0, 2]) k.close(k.open(path, f));
  });
  it('eventfd read/write refuse an fd that is not an eventfd', () => {
    const fd = _name === 'native' ? k.open(tempFile(16)) : k.open(fake.target.containerPath);
    expect(() => k.eventfdWrite(fd, 1)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/not an eventfd/) }));
    expect(() => k.eventfdRead(fd)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/not an eventfd/) }));
    k.close(fd);
  });
  it('eventfdRead refuses a counter above 2^53-1 rather than round it, and leaves it there', () => {
    const fd = k.eventfd();
    k.eventfdWrite(fd, (2n ** 53n + 1n) as unknown as number);
    expect(() => k.eventfdRead(fd)).toThrow(/above 2\^53-1/);
    expect(() => k.eventfdRead(fd)).toThrow(/above 2\^53-1/);
    k.close(fd);
    const small = k.eventfd();
    k.eventfdWrite(small, 2 ** 53 - 1);
    expect(k.eventfdRead(small)).toBe(2 ** 53 - 1);
    k.close(small);
  });
});

describe('dmaAlloc lengths', () => {
  it('a length that page rounding would wrap is a RangeError naming the limit, not an mmap EINVAL', () => {
    for (const len of [2n ** 64n - 1n, 2n ** 64n - 4096n, 2n ** 63n])
      for (const huge of ['never', 'prefer'] as const)
        expect(() => b.dmaAlloc(len as unknown as number, huge)).toThrow(/dmaAlloc: length .* exceeds the limit of \d+ bytes/);
  });
});

describe('system errors shaped like Node\'s', () => {
  let nodeErr: NodeJS.ErrnoException | undefined;
  try {
    openSync('/nonexistent/vfio', 'r');
  } catch (e) {
    nodeErr = e as NodeJS.ErrnoException;
  }
  it.each([
    ['native', () => b.open('/nonexistent/vfio')],
    ['fake', () => fakeKernel.open('/nonexistent/vfio')],
  ])('%s: errno has Node\'s sign; VfioError.errno is the kernel\'s positive number', (_name, call) => {
    let err: (Error & { code?: string; errno?: number }) | undefined;
    try {
      call();
    } catch (e) {
      err = e as Error & { code?: string; errno?: number };
    }
    expect(err).toMatchObject({ code: 'ENOENT', errno: nodeErr!.errno });
    expect(nodeErr!.errno).toBe(-2);
    const v = toVfioError(err, 'open', {}) as VfioError;
    expect(v).toBeInstanceOf(VfioError);
    expect(v.errno).toBe(2);
  });
});

describe('no read-only memory reaches JS as an ArrayBuffer', () => {
  // A JS store into a PROT_READ page is a SIGSEGV, and nothing stops `new Uint8Array(buffer)[0] = 1`.
  it.each([
    ['native', () => b, () => b.open(tempFile(8192))],
    ['fake', () => fakeKernel, () => fakeKernel.open(fake.target.containerPath)],
  ] as const)('%s: mmap refuses any prot but PROT_READ|PROT_WRITE', (_name, k, open) => {
    const fd = open();
    for (const prot of [1 /* PROT_READ */, 2 /* PROT_WRITE */])
      expect(() => k().mmap(fd, 0, 4096, prot), String(prot)).toThrow(/mmap: prot must be PROT_READ\|PROT_WRITE/);
    k().close(fd);
  });
});

describe('mmap maps only what cannot SIGBUS under JS', () => {
  it('refuses a regular file: past its end, and within it (it could be truncated under the mapping)', () => {
    const fd = b.open(tempFile(4096));
    // Past the end: the first access beyond it would be a SIGBUS.
    expect(() => b.mmap(fd, 0, 3 * 4096, 3)).toThrow(expect.objectContaining({ code: 'ENODEV', syscall: 'mmap' }));
    // Within it: truncate(2) by anyone would turn the mapping into a SIGBUS.
    expect(() => b.mmap(fd, 0, 4096, 3)).toThrow(expect.objectContaining({ code: 'ENODEV', message: expect.stringMatching(/non-VFIO file/) }));
    b.close(fd);
  });
  it('maps a memfd only when sealed against shrinking, and only within its size', () => {
    const memfd = (addon.memfd as (size: number) => FdHandle)(8192);
    const ab = b.mmap(memfd, 4096, 4096, 3);
    new Uint8Array(ab).fill(7);
    b.munmap(ab);
    // A memfd cannot be shrunk, so no part of the mapping can vanish.
    expect(() => ftruncateSync(memfd.fd, 0)).toThrow(expect.objectContaining({ code: 'EPERM' }));
    expect(() => b.mmap(memfd, 4096, 8192, 3)).toThrow(expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/past the end/) }));
    b.close(memfd);
  });
});

const addonPath: string =
  process.env.VFIO_NATIVE_ADDON ?? createRequire(import.meta.url)('node-gyp-build').path(join(import.meta.dirname, '..', '..'));
const openFds = () => readdirSync('/proc/self/fd').length;
const mapsLines = () => readFileSync('/proc/self/maps', 'utf8').split('\n').length - 1;
// Under ASan/UBSan (CI's second run) every call costs several times more: the long loops shrink.
const sanitized = /libasan/.test(process.env.LD_PRELOAD ?? '');

// Issue 12, finding 5: fd numbers are reused at once (the lowest free one), so a call that named
// a file by number could reach whatever another thread opened since. Handles cannot.
describe('a worker closing and reopening fds as fast as it can', () => {
  async function churner(): Promise<{ stop(): Promise<number> }> {
    const halt = new Int32Array(new SharedArrayBuffer(4));
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const fs = require('node:fs');
       const a = require(workerData.addon);
       const stop = new Int32Array(workerData.halt);
       let rounds = 0;
       parentPort.postMessage('churning');
       while (Atomics.load(stop, 0) === 0) {
         // Raw numbers this thread opened itself (never one of the main thread's handles).
         const n = fs.openSync('/dev/null', 'r');
         fs.closeSync(n);
         const m = a.memfd(4096);
         a.pwrite(m, new Uint8Array([0xee, 0xee, 0xee, 0xee]), 0);
         const e = a.eventfd(0);
         a.eventfdWrite(e, 1000);
         const n2 = fs.openSync('/dev/null', 'r');
         a.close(m);
         a.close(e);
         fs.closeSync(n2);
         rounds++;
       }
       parentPort.postMessage(rounds);`,
      { eval: true, workerData: { addon: addonPath, halt: halt.buffer } },
    );
    await new Promise((resolve, reject) => (w.once('message', resolve), w.once('error', reject)));
    return {
      async stop() {
        const rounds = new Promise<number>((resolve) => w.once('message', resolve));
        Atomics.store(halt, 0, 1);
        const n = await rounds;
        await w.terminate();
        return n;
      },
    };
  }

  it('every call on a main-thread handle reaches its own file; a closed handle reaches none', async () => {
    const eventfds = [b.eventfd(), b.eventfd(), b.eventfd()];
    const memfds = [0x11, 0x22].map((byte) => {
      const m = (addon.memfd as (size: number) => FdHandle)(4096);
      b.pwrite(m, new Uint8Array(4096).fill(byte), 0);
      return { m, byte };
    });
    const other = b.open(tempFile(64));
    const worker = await churner();
    const rounds = sanitized ? 1000 : 4000; // under ASan a quarter: ~2 s either way
    try {
      for (let k = 0; k < rounds; k++) {
        eventfds.forEach((e, i) => {
          const count = i + 1 + (k % 7);
          b.eventfdWrite(e, count);
          expect(b.eventfdRead(e)).toBe(count);
        });
        for (const { m, byte } of memfds) {
          const ab = b.mmap(m, 0, 4096, 3);
          const first = new Uint8Array(ab)[k % 4096];
          b.munmap(ab);
          if (first !== byte) expect(first, `round ${k}: mmap reached another file`).toBe(byte);
        }
        expect(() => b.ioctl(other, 0x3b64 /* VFIO_GET_API_VERSION */)).toThrow(expect.objectContaining({ code: 'ENOTTY' }));
        // Its number is free now, and the worker's next open takes it: the handle must not follow.
        const gone = b.eventfd();
        b.eventfdWrite(gone, 5);
        b.close(gone);
        expect(() => b.eventfdRead(gone)).toThrow(expect.objectContaining({ code: 'EBADF' }));
        expect(() => b.eventfdWrite(gone, 1)).toThrow(expect.objectContaining({ code: 'EBADF' }));
        expect(() => b.pread(gone, new Uint8Array(4), 0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
      }
    } finally {
      const worked = await worker.stop();
      expect(worked).toBeGreaterThan(0);
      for (const h of [...eventfds, ...memfds.map((x) => x.m), other]) b.close(h);
    }
  }, 60_000);
});

// Issue 12, finding 8: eventfds leaked when a worker was terminated with its poller armed (339
// over 40 terminations). Each worker's poller callback re-signals its own eventfd, so a callback
// is always due when terminate() lands; MakeCallback then fails inside a dying environment. The
// worker also leaves handles of every kind unclosed: their finalizers close them at teardown.
describe('workers terminated with pollers armed and callbacks in flight', () => {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    const a = require(workerData.addon);
    const fd = a.eventfd(0);
    let calls = 0;
    new a.Poller(fd, () => {
      calls++;
      a.eventfdWrite(fd, 1);
      if (calls === 3) parentPort.postMessage('busy');
      if (calls % 7 === 0) throw new Error('a listener that throws');
    });
    const idle = new a.Poller(a.eventfd(0), () => {});
    idle.unref();
    globalThis.leftOpen = [a.eventfd(0), a.memfd(4096), a.open('/dev/null', 0)];
    process.on('uncaughtException', () => {});
    a.eventfdWrite(fd, 1);
  `;
  it('50 times: the process survives and the open fd count is back to its baseline', async () => {
    const before = openFds();
    for (let k = 0; k < 50; k++) {
      const w = new Worker(source, { eval: true, workerData: { addon: addonPath } });
      await new Promise<void>((resolve, reject) => {
        w.once('message', () => resolve());
        w.once('error', reject);
      });
      await new Promise((r) => setTimeout(r, k % 5));
      await w.terminate();
    }
    // Teardown closes each fd from the loop's close callback: give stragglers a moment.
    for (let t = 0; t < 20 && openFds() > before; t++) await new Promise((r) => setTimeout(r, 50));
    expect(openFds()).toBeLessThanOrEqual(before);
  }, 60_000);
});

describe('10k create/release cycles', () => {
  // Each cycle: dmaAlloc + dmaFree, mmap + munmap of a memfd, eventfd + Poller + poller.close().
  // Tolerances, after drainQuarantine and a full GC: fds exact (+2 for the test runner's own
  // threads, which may hold one for a moment); mappings +32 (V8 may keep a few more heap pages
  // mapped after the churn of ~100k short-lived objects); RSS +16 MiB: in this runner the V8 heap
  // and malloc arenas grow by 7-8 MiB over the first 10k cycles after the warm-up and ~3 MiB over
  // the next 10k (plain node with the same loop: flat, 48 to 51 MiB over 80k cycles), while a leak
  // of one 4 KiB page per cycle would be 40 MiB. Under ASan RSS says nothing about the shim (its
  // allocator quarantine holds up to 256 MiB of freed heap): there only fds and mappings count.
  it('RSS, open fds and mappings come back to their baseline', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const native = loadAddon();
    const statmRss = () => Number(readFileSync('/proc/self/statm', 'utf8').split(' ')[1]) * 4096;
    const memfd = native.memfd(4 * 4096);
    const cycles = async (n: number) => {
      for (let i = 0; i < n; i++) {
        native.dmaFree(native.dmaAlloc(4096, 0).buffer);
        native.munmap(native.mmap(memfd, (i % 4) * 4096, 4096, 3));
        const p = new native.Poller(native.eventfd(0), () => {});
        p.close();
        if (i % 256 === 255) await new Promise((r) => setImmediate(r)); // libuv closes the eventfds
      }
      await new Promise((r) => setTimeout(r, 10));
      native.drainQuarantine();
      for (let k = 0; k < 3; k++) gc(), await new Promise((r) => setTimeout(r, 5));
      native.drainQuarantine();
    };
    await cycles(3000); // warm up: what V8 and libuv grow once belongs in the baseline
    const before = { rss: statmRss(), fds: openFds(), maps: mapsLines() };
    await cycles(10_000); // ~1 s, ~3 s under ASan

    const after = { rss: statmRss(), fds: openFds(), maps: mapsLines() };
    native.close(memfd);
    expect(after.fds).toBeLessThanOrEqual(before.fds + 2);
    expect(after.maps).toBeLessThanOrEqual(before.maps + 32);
    if (!sanitized) expect(after.rss).toBeLessThanOrEqual(before.rss + 16 * 2 ** 20);
  }, 60_000);
});

// Issue 12, finding 6: dmaPhysical locks the buffer first; every failure after that must unlock it.
describe('dmaPhysical', () => {
  it('unlocks what it locked when it fails (EPERM without CAP_SYS_ADMIN): VmLck is back to its value before', (ctx) => {
    const script = `
      const a = require(${JSON.stringify(addonPath)});
      const vmlck = () => Number(/VmLck:\\s+(\\d+)/.exec(require('node:fs').readFileSync('/proc/self/status', 'utf8'))[1]);
      const before = vmlck();
      const m = a.dmaAlloc(16 * 4096, 0);
      let code = null;
      try { a.dmaPhysical(m.buffer); } catch (e) { code = e.code; }
      console.log(JSON.stringify({ before, after: vmlck(), code }));
    `;
    // As root (CAP_SYS_ADMIN) pagemap shows frame numbers and the call succeeds: run as nobody.
    const root = process.getuid?.() === 0;
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', ...(root && { uid: 65534, gid: 65534 }) });
    const r = JSON.parse(out.trim().split('\n').pop()!) as { before: number; after: number; code: string | null };
    if (r.code === null) ctx.skip(); // not root, yet allowed to see frame numbers
    expect(r.code).toBe('EPERM');
    expect(r.after).toBe(r.before);
  });
});

describe('async I/O still writing into a view when its memory is released', () => {
  // fs.read and crypto.randomFill hand the view's raw pointer to a threadpool thread; the addon
  // cannot pin it. A released range is kept reserved by a writable placeholder for a while, so
  // the late write lands there: not in the next allocation, and not in a SIGSEGV.
  const native = loadAddon();
  const alloc = (n: number) => native.dmaAlloc(n, 0).buffer;

  it('an fs.read blocked on a FIFO, completed after dmaFree, does not land in the next allocation', async () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const fd = openSync(fifo, 'r+'); // O_RDWR: the open does not wait for a writer
    try {
      const size = 64 * 1024;
      const freed = alloc(size);
      const done = new Promise<number>((resolve, reject) =>
        read(fd, new Uint8Array(freed), 0, size, null, (err, n) => (err ? reject(err) : resolve(n))),
      );
      await new Promise((r) => setTimeout(r, 20)); // let the threadpool block in read(2)
      native.dmaFree(freed);
      expect(freed.byteLength).toBe(0);
      const next = new Uint8Array(alloc(size));
      next.fill(0xaa);
      writeSync(fd, Buffer.alloc(size, 0x55));
      expect(await done).toBe(size);
      expect(next.every((v) => v === 0xaa)).toBe(true);
      native.dmaFree(next.buffer);
    } finally {
      closeSync(fd);
    }
  });

  it('crypto.randomFill on a view freed at once, 300 times: the process survives', async () => {
    for (let i = 0; i < 300; i++) {
      const buf = alloc(1 << 20);
      const done = new Promise<void>((resolve) => randomFill(new Uint8Array(buf), () => resolve()));
      native.dmaFree(buf);
      const other = new Uint8Array(alloc(1 << 20)); // would take the freed range without the placeholder
      await done;
      native.dmaFree(other.buffer);
    }
  });

  it('10k alloc/free cycles: the quarantine stays bounded and drainQuarantine gives the mappings back', () => {
    native.drainQuarantine();
    const before = mapsLines();
    for (let i = 0; i < 10_000; i++) {
      const a = alloc(4096);
      const keep = i % 2 ? alloc(4096) : undefined; // live neighbours, so placeholders cannot all merge
      native.dmaFree(a);
      if (keep) native.dmaFree(keep);
    }
    expect(mapsLines()).toBeLessThan(before + 1024 + 256); // at most 1024 placeholders, plus V8's own
    native.drainQuarantine();
    expect(mapsLines()).toBeLessThan(before + 64);
  });

  it('an fs.read completed after munmap of a device mapping never reaches the device memory', async () => {
    const fifo = join(dir, 'fifo-bar');
    execFileSync('mkfifo', [fifo]);
    const pipe = openSync(fifo, 'r+');
    const mem = native.memfd(4096); // stands in for a BAR
    try {
      const bar = native.mmap(mem, 0, 4096, 3);
      new Uint8Array(bar).fill(1);
      const done = new Promise<number>((resolve, reject) =>
        read(pipe, new Uint8Array(bar), 0, 4096, null, (err, n) => (err ? reject(err) : resolve(n))),
      );
      await new Promise((r) => setTimeout(r, 20));
      native.munmap(bar);
      writeSync(pipe, Buffer.alloc(4096, 0x55));
      expect(await done).toBe(4096);
      const again = new Uint8Array(native.mmap(mem, 0, 4096, 3));
      expect(again.every((v) => v === 1)).toBe(true);
      native.munmap(again.buffer);
    } finally {
      closeSync(pipe);
      native.close(mem);
    }
  });
});

// Issue 12 finding 3 (ioctl double fetch). The kernel side of the race needs a VFIO fd, so the test
// that fails before the fix is in test/conformance/errors.ts ("argsz flipped by another thread"),
// run in the guest. Here, with no VFIO fd, the shim refuses by fd kind before it reads the argument;
// what this shows is only that a struct another thread is rewriting never crashes or confuses it.
describe('ioctl on a SharedArrayBuffer another thread rewrites', () => {
  it('every call ends in the same refusal, and bytes past the view stay untouched', async () => {
    const fd = b.open(tempFile(64));
    const sab = new SharedArrayBuffer(8192);
    const flipper = await flipArgsz(sab);
    try {
      for (let k = 0; k < 2000; k++) {
        let threw: unknown;
        try {
          addon.ioctl!(fd, 0x3b70 /* VFIO_IOMMU_GET_INFO */, new Uint8Array(sab, 0, 16));
        } catch (e) {
          threw = e;
        }
        expect((threw as NodeJS.ErrnoException).code).toBe('ENOTTY');
      }
      expect(new Uint8Array(sab, 16).every((x) => x === 0)).toBe(true);
    } finally {
      await flipper.stop();
      b.close(fd);
    }
  });
});
