/**
 * The allow-list's argument checks on a real container and group fd: the native
 * shim (guest) and the fake kernel (host) must refuse the same malformed calls
 * with the same error type and message, before anything reaches the kernel.
 * Checks that need no VFIO fd run on the host against both: test/unit/allowlist.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as io from '../../src/uapi/ioctl.js';
import { encodeGroupStatusQuery } from '../../src/uapi/vfio-group.js';
import type { FdHandle } from '../../src/index.js';
import type { Target } from './target.js';
import { Held, errno } from './held.js';

/** How both backends refuse a file argument that is not one of their handles. */
const NOT_A_HANDLE = 'must be a handle from open(), groupDeviceFd() or eventfd() of this backend';
import { detachedViews, refused } from './refused.js';

export function argumentSuite(t: Target): void {
  describe('ioctl argument checks', () => argumentTests(t));
}

function argumentTests(t: Target): void {
  const b = t.backend;
  const fds = new Held(b);
  afterEach(() => fds.releaseAll());
  const container = () => fds.fd(b.open(t.containerPath));
  const group = () => fds.fd(b.open(t.groupPath(t.eduGroup)));
  const ioctl = (fd: FdHandle, request: number, arg: unknown) => () => b.ioctl(fd, request, arg as number);

  it('takes a container fd for VFIO_GROUP_SET_CONTAINER as a handle or a number', () => {
    const c = container();
    const g = group();
    const name = 'VFIO_GROUP_SET_CONTAINER';
    refused(ioctl(g, io.VFIO_GROUP_SET_CONTAINER, BigInt(c.fd)), TypeError, `${name}: argument 3 (fd) must be a number`);
    refused(ioctl(g, io.VFIO_GROUP_SET_CONTAINER, String(c.fd)), TypeError, `${name}: argument 3 (fd) must be a number`);
    refused(ioctl(g, io.VFIO_GROUP_SET_CONTAINER, undefined), TypeError, `${name}: argument 3 (fd) must be a number`);
    for (const v of [c.fd + 0.5, -1, 2 ** 31, NaN])
      refused(ioctl(g, io.VFIO_GROUP_SET_CONTAINER, v), RangeError, `${name}: fd must be an integer in [0, 2^31), got ${v}`);
    // An object that is not one of this backend's handles is not an fd either.
    refused(ioctl(g, io.VFIO_GROUP_SET_CONTAINER, { fd: c.fd }), TypeError, `${name}: argument 3 ${NOT_A_HANDLE}`);
    expect(b.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c)).toBe(0);
    b.ioctl(g, io.VFIO_GROUP_UNSET_CONTAINER);
    expect(b.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c.fd)).toBe(0);
  });

  it('takes files as handles of its own: numbers, look-alikes and closed handles are refused', () => {
    const c = container();
    const forged = { fd: c.fd, kind: 'container', closed: false } as FdHandle;
    for (const [what, call] of [
      ['ioctl', () => b.ioctl(c.fd as unknown as FdHandle, io.VFIO_GET_API_VERSION)],
      ['ioctl', () => b.ioctl(forged, io.VFIO_GET_API_VERSION)],
      ['close', () => b.close(forged)],
      ['dmaUnmap', () => b.dmaUnmap(forged, 0n, 4096n, 0)],
      ['pread', () => b.pread(forged, new Uint8Array(4), 0)],
      ['eventfdRead', () => b.eventfdRead(forged)],
    ] as const)
      expect(call, what).toThrow(TypeError);
    expect(() => b.ioctl(c.fd as unknown as FdHandle, io.VFIO_GET_API_VERSION)).toThrow(`ioctl: argument 1 ${NOT_A_HANDLE} (fd numbers are not accepted)`);
    expect(() => b.ioctl(forged, io.VFIO_GET_API_VERSION)).toThrow(`ioctl: argument 1 ${NOT_A_HANDLE}`);
    expect(c.kind).toBe('container');
    const fd = c.fd;
    expect(fd).toBeGreaterThanOrEqual(0);
    fds.close(c);
    expect(c.closed).toBe(true);
    expect(c.fd).toBe(-1);
    errno(() => b.ioctl(c, io.VFIO_GET_API_VERSION), 'EBADF');
    errno(() => b.dmaUnmap(c, 0n, 4096n, 0), 'EBADF');
    errno(() => b.close(c), 'EBADF');
  });

  it('records what a file is when it is opened', () => {
    const g = group();
    expect(g.kind).toBe('group');
    const e = fds.fd(b.eventfd());
    expect(e.kind).toBe('eventfd');
    // The kind decides: a container request on a group is ENOTTY, as the kernel would answer.
    errno(() => b.ioctl(g, io.VFIO_GET_API_VERSION), 'ENOTTY');
    expect(() => b.ioctl(g, io.VFIO_GET_API_VERSION)).toThrow('request not valid on a VFIO group');
    errno(() => b.dmaUnmap(g, 0n, 4096n, 0), 'ENOTTY');
    expect(() => b.dmaUnmap(g, 0n, 4096n, 0)).toThrow('VFIO_IOMMU_UNMAP_DMA: the handle is a VFIO group, not a VFIO container');
    errno(() => b.eventfdRead(g), 'EINVAL');
    errno(() => b.groupDeviceFd(e, t.eduAddress), 'ENOTTY');
  });

  it('lets an armed poller own its eventfd: close(handle) is EBUSY, poller.close() closes it', () => {
    const e = fds.fd(b.eventfd());
    const p = b.poll(e, () => {});
    errno(() => b.close(e), 'EBUSY');
    expect(e.closed).toBe(false);
    p.close();
    expect(e.closed).toBe(true);
    expect(e.fd).toBe(-1);
    errno(() => b.eventfdRead(e), 'EBADF');
    // A poll that fails leaves the handle with its owner.
    const f = fds.fd(b.eventfd());
    expect(() => b.poll(f, 'no callback' as never)).toThrow(TypeError);
    expect(f.closed).toBe(false);
    b.eventfdWrite(f, 3);
    expect(b.eventfdRead(f)).toBe(3);
  });

  it('takes a value argument as a safe integer or a BigInt below 2^64', () => {
    const c = container();
    const name = 'VFIO_CHECK_EXTENSION';
    for (const v of [1.5, -1, 2 ** 53, Infinity])
      refused(ioctl(c, io.VFIO_CHECK_EXTENSION, v), RangeError, `${name}: argument must be a non-negative safe integer (or a BigInt), got ${v}`);
    for (const v of [-1n, 2n ** 64n]) refused(ioctl(c, io.VFIO_CHECK_EXTENSION, v), RangeError, `${name}: argument must be a BigInt in [0, 2^64)`);
    for (const v of ['3', undefined]) refused(ioctl(c, io.VFIO_CHECK_EXTENSION, v), TypeError, `${name}: argument must be a number or a BigInt`);
    expect(b.ioctl(c, io.VFIO_CHECK_EXTENSION, BigInt(io.VFIO_TYPE1v2_IOMMU) as unknown as number)).toBe(1);
  });

  // The kernel reads count group fds after the fixed part without checking them against argsz.
  it('refuses a VFIO_DEVICE_PCI_HOT_RESET whose group fds run past argsz', () => {
    const c = container();
    const g = group();
    b.ioctl(g, io.VFIO_GROUP_SET_CONTAINER, c);
    b.ioctl(c, io.VFIO_SET_IOMMU, t.mode === 'noiommu' ? io.VFIO_NOIOMMU_IOMMU : io.VFIO_TYPE1v2_IOMMU);
    const d = fds.fd(b.groupDeviceFd(g, t.eduAddress));
    const name = 'VFIO_DEVICE_PCI_HOT_RESET';
    const req = (argsz: number, count: number, length = argsz) => {
      const bytes = new Uint8Array(length);
      const v = new DataView(bytes.buffer);
      v.setUint32(0, argsz, true);
      v.setUint32(8, count, true);
      return bytes;
    };
    refused(ioctl(d, io.VFIO_DEVICE_PCI_HOT_RESET, req(12, 1)), RangeError, `${name}: 1 element(s) of 4 bytes at 12 run past argsz 12`);
    refused(ioctl(d, io.VFIO_DEVICE_PCI_HOT_RESET, req(16, 0x40000000, 64)), RangeError, `${name}: 1073741824 element(s) of 4 bytes at 12 run past argsz 16`);
    // The device was handed out as a handle of kind 'device': the MAP_DMA/UNMAP_DMA numbers
    // (PCI_HOT_RESET's on a device) never reach it.
    expect(d.kind).toBe('device');
    const mem = fds.mem(4096);
    errno(() => b.dmaMap(d, mem, 0, 4096, 0x100000n, 3), 'ENOTTY');
    errno(() => b.dmaUnmap(d, 0x100000n, 4096n, 0), 'ENOTTY');
  });

  it('refuses a struct in a detached (freed) buffer, whatever the view', () => {
    const g = group();
    for (const view of detachedViews())
      refused(ioctl(g, io.VFIO_GROUP_GET_STATUS, view), TypeError, 'VFIO_GROUP_GET_STATUS: argument is backed by a detached (freed) buffer');
    expect(b.ioctl(g, io.VFIO_GROUP_GET_STATUS, encodeGroupStatusQuery())).toBe(0);
  });

  it('refuses a request number that is not an integer instead of truncating it', () => {
    const c = container();
    const v = io.VFIO_GET_API_VERSION + 0.5;
    refused(ioctl(c, v, undefined), RangeError, `ioctl: request must be an integer in [0, 2^32), got ${v}`);
    expect(b.ioctl(c, io.VFIO_GET_API_VERSION, undefined as unknown as number)).toBe(io.VFIO_API_VERSION);
  });
}
