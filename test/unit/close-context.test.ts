/** A close() that fails on a shared object (the container) names the device, the group and a hint. */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { VfioError, openDevice } from '../../src/index.js';

const EDU = '0000:00:02.0';
let kernel: FakeKernel;

beforeEach(() => {
  kernel = new FakeKernel();
  kernel.addDevice(EDU, new EduModel());
});

afterEach(() => kernel.dispose());

it('an unmap that fails in Device.close names the device, its group and a hint', () => {
  const dev = openDevice(EDU, kernel.options);
  const group = dev.group!.number;
  dev.allocDma(4096, { dmaBits: 28 });
  const unmap = kernel.dmaUnmap.bind(kernel);
  kernel.dmaUnmap = () => {
    throw Object.assign(new Error('ioctl failed: EINVAL'), { code: 'EINVAL', errno: 22, syscall: 'ioctl' });
  };
  let error: unknown;
  try {
    dev.close();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(VfioError);
  expect(error).toMatchObject({ code: 'EINVAL', op: 'VFIO_IOMMU_UNMAP_DMA (all)', device: EDU, group, hint: expect.stringContaining('whole mappings') });
  kernel.dmaUnmap = unmap;
  dev.context.close();
});
