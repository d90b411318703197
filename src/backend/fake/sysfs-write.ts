// Writes to the fake sysfs, played as the kernel plays them: driver_override, bind, unbind,
// drivers_probe, the SR-IOV attributes and vfio_pci's enable_sriov. FakeKernel.writeSysfs
// (and `kernel.options.write`, which bindVfioPci and enableSriov take) comes here.
import { relative } from 'node:path';
import { errnoError } from './errno.js';
import type { KDevice } from './objects.js';

/** The kernel operations a write may trigger. */
export interface SysfsWriteOps {
  device(address: string): KDevice | undefined;
  /** A driver directory exists under /sys/bus/pci/drivers (the driver is loaded). */
  driverLoaded(driver: string): boolean;
  /** Binds or unbinds (null); errno errors as the driver core's. */
  setDriver(d: KDevice, driver: string | null): void;
  setOverride(d: KDevice, driver: string | null): void;
  numVfs(d: KDevice, text: string): void;
  autoprobe(d: KDevice, on: boolean): void;
  enableSriov(on: boolean): void;
}

/** Plays the kernel for one write of `data` to `path` (absolute, under `root`). */
export function writeSysfs(root: string, path: string, data: string, ops: SysfsWriteOps): void {
  if (typeof path !== 'string' || typeof data !== 'string') throw new TypeError('writeSysfs: path and data must be strings');
  const rel = relative(root, path);
  const value = data.replace(/\n$/, '');
  const dev = (address: string) => {
    const d = ops.device(address);
    if (!d) throw errnoError('ENODEV', 'write', `no device ${address}`);
    return d;
  };
  let m: RegExpExecArray | null;
  if ((m = /^sys\/bus\/pci\/devices\/([^/]+)\/(driver_override|sriov_numvfs|sriov_drivers_autoprobe)$/.exec(rel))) {
    const d = dev(m[1]!);
    if (m[2] === 'driver_override') return ops.setOverride(d, value.trim() === '' ? null : value.trim());
    if (m[2] === 'sriov_numvfs') return ops.numVfs(d, data);
    if (!d.sriov) throw errnoError('ENOENT', 'open', rel);
    if (!/^[01yn]$/i.test(value.trim())) throw errnoError('EINVAL', 'write', rel);
    return ops.autoprobe(d, /^[1y]$/i.test(value.trim()));
  }
  if ((m = /^sys\/bus\/pci\/devices\/([^/]+)\/driver\/unbind$/.exec(rel))) {
    const d = dev(m[1]!);
    if (d.driver === null) throw errnoError('ENOENT', 'open', rel);
    if (value.trim() !== d.address) throw errnoError('ENODEV', 'write', rel);
    return ops.setDriver(d, null);
  }
  if ((m = /^sys\/bus\/pci\/drivers\/([^/]+)\/(bind|unbind)$/.exec(rel))) {
    if (!ops.driverLoaded(m[1]!)) throw errnoError('ENOENT', 'open', rel);
    const d = dev(value.trim());
    if (m[2] === 'unbind') {
      if (d.driver !== m[1]) throw errnoError('ENODEV', 'write', rel);
      return ops.setDriver(d, null);
    }
    if (d.driver !== null) throw errnoError('EBUSY', 'write', `${rel} (${d.address} already has a driver)`);
    if (d.override !== null && d.override !== m[1]) throw errnoError('ENODEV', 'write', `${rel} (driver_override names ${d.override})`);
    return ops.setDriver(d, m[1]!);
  }
  if (rel === 'sys/bus/pci/drivers_probe') {
    const d = dev(value.trim());
    if (d.driver !== null) return;
    const want = d.override ?? d.probeDriver;
    if (want !== null && ops.driverLoaded(want)) ops.setDriver(d, want);
    return;
  }
  if (rel === 'sys/module/vfio_pci/parameters/enable_sriov') {
    if (!/^[01yn]$/i.test(value.trim())) throw errnoError('EINVAL', 'write', rel);
    return ops.enableSriov(/^[1y]$/i.test(value.trim()));
  }
  throw errnoError('EACCES', 'open', `${rel} (the fake kernel does not emulate writes to it)`);
}
