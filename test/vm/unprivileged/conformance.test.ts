/**
 * The seeds' promise: an unprivileged user who was given /dev/vfio/N and enough
 * locked memory drives the device. Runs as uid 1000 under `ulimit -l 1024`.
 */
import { describe, expect, it } from 'vitest';
import { nativeTarget } from '../../conformance/native-target.js';
import { eduSuite } from '../../conformance/edu.js';
import { memlockSuite } from '../../conformance/memlock.js';

const target = nativeTarget();

describe('conformance on the real kernel, unprivileged', () => {
  it('runs as an unprivileged user with a finite RLIMIT_MEMLOCK', () => {
    expect(process.getuid?.()).toBe(1000);
    expect(target.backend.memlockLimit()).toBe(1024 * 1024);
  });
  eduSuite(target);
  memlockSuite(target);
});
