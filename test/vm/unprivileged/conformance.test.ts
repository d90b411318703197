/**
 * The seeds' promise: an unprivileged user who was given the device's nodes and enough
 * locked memory drives the device. Runs as uid 1000 under `ulimit -l 1024`. No-IOMMU mode
 * is the exception the seeds demand: root only, whatever the node's owner.
 */
import { describe, expect, it } from 'vitest';
import { openDevice } from '../../../src/index.js';
import { nativeTarget } from '../../conformance/native-target.js';
import { eduSuite } from '../../conformance/edu.js';
import { memlockSuite } from '../../conformance/memlock.js';

const target = nativeTarget();

describe('conformance on the real kernel, unprivileged', () => {
  it('runs as an unprivileged user with a finite RLIMIT_MEMLOCK', () => {
    expect(process.getuid?.()).toBe(1000);
    expect(target.backend.memlockLimit()).toBe(1024 * 1024);
  });
  if (target.mode === 'noiommu') {
    it('no-IOMMU devices stay closed to an unprivileged user, even one who owns the node', () => {
      expect(() => openDevice(target.eduAddress, target.options)).toThrow(
        expect.objectContaining({ name: 'VfioError', code: 'EPERM', hint: expect.stringMatching(/CAP_SYS_RAWIO/) }),
      );
    });
  } else {
    eduSuite(target);
    memlockSuite(target);
  }
});
