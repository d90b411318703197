/**
 * The checks the native shim and the fake kernel make before they need to know
 * what an fd is (request numbers, fd arguments, freed buffers), run against both
 * side by side: a malformed call must meet the same error type and message on
 * either. Checks on a real container or group fd: test/conformance/arguments.ts.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend, FdHandle } from '../../src/backend/backend.js';
import { nativeBackend } from '../../src/backend/native.js';
import { VFIO_GET_API_VERSION } from '../../src/uapi/ioctl.js';
import { fakeTarget } from '../conformance/fake-target.js';
import { detachedViews, refused } from '../conformance/refused.js';

const fake = fakeTarget();
afterAll(() => fake.kernel.dispose());
const file = join(mkdtempSync(join(tmpdir(), 'vfio-allowlist-')), 'f');
writeFileSync(file, Buffer.alloc(64));

const backends: [string, Backend, () => FdHandle][] = [
  ['native', nativeBackend(), () => nativeBackend().open(file)],
  ['fake', fake.kernel, () => fake.kernel.open(fake.target.containerPath)],
];

describe.each(backends)('argument checks on the %s backend', (_name, b, open) => {
  // Calls as hostile JS would, with arguments the types forbid.
  const call = (f: (...a: never[]) => unknown, ...args: unknown[]) => () => (f as (...a: unknown[]) => unknown).apply(b, args);

  it('takes a request number only as an integer in [0, 2^32), never truncated', () => {
    const fd = open();
    for (const v of [VFIO_GET_API_VERSION + 0.5, 1.5, -1, 2 ** 32, NaN, Infinity])
      refused(call(b.ioctl, fd, v), RangeError, `ioctl: request must be an integer in [0, 2^32), got ${v}`);
    for (const v of ['15204', BigInt(VFIO_GET_API_VERSION), undefined]) refused(call(b.ioctl, fd, v), TypeError, 'ioctl: request must be a number');
    b.close(fd);
  });

  it('names the way around for a request not on the allow-list', () => {
    const fd = open();
    const msg = (n: number) =>
      `ioctl: request 0x${n.toString(16)} is not on the allow-list (DMA map/unmap go through dmaMap/dmaUnmap, ioasMap/ioasUnmap; GET_DEVICE_FD through groupDeviceFd; BIND_IOMMUFD through bindIommufd)`;
    for (const n of [0, 0x5401 /* TCGETS */, 0xffffffff]) refused(call(b.ioctl, fd, n), RangeError, msg(n));
    b.close(fd);
  });

  it('reports a closed handle as EBADF from ioctl', () => {
    const fd = open();
    b.close(fd);
    expect(call(b.ioctl, fd, VFIO_GET_API_VERSION)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'ioctl' }));
  });

  it('takes no fd number, nor anything else that is not its own handle, for a file', () => {
    for (const v of [3, 1.5, -1, 2 ** 31, NaN, 3n, '3', {}, { fd: 3 }, null, undefined]) {
      expect(call(b.close, v), String(v)).toThrow(TypeError);
      expect(call(b.ioctl, v, VFIO_GET_API_VERSION), String(v)).toThrow(TypeError);
    }
    // Both backends word the refusal alike.
    refused(call(b.close, 3), TypeError, 'close: argument 1 must be a handle from open(), groupDeviceFd() or eventfd() of this backend (fd numbers are not accepted)');
    refused(call(b.ioctl, { fd: 3 }, VFIO_GET_API_VERSION), TypeError, 'ioctl: argument 1 must be a handle from open(), groupDeviceFd() or eventfd() of this backend');
  });

  it('refuses a detached (freed) buffer, whatever the view', () => {
    const fd = open();
    for (const view of detachedViews()) {
      refused(call(b.pread, fd, view, 0), TypeError, 'pread: target is backed by a detached (freed) buffer');
      refused(call(b.pwrite, fd, view, 0), TypeError, 'pwrite: source is backed by a detached (freed) buffer');
    }
    // Empty is not freed: an empty buffer gets whatever the call does with no bytes.
    for (const view of [new Uint8Array(0), Buffer.alloc(0), new DataView(new ArrayBuffer(0))])
      expect(call(b.pread, fd, view, 0)).not.toThrow(TypeError);
    b.close(fd);
  });
});
