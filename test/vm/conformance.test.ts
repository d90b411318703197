/** The conformance suites against the real kernel (the same suites run on the fake one on the host). */
import { describe } from 'vitest';
import { nativeTarget } from '../conformance/native-target.js';
import { eduSuite } from '../conformance/edu.js';
import { errorSuite } from '../conformance/errors.js';
import { argumentSuite } from '../conformance/arguments.js';
import { releaseSuite } from '../conformance/release.js';
import { iommufdConformance } from '../conformance/iommufd.js';

describe('conformance on the real kernel', () => {
  const target = nativeTarget();
  eduSuite(target);
  // The legacy container/group ioctls, raw: the interface the container runs test.
  if (target.mode === 'container') {
    errorSuite(target);
    argumentSuite(target);
  }
  // iommufd and the cdev, raw: the interface the iommufd run tests.
  if (target.mode === 'iommufd') iommufdConformance(target);
  releaseSuite(target);
});
