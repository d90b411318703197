/** DmaSpace.allocDma's own checks and hints, on the fake kernel (container API). */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { Container, openDevice, type Device } from '../../src/index.js';

const EDU = '0000:00:02.0';
const EDU2 = '0000:00:03.0';
let kernel: FakeKernel;
let dev: Device;

beforeEach(() => {
  kernel = new FakeKernel();
  kernel.addDevice(EDU, new EduModel());
  kernel.addDevice(EDU2, new EduModel());
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

describe('a container whose last group left', () => {
  it('closes with its DMA buffers freed: the kernel dropped the mappings with the IOMMU', () => {
    const c = Container.open(kernel.options);
    const d = c.openDevice(EDU2);
    const b = d.allocDma(4096, { dmaBits: 28 });
    d.group!.close();
    expect(c.groups).toHaveLength(0);
    expect(() => c.close()).not.toThrow();
    expect(b.freed).toBe(true);
  });
});
