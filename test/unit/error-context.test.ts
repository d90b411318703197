/** Errors that reach the user from shared objects and from the event loop name their device, their group or vector, and a hint. */
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

it("a poll failure reaches the vector's 'error' as a VfioError naming the vector, the device and a hint", () => {
  const callbacks: ((err: Error | null, count: number) => void)[] = [];
  const poll = kernel.poll.bind(kernel);
  kernel.poll = (fd, cb) => {
    callbacks.push(cb);
    return poll(fd, cb);
  };
  const dev = openDevice(EDU, kernel.options);
  const irqs = dev.enableInterrupts('msi');
  const errors: unknown[] = [];
  irqs.vector.on('error', (e) => errors.push(e));
  const fail = Object.assign(new Error('eventfd poll failed: EBADF'), { code: 'EBADF', errno: 9 });
  callbacks.at(-1)!(fail, 0);
  expect(errors[0]).toBeInstanceOf(VfioError);
  expect(errors[0]).toMatchObject({ code: 'EBADF', op: 'poll eventfd (vector 0)', device: EDU, hint: expect.stringContaining('disable()'), cause: fail });
  // Not an errno: still a VfioError.
  callbacks.at(-1)!(new Error('odd'), 0);
  expect(errors[1]).toMatchObject({ code: 'ERR_VFIO_POLL', device: EDU });
  // The device's own notifiers turn theirs into a warning instead of an uncaught 'error'.
  const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
  callbacks[0]!(fail, 0);
  return warned.then((w) => {
    expect(w).toMatchObject({ code: 'VFIO_NOTIFIER_ERROR' });
    dev.close();
  });
});
