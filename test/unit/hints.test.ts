/** Hints say something true and actionable, once. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { VfioError, openDevice, type Device } from '../../src/index.js';
import { VFIO_DEVICE_GET_PCI_HOT_RESET_INFO } from '../../src/uapi/index.js';

const EDU = '0000:00:02.0';
let kernel: FakeKernel;
let dev: Device;

beforeEach(() => {
  kernel = new FakeKernel();
  kernel.addDevice(EDU, new EduModel());
  dev = openDevice(EDU, kernel.options);
});

afterEach(() => {
  dev.close();
  kernel.dispose();
});

function thrown(f: () => unknown): VfioError {
  try {
    f();
  } catch (e) {
    if (e instanceof VfioError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('VfioError', () => {
  it('keeps the hint out of the message; toString() and the stack show it once', () => {
    const e = new VfioError({ code: 'EBUSY', op: 'open /dev/vfio/7', group: 7, message: 'busy', hint: 'close the other user' });
    expect(e.message).toBe('open /dev/vfio/7 (group 7): busy');
    expect(e.hint).toBe('close the other user');
    expect(String(e)).toBe('VfioError: open /dev/vfio/7 (group 7): busy\n  hint: close the other user');
    expect(e.stack!.split('\n').slice(0, 2)).toEqual(['VfioError: open /dev/vfio/7 (group 7): busy', '  hint: close the other user']);
    expect(e.stack!.split('hint:')).toHaveLength(2);
    const plain = new VfioError({ code: 'EIO', op: 'x', message: 'y' });
    expect(String(plain)).toBe('VfioError: x: y');
  });
});

describe('hints', () => {
  it('a freed DmaBuffer says to allocate a new one, not to open it again', () => {
    const b = dev.allocDma(4096, { dmaBits: 28 });
    b.free();
    const e = thrown(() => b.buffer);
    expect(e.code).toBe('ERR_VFIO_CLOSED');
    expect(e.hint).toMatch(/allocDma/);
    expect(e.hint).not.toMatch(/open it again/);
    expect(thrown(() => b.iovaAt(0)).hint).toMatch(/allocDma/);
  });

  it('the unaligned-IOVA hint lists the ranges as they were before the failed request', () => {
    const before = thrown(() => dev.allocDma(4096, { iova: 2 ** 52, hugepages: 'never' })).hint!;
    const ranges = before.replace(/^usable IOVA ranges: /, '');
    const e = thrown(() => dev.allocDma(4096, { iova: 0x10_0800, hugepages: 'never' }));
    expect(e.code).toBe('EINVAL');
    expect(e.hint).toContain(`inside ${ranges}`);
    expect(e.hint).not.toMatch(/0x1007ff|0x101800/);
  });

  it("reset() and hotReset() hints do not send the reader to each other", () => {
    const hot = thrown(() => dev.hotResetInfo());
    expect(hot.code).toBe('ENODEV');
    expect(hot.hint).toMatch(dev.canReset ? /reset\(\) resets it alone/ : /registers/);
    if (!dev.canReset) {
      // With neither reset available, the reset() hint names hotReset and the hotReset hint does not name reset().
      const one = thrown(() => dev.reset());
      expect(one.hint).toMatch(/hotReset\(\)/);
      expect(hot.hint).not.toMatch(/reset\(\) resets/);
    }
  });

  it('the fake names GET_PCI_HOT_RESET_INFO, not PCI_HOT_RESET, in the EINVAL of a short argsz', () => {
    const arg = new Uint8Array(16);
    new DataView(arg.buffer).setUint32(0, 8, true);
    expect(() => kernel.ioctl(dev.file, VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, arg)).toThrow(/EINVAL: VFIO_DEVICE_GET_PCI_HOT_RESET_INFO$/);
  });
});
