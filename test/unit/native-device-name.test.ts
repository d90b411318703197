/**
 * VFIO_GROUP_GET_DEVICE_FD's name as the shim lets it through (native/file.cc CheckDeviceName)
 * and the fake kernel alike (backend/args.ts argDeviceName): a device name of 1 to 64 printable
 * characters without spaces, or it and exactly ' vf_token=<UUID>'. Everything else is a
 * TypeError with the same message on both, before the kernel's own parser sees it.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { nativeBackend } from '../../src/backend/native.js';
import { FakeKernel } from '../../src/backend/fake/index.js';

const T = 'bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3';
const GOOD = ['0000:00:03.0', `0000:00:03.0 vf_token=${T}`, `0000:00:03.0 vf_token=${T.toUpperCase()}`, 'x'.repeat(64), 'platform-dev.0'];
const BAD = [
  '',
  ' 0000:00:03.0',
  '0000:00:03.0 ',
  `0000:00:03.0  vf_token=${T}`,
  `0000:00:03.0 vf_token=${T} `,
  `0000:00:03.0 vf_token=${T}0`,
  `0000:00:03.0 vf_token=${T.slice(0, 35)}`,
  `0000:00:03.0 vf_token=${T.replace(/-/g, '')}`,
  `0000:00:03.0 vf_token=${T.replace('a', 'g')}`,
  `0000:00:03.0 vf_token=${T} vf_token=${T}`,
  '0000:00:03.0 other=1',
  '0000:00:03.0\tvf_token=x',
  'x'.repeat(65),
  'caf\u00e9',
];

describe('groupDeviceFd: the name format', () => {
  const b = nativeBackend();
  const dir = mkdtempSync(join(tmpdir(), 'vfio-name-'));
  writeFileSync(join(dir, 'f'), '');

  it.each(GOOD)('passes %j on to the ioctl (ENOTTY on a file that is no group)', (name) => {
    const f = b.open(join(dir, 'f'));
    try {
      expect(() => b.groupDeviceFd(f, name)).toThrow(expect.objectContaining({ code: 'ENOTTY' }));
    } finally {
      b.close(f);
    }
  });

  it.each(BAD)('refuses %j with a TypeError, native and fake alike', (name) => {
    const f = b.open(join(dir, 'f'));
    let nativeError: unknown;
    try {
      b.groupDeviceFd(f, name);
    } catch (e) {
      nativeError = e;
    } finally {
      b.close(f);
    }
    expect(nativeError).toBeInstanceOf(TypeError);
    const k = new FakeKernel();
    const c = k.open(join(k.root, 'dev/vfio/vfio'));
    try {
      expect(() => k.groupDeviceFd(c, name)).toThrow(new TypeError((nativeError as TypeError).message));
    } finally {
      k.close(c);
      k.dispose();
    }
  });
});
