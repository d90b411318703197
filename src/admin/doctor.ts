// `vfio doctor` as a library: one check per thing that stands between a user
// and a working VFIO device, each pass / warn / fail with the fix for a failure.
// Everything is read under `root` (sysfs, /dev) and `proc` (procfs), so tests
// run it against synthetic trees.
import { deviceChecks } from './doctor-device.js';
import { environment, type DoctorCheck, type DoctorOptions } from './doctor-env.js';
import {
  checkHugepages,
  checkInterruptRemapping,
  checkIommu,
  checkIommufd,
  checkMemlock,
  checkNoIommu,
  checkVfio,
  checkVfioPci,
} from './doctor-system.js';

export { DEFAULT_MEMLOCK_NEEDED, type DoctorCheck, type DoctorOptions, type DoctorStatus, type DoctorUser } from './doctor-env.js';

/**
 * Runs every system check, then the device checks for each address given.
 * Never throws for what it finds; a failure is a check with status 'fail'.
 */
export function runDoctor(opts: DoctorOptions = {}): DoctorCheck[] {
  const env = environment(opts);
  const checks = [
    checkIommu(env),
    checkVfio(env),
    checkVfioPci(env),
    checkIommufd(env),
    checkNoIommu(env),
    checkInterruptRemapping(env),
    checkMemlock(env),
    checkHugepages(env),
  ];
  const addresses = opts.address === undefined ? [] : typeof opts.address === 'string' ? [opts.address] : opts.address;
  for (const a of addresses) checks.push(...deviceChecks(a, env));
  return checks;
}

/** True when any check failed (the CLI's exit status 1). */
export function doctorFailed(checks: readonly DoctorCheck[]): boolean {
  return checks.some((c) => c.status === 'fail');
}
