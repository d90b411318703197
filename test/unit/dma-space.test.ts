/** DmaSpace.allocDma's own checks and hints, on the fake kernel (container API). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { openDevice, type Device } from '../../src/index.js';

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

describe('allocDma with a fixed IOVA', () => {
  it('refuses one beyond dmaBits, naming dmaBits, and maps nothing', () => {
    expect(() => dev.allocDma(4096, { iova: 0x2000_0000, dmaBits: 28 })).toThrow(RangeError);
    expect(() => dev.allocDma(4096, { iova: 0x2000_0000, dmaBits: 28 })).toThrow(/dmaBits 28/);
    expect(() => dev.allocDma(8192, { iova: 0x0fff_f000, dmaBits: 28, hugepages: 'never' })).toThrow(/dmaBits/);
    expect(dev.context.dmaBuffers).toHaveLength(0);
  });

  it('takes one that ends at the limit', () => {
    const b = dev.allocDma(4096, { iova: 0x0fff_f000, dmaBits: 28, hugepages: 'never' });
    expect(b.iova).toBe(0x0fff_f000);
  });
});
