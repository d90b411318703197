/**
 * Closing a group whose device came from openDevice(): the device owns its container, so
 * closing the device closes the container, which closes this same group on the way. The
 * outer close must then find nothing left to do (it used to close fd -1 and throw).
 */
import { afterEach, beforeEach, expect, it } from 'vitest';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { openDevice } from '../../src/index.js';

const EDU = '0000:00:02.0';
let kernel: FakeKernel;

beforeEach(() => {
  kernel = new FakeKernel();
  kernel.addDevice(EDU, new EduModel());
});

afterEach(() => kernel.dispose());

it('dev.group.close() on a device from openDevice() closes device, group and container once', () => {
  const dev = openDevice(EDU, { ...kernel.options, iommu: 'container' });
  const group = dev.group!;
  const container = dev.container;
  expect(() => group.close()).not.toThrow();
  expect(dev.closed).toBe(true);
  expect(group.closed).toBe(true);
  expect(container.closed).toBe(true);
  // Everything was released: the device opens again.
  openDevice(EDU, { ...kernel.options, iommu: 'container' }).close();
});
