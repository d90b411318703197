/**
 * Backend.bindIommufd's own checks, the same on both backends, made before any kernel sees the
 * call: two handles (a device, then an iommufd) and the VF token, a view of exactly 16 bytes. On
 * the host the native backend has no VFIO file, so its refusal of a second argument that is no
 * iommufd (EBADFD, which needs a device handle first) is checked on the fake here and on both
 * kernels by test/conformance/iommufd.ts. CI runs this file under ASan/UBSan too.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadAddon, nativeBackend } from '../../src/backend/native.js';
import type { Backend, FdHandle } from '../../src/backend/backend.js';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { errno } from '../conformance/held.js';
import { detachedViews, refused } from '../conformance/refused.js';

const EDU = '0000:00:02.0';
const NOT_A_HANDLE = 'must be a handle from open(), groupDeviceFd() or eventfd() of this backend';
const native = nativeBackend();
const memfd = (size: number) => loadAddon().memfd(size);
const fake = new FakeKernel({ iommufd: true });
fake.addDevice(EDU, new EduModel());
afterAll(() => fake.dispose());

/** Each backend with a maker of its handles that are neither device nor iommufd, for the checks before the kinds. */
const backends: [string, Backend, () => FdHandle][] = [
  ['native', native, () => memfd(4096)],
  ['fake', fake, () => fake.open(join(fake.root, 'dev/vfio/vfio'))],
];

describe.each(backends)('%s: bindIommufd before the kernel', (_name, k, other) => {
  it('takes handles only: a TypeError naming the argument, EBADF for a closed one', () => {
    const h = other();
    for (const v of [3, { fd: h.fd }, null, undefined]) {
      const why = typeof v === 'number' ? ' (fd numbers are not accepted)' : '';
      refused(() => k.bindIommufd(v as unknown as FdHandle, h), TypeError, `bindIommufd: argument 1 ${NOT_A_HANDLE}${why}`);
      refused(() => k.bindIommufd(h, v as unknown as FdHandle), TypeError, `bindIommufd: argument 2 ${NOT_A_HANDLE}${why}`);
    }
    const gone = other();
    k.close(gone);
    errno(() => k.bindIommufd(gone, h), 'EBADF');
    errno(() => k.bindIommufd(h, gone), 'EBADF');
    k.close(h);
  });

  it('takes a token of exactly 16 bytes, as any view; anything else is refused before the kinds are', () => {
    const h = other();
    for (const v of ['bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3', 16, null, [1, 2], new ArrayBuffer(16)])
      refused(() => k.bindIommufd(h, h, v as unknown as Uint8Array), TypeError, 'bindIommufd: token must be a Buffer, TypedArray or DataView');
    for (const n of [0, 15, 17, 24])
      refused(() => k.bindIommufd(h, h, new Uint8Array(n)), RangeError, `bindIommufd: token must be 16 bytes (a uuid_t), got ${n}`);
    for (const v of detachedViews()) refused(() => k.bindIommufd(h, h, v as Uint8Array), TypeError, 'bindIommufd: token is backed by a detached (freed) buffer');
    // Past the token, the first argument is no device: ENOTTY, whatever shape the 16 bytes had.
    const tokens = [undefined, new Uint8Array(16), new Uint32Array(4), new DataView(new ArrayBuffer(32), 8, 16), new Uint8Array(new SharedArrayBuffer(16))];
    for (const t of tokens) errno(() => k.bindIommufd(h, h, t as Uint8Array), 'ENOTTY');
    expect(() => k.bindIommufd(h, h)).toThrow(/VFIO_DEVICE_BIND_IOMMUFD: the handle is .*, not a VFIO device/);
    k.close(h);
  });
});

describe('fake: bindIommufd on a device cdev', () => {
  it('refuses a second argument that is no iommufd with EBADFD (errno 77, as the shim reports it)', () => {
    const dir = join(fake.root, 'sys/bus/pci/devices', EDU, 'vfio-dev');
    const cdev = fake.open(join(fake.root, 'dev/vfio/devices', readdirSync(dir)[0]!));
    const efd = fake.eventfd();
    expect(() => fake.bindIommufd(cdev, efd)).toThrow(expect.objectContaining({ code: 'EBADFD', errno: -77, message: expect.stringMatching(/argument 2 is an eventfd, not an iommufd/) }));
    fake.close(efd);
    fake.close(cdev);
  });
});
