/** The conformance suites against the fake kernel (the same suites run on the real one in the guest). */
import { afterAll, describe } from 'vitest';
import { fakeTarget } from '../conformance/fake-target.js';
import { eduSuite } from '../conformance/edu.js';
import { errorSuite } from '../conformance/errors.js';

const { target, kernel } = fakeTarget();
afterAll(() => kernel.dispose());

describe('conformance on the fake kernel', () => {
  eduSuite(target);
  errorSuite(target);
});
