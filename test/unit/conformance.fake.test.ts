/** The conformance suites against the fake kernel (the same suites run on the real one in the guest). */
import { afterAll, describe } from 'vitest';
import { fakeTarget } from '../conformance/fake-target.js';
import { eduSuite } from '../conformance/edu.js';
import { errorSuite } from '../conformance/errors.js';
import { argumentSuite } from '../conformance/arguments.js';
import { releaseSuite } from '../conformance/release.js';
import { memlockSuite } from '../conformance/memlock.js';
import { iommufdConformance } from '../conformance/iommufd.js';
import { fakeTarget as makeFake } from '../conformance/fake-target.js';

const { target, kernel } = fakeTarget();
afterAll(() => kernel.dispose());

describe('conformance on the fake kernel', () => {
  eduSuite(target);
  errorSuite(target);
  argumentSuite(target);
  releaseSuite(target);
});

// As the guest's unprivileged pass runs it: an unprivileged user under `ulimit -l 1024`.
const limited = makeFake();
limited.kernel.setMemlockLimit(1024 * 1024);
afterAll(() => limited.kernel.dispose());

describe('conformance on the fake kernel, memlock-limited', () => {
  eduSuite(limited.target);
  memlockSuite(limited.target);
});

// Linux 6.12 with iommufd and the device cdev: the legacy paths must not change, and the new ones conform.
const modern = makeFake({ iommufd: true });
afterAll(() => modern.kernel.dispose());

describe('conformance on the fake kernel, 6.12 with iommufd', () => {
  errorSuite(modern.target);
  iommufdConformance(modern.target);
});

// The object model through iommufd and the cdev, and in no-IOMMU mode, as the guest's
// iommufd and no-IOMMU runs take it.
const viaIommufd = makeFake({ iommufd: true, mode: 'iommufd' });
afterAll(() => viaIommufd.kernel.dispose());

describe('conformance on the fake kernel, devices through iommufd', () => {
  eduSuite(viaIommufd.target);
  releaseSuite(viaIommufd.target);
});

const noIommu = makeFake({ mode: 'noiommu' });
afterAll(() => noIommu.kernel.dispose());

describe('conformance on the fake kernel, no-IOMMU mode', () => {
  eduSuite(noIommu.target);
  releaseSuite(noIommu.target);
});
