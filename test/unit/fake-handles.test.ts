/**
 * The fake kernel's FdHandles at the raw Backend level: which values a call accepts as its
 * file, close exactly once, who owns a polled eventfd, what closing a container or iommufd
 * does to its mappings, cut refusal of the unmap calls, and a handle nobody closed.
 */
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import type { FdHandle } from '../../src/backend/backend.js';
import { errno } from '../conformance/held.js';
import { Dmaer } from './fixtures/dmaer.js';
import * as io from '../../src/uapi/ioctl.js';
import { IOMMU_IOAS_ALLOC, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE, iommuIoasAlloc } from '../../src/uapi/iommufd.js';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../src/uapi/vfio-iommu.js';

const EDU = '0000:00:02.0';
const RW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;

let k: FakeKernel;
let dmaer: Dmaer;
beforeEach(() => {
  k = new FakeKernel({ iommufd: true });
  dmaer = new Dmaer();
  k.addDevice(EDU, dmaer, { group: 0 });
});
afterEach(() => k.dispose());

const container = () => k.open(join(k.root, 'dev/vfio/vfio'));
/** Container with type1 (v2 unless told), group 0 in it, and the device: [container, group, device]. */
function openLegacy(type = io.VFIO_TYPE1v2_IOMMU): [FdHandle, FdHandle, FdHandle] {
  const c = container();
  const g = k.open(join(k.root, 'dev/vfio/0'));
  k.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c);
  k.ioctl(c, io.VFIO_SET_IOMMU, type);
  return [c, g, k.groupDeviceFd(g, EDU)];
}
const busMaster = (dev: FdHandle) => k.pwrite(dev, new Uint8Array(new Uint16Array([0x6]).buffer), 7 * 2 ** 40 + 4);
function iommufdWithIoas(): [FdHandle, number] {
  const fd = k.open(join(k.root, 'dev/iommu'));
  const q = iommuIoasAlloc.encode({ size: 12 });
  k.ioctl(fd, IOMMU_IOAS_ALLOC, q);
  return [fd, iommuIoasAlloc.decode(q).out_ioas_id];
}

/** Every Backend call that reaches a file, called with `h` as that file. */
function entryPoints(h: unknown): [string, () => unknown][] {
  const f = h as FdHandle;
  const buffer = k.dmaAlloc(4096, 'never').buffer;
  return [
    ['close', () => k.close(f)],
    ['ioctl', () => k.ioctl(f, io.VFIO_GET_API_VERSION)],
    ['groupDeviceFd', () => k.groupDeviceFd(f, EDU)],
    ['bindIommufd', () => k.bindIommufd(f, f)],
    ['pread', () => k.pread(f, new Uint8Array(4), 0)],
    ['pwrite', () => k.pwrite(f, new Uint8Array(4), 0)],
    ['mmap', () => k.mmap(f, 0, 4096, 3)],
    ['dmaMap', () => k.dmaMap(f, buffer, 0, 4096, 0x100000n, 3)],
    ['dmaUnmap', () => k.dmaUnmap(f, 0x100000n, 4096n, 0)],
    ['ioasMap', () => k.ioasMap(f, 1, buffer, 0, 4096, 0x100000n, RW)],
    ['ioasUnmap', () => k.ioasUnmap(f, 1, 0x100000n, 4096n)],
    ['ioasIovaRanges', () => k.ioasIovaRanges(f, 1)],
    ['eventfdWrite', () => k.eventfdWrite(f, 1)],
    ['eventfdRead', () => k.eventfdRead(f)],
    ['Poller', () => k.poll(f, () => {})],
  ];
}

describe('fake kernel: what a call takes as its file', () => {
  it('open, groupDeviceFd and eventfd return handles of the kind opened, which close() closes once', () => {
    const [c, g, dev] = openLegacy();
    const [fd] = iommufdWithIoas();
    const efd = k.eventfd();
    expect([c.kind, g.kind, dev.kind, fd.kind, efd.kind]).toEqual(['container', 'group', 'device', 'iommufd', 'eventfd']);
    expect(new Set([c.fd, g.fd, dev.fd, fd.fd, efd.fd]).size).toBe(5);
    expect(k.openFds).toBe(5);
    for (const h of [dev, g, c, fd, efd]) {
      expect(h.closed).toBe(false);
      k.close(h);
      expect(h.closed).toBe(true);
      expect(h.fd).toBe(-1);
      expect(() => k.close(h)).toThrow('close failed: EBADF: the handle is closed');
    }
    expect(k.openFds).toBe(0);
  });

  it.each([
    ['a number', 100, ' (fd numbers are not accepted)'],
    ['a plain object with an fd', { fd: 100, kind: 'container', closed: false }, ''],
    ['null', null, ''],
  ])('every entry point refuses %s with a TypeError naming the call and the argument', (_, value, why) => {
    container(); // fd 100 is open: a number naming it still does not pass
    for (const [fn, call] of entryPoints(value))
      expect(call, fn).toThrow(new TypeError(`${fn}: argument 1 must be a handle from open(), groupDeviceFd() or eventfd() of this backend${why}`));
  });

  it("every entry point refuses another kernel's handle, though its fd number is open here", () => {
    const other = new FakeKernel();
    try {
      const theirs = other.open(join(other.root, 'dev/vfio/vfio'));
      const ours = container();
      expect(ours.fd).toBe(theirs.fd);
      for (const [fn, call] of entryPoints(theirs)) expect(call, fn).toThrow(TypeError);
      expect(theirs.closed).toBe(false);
    } finally {
      other.dispose();
    }
  });

  it('every entry point fails with EBADF on a closed handle', () => {
    for (const make of [container, () => k.eventfd()]) {
      const h = make();
      k.close(h);
      for (const [fn, call] of entryPoints(h)) {
        errno(call, 'EBADF');
        expect(call, fn).toThrow('the handle is closed');
      }
    }
  });

  it('SET_CONTAINER takes the container as a handle (or its number); a foreign or closed one is refused', () => {
    const c = container();
    const g = k.open(join(k.root, 'dev/vfio/0'));
    expect(() => k.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, { fd: c.fd } as unknown as FdHandle)).toThrow(
      'VFIO_GROUP_SET_CONTAINER: argument 3 must be a handle from open(), groupDeviceFd() or eventfd() of this backend',
    );
    const c2 = container();
    k.close(c2);
    errno(() => k.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c2), 'EBADF');
    k.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c);
    k.ioctl(g, io.VFIO_GROUP_UNSET_CONTAINER);
    k.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c.fd);
  });

  it('groupDeviceFd wants a group (ENOTTY otherwise) and a name without NUL; GET_DEVICE_FD is not an ioctl', () => {
    const [c, g] = openLegacy();
    errno(() => k.groupDeviceFd(c, EDU), 'ENOTTY');
    expect(() => k.groupDeviceFd(g, 5 as unknown as string)).toThrow(new TypeError('groupDeviceFd: name must be a string'));
    expect(() => k.groupDeviceFd(g, `${EDU}\0x`)).toThrow(new TypeError('groupDeviceFd: name contains a NUL byte'));
    errno(() => k.groupDeviceFd(g, '0000:00:09.0'), 'ENODEV');
    expect(() => k.ioctl(g, io.VFIO_GROUP_GET_DEVICE_FD, EDU)).toThrow(RangeError);
    // Two opens of one device through its group are two files.
    const a = k.groupDeviceFd(g, EDU);
    const b = k.groupDeviceFd(g, EDU);
    expect(a.fd).not.toBe(b.fd);
  });
});

describe('fake kernel: polled eventfds', () => {
  it('an armed poller owns its eventfd: close() is EBUSY, poller.close() closes the handle', () => {
    const efd = k.eventfd();
    const poller = k.poll(efd, () => {});
    expect(() => k.close(efd)).toThrow('close failed: EBUSY: an armed poller owns this eventfd; close the poller');
    errno(() => k.poll(efd, () => {}), 'EBUSY');
    expect(efd.closed).toBe(false);
    poller.close();
    expect(poller.closed).toBe(true);
    expect(efd.closed).toBe(true);
    expect(efd.fd).toBe(-1);
    expect(k.openFds).toBe(0);
    poller.close(); // idempotent
    errno(() => k.close(efd), 'EBADF');
  });

  it('a failed poll() leaves the handle open', () => {
    const efd = k.eventfd();
    expect(() => k.poll(efd, 'no' as unknown as () => void)).toThrow(TypeError);
    errno(() => k.poll(container(), () => {}), 'EINVAL');
    expect(efd.closed).toBe(false);
    k.eventfdWrite(efd, 2);
    expect(k.eventfdRead(efd)).toBe(2);
    k.close(efd);
  });
});

describe('fake kernel: closing a container or iommufd unmaps what was mapped through it', () => {
  it('a container: dmaFree succeeds after close while a group still holds the container', () => {
    const [c, g, dev] = openLegacy();
    const { buffer } = k.dmaAlloc(2 * 4096, 'never');
    k.dmaMap(c, buffer, 0, 4096, 0x100000n, 3);
    k.dmaMap(c, buffer, 4096, 4096, 0x200000n, 3);
    busMaster(dev);
    expect(dmaer.bus.dmaWrite(0x100000, new Uint8Array([1]))).toBe(true);
    errno(() => k.dmaFree(buffer), 'EBUSY');
    k.close(c);
    expect(k.lockedBytes).toBe(0);
    k.dmaFree(buffer);
    // The group and device keep the container and its IOMMU, now with nothing mapped.
    expect(dmaer.bus.dmaWrite(0x100000, new Uint8Array([1]))).toBe(false);
    expect(k.faults.at(-1)).toMatchObject({ iova: 0x100000, reason: 'not mapped' });
    const s = new Uint8Array(8);
    new DataView(s.buffer).setUint32(0, 8, true);
    k.ioctl(g, io.VFIO_GROUP_GET_STATUS, s);
    expect(new DataView(s.buffer).getUint32(4, true) & 2).toBe(2); // CONTAINER_SET
    k.close(dev);
    k.close(g);
  });

  it('an iommufd: every area of every IOAS goes, so the memory can be freed', () => {
    const [fd, ioas] = iommufdWithIoas();
    const q = iommuIoasAlloc.encode({ size: 12 });
    k.ioctl(fd, IOMMU_IOAS_ALLOC, q);
    const other = iommuIoasAlloc.decode(q).out_ioas_id;
    const { buffer } = k.dmaAlloc(2 * 4096, 'never');
    k.ioasMap(fd, ioas, buffer, 0, 4096, 0x100000n, RW);
    k.ioasMap(fd, other, buffer, 4096, 4096, 0x100000n, RW);
    errno(() => k.dmaFree(buffer), 'EBUSY');
    k.close(fd);
    k.dmaFree(buffer);
  });
});

describe('fake kernel: unmap calls refuse a range that cuts a mapping', () => {
  it.each([
    ['type1v2', io.VFIO_TYPE1v2_IOMMU],
    ['type1, which would unmap the whole mapping', io.VFIO_TYPE1_IOMMU],
  ])('dmaUnmap on %s: EINVAL, nothing unmapped; whole mappings and UNMAP_ALL go through', (_, type) => {
    const [c] = openLegacy(type);
    const { buffer } = k.dmaAlloc(3 * 4096, 'never');
    k.dmaMap(c, buffer, 0, 4096, 0x100000n, 3);
    k.dmaMap(c, buffer, 4096, 8192, 0x101000n, 3);
    const cut = 'VFIO_IOMMU_UNMAP_DMA: the range cuts the mapping at 0x101000 (0x2000 bytes); unmap whole mappings';
    errno(() => k.dmaUnmap(c, 0x100000n, 0x2000n, 0), 'EINVAL');
    expect(() => k.dmaUnmap(c, 0x100000n, 0x2000n, 0)).toThrow(`ioctl failed: EINVAL: ${cut}`);
    expect(() => k.dmaUnmap(c, 0x102000n, 0x1000n, 0)).toThrow(cut);
    expect(() => k.dmaUnmap(c, 0xff000n, 0x3000n, 0)).toThrow(cut);
    expect(k.lockedBytes).toBe(3 * 4096);
    expect(k.dmaUnmap(c, 0xff000n, 0x2000n, 0)).toBe(4096n);
    k.dmaMap(c, buffer, 0, 4096, 0x100000n, 3);
    expect(k.dmaUnmap(c, 0n, 0n, VFIO_DMA_UNMAP_FLAG_ALL)).toBe(3n * 4096n);
    k.dmaFree(buffer);
  });

  it('ioasUnmap: ENOENT, nothing unmapped; the unmap-all form goes through', () => {
    const [fd, ioas] = iommufdWithIoas();
    const { buffer } = k.dmaAlloc(2 * 4096, 'never');
    k.ioasMap(fd, ioas, buffer, 0, 8192, 0x100000n, RW);
    expect(() => k.ioasUnmap(fd, ioas, 0x101000n, 0x1000n)).toThrow(
      'ioctl failed: ENOENT: IOMMU_IOAS_UNMAP: the range cuts the mapping at 0x100000 (0x2000 bytes); unmap whole mappings',
    );
    errno(() => k.dmaFree(buffer), 'EBUSY');
    expect(k.ioasUnmap(fd, ioas, 0n, (1n << 64n) - 1n)).toBe(8192n);
    k.dmaFree(buffer);
  });
});

describe('fake kernel: a handle nobody closed', () => {
  // Collection is forced, and waited for a few rounds: a FinalizationRegistry callback runs
  // in a later task, not at gc() itself.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const collect = async (done: () => boolean) => {
    for (let i = 0; i < 50 && !done(); i++) {
      gc();
      await new Promise((r) => setTimeout(r, 5));
    }
  };

  it('closes its fd when collected, unmapping what was mapped through it', async () => {
    const { buffer } = k.dmaAlloc(4096, 'never');
    (() => {
      const [c] = openLegacy();
      k.dmaMap(c, buffer, 0, 4096, 0x100000n, 3);
      k.eventfd();
    })();
    expect(k.openFds).toBe(4);
    // The group and device handles are unreachable too: all four go.
    await collect(() => k.openFds === 0);
    expect(k.openFds).toBe(0);
    k.dmaFree(buffer);
  });
});
