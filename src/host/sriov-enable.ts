// Enabling and disabling SR-IOV VFs through sysfs (sriov_numvfs, sriov_drivers_autoprobe),
// with the kernel's refusals turned into errors that say what to do.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VfioError, isSystemError } from '../errors.js';
import { iommuUnits, noIommuModeOn } from './groups.js';
import { pciDir, readPciDevice, sysPath, VFIO_PCI_DRIVER, type PciDeviceInfo, type SysfsOptions } from './pci.js';
import { vfioGroupUsers } from './procfs.js';
import { physfnOf, sriovInfo, type SriovInfo } from './sriov.js';

/** Options of enableSriov and disableSriov. */
export interface SriovOptions extends SysfsOptions {
  /**
   * Writes one sysfs attribute (default: writeFileSync). The fake kernel's `options.write`
   * plays the kernel on its tree.
   */
  write?: (path: string, data: string) => void;
  /**
   * enableSriov: sets sriov_drivers_autoprobe first. false leaves the new VFs without a driver
   * (ready for bindVfioPci: the way to take VFs of a PF a kernel driver keeps); true lets
   * the VF driver (igbvf, or vfio-pci for a PF on vfio-pci) take them. Default: unchanged.
   */
  autoprobe?: boolean;
}

const OP = 'write sriov_numvfs';

function vfsInUse(info: SriovInfo, opts: SysfsOptions | undefined): string | null {
  for (const vf of info.vfs) {
    if (vf.iommuGroup === null) continue;
    const users = vfioGroupUsers(vf.iommuGroup, opts);
    if (users.length) return `${vf.address} is open by ${users.map((u) => `pid ${u.pid} (${u.command})`).join(', ')}`;
  }
  return null;
}

function notSriovError(pf: PciDeviceInfo, call: string, opts: SysfsOptions | undefined): VfioError {
  const parent = physfnOf(pf.address, opts);
  return new VfioError({
    code: 'ERR_VFIO_NOT_SRIOV',
    op: call,
    device: pf.address,
    message: parent ? `the device is a VF of ${parent}, not an SR-IOV PF` : 'the device is not SR-IOV capable (sysfs has no sriov_totalvfs)',
    hint: parent
      ? `VFs are enabled on their PF: ${call}('${parent}', n) or \`vfio sriov ${parent} --vfs N\``
      : 'it has no SR-IOV capability (`vfio info` lists its capabilities), or the kernel lacks CONFIG_PCI_IOV; `vfio ls` marks the PFs',
  });
}

function enableSriovParam(opts: SysfsOptions | undefined): boolean | null {
  try {
    return /^[Y1]/.test(readFileSync(sysPath(opts, 'sys/module/vfio_pci/parameters/enable_sriov'), 'utf8'));
  } catch {
    return null;
  }
}

/** The kernel refused the sriov_numvfs write: say why, from the errno and the PF's driver. */
function refusedError(e: { code: string; errno: number; message: string }, pf: PciDeviceInfo, count: number, opts: SysfsOptions | undefined): VfioError {
  const base = { op: OP, device: pf.address, errno: Math.abs(e.errno), cause: e };
  if (e.code === 'ERANGE') {
    return new VfioError({ ...base, code: 'ERR_VFIO_SRIOV_TOO_MANY', message: `${count} VFs are more than the PF offers (${e.code})`, hint: 'ask for at most sriov_totalvfs VFs (`vfio sriov PF` shows it)' });
  }
  if (e.code === 'EBUSY') {
    return count === 0
      ? new VfioError({ ...base, code: 'ERR_VFIO_SRIOV_VFS_IN_USE', message: `the kernel cannot remove the VFs now (${e.code})`, hint: 'close the VFs (every process using them) first' })
      : new VfioError({ ...base, code: 'ERR_VFIO_SRIOV_ENABLED', message: `VFs are already enabled (${e.code})`, hint: `the kernel changes the number only from 0: disable them first (\`vfio sriov ${pf.address} --vfs 0\`)` });
  }
  // Not the driver's answer: the write never reached it. Its own code, so an unprivileged
  // caller is not told to look at the PF's driver.
  if (e.code === 'EACCES' || e.code === 'EPERM') {
    return new VfioError({
      ...base,
      code: 'ERR_VFIO_SRIOV_PERMISSION',
      message: `not allowed to write sriov_numvfs (${e.code}): VFs are made and removed by root`,
      hint: `run it as root (\`sudo vfio sriov ${pf.address} --vfs ${count}\`); an unprivileged user can drive VFs root made and handed over (their /dev/vfio nodes), not make them`,
    });
  }
  let hint = '`dmesg | tail` says why';
  if (e.code === 'ENOENT' && pf.driver === null) {
    hint = `no driver is bound to the PF: bind its own driver (e.g. igb for an 82576), or vfio-pci with enable_sriov=1, then try again`;
  } else if (e.code === 'ENOENT' && pf.driver === VFIO_PCI_DRIVER) {
    hint =
      enableSriovParam(opts) === false
        ? 'vfio-pci creates VFs only with its enable_sriov parameter: echo 1 > /sys/module/vfio_pci/parameters/enable_sriov (or modprobe vfio-pci enable_sriov=1)'
        : 'vfio-pci refused: is its enable_sriov parameter on (/sys/module/vfio_pci/parameters/enable_sriov)?';
  } else if (e.code === 'ENOENT') {
    hint = `the PF's driver ${pf.driver} does not create VFs through sysfs (it has no sriov_configure); see its documentation (a max_vfs module parameter?)`;
  }
  return new VfioError({ ...base, code: 'ERR_VFIO_SRIOV_REFUSED', message: `the PF's driver (${pf.driver ?? 'none'}) refused ${count} VFs: ${e.message}`, hint });
}

/**
 * Sets the number of a PF's VFs through sysfs (sriov_numvfs; with `autoprobe`,
 * sriov_drivers_autoprobe first) and returns the PF's SR-IOV state afterwards. Asking for the
 * current number changes nothing; 0 disables them (disableSriov). Each VF is a PCI device of
 * its own, in an IOMMU group of its own on most hosts.
 *
 * A VfioError names what to do: ERR_VFIO_NO_DEVICE, ERR_VFIO_NOT_SRIOV (no SR-IOV capability,
 * or a VF), ERR_VFIO_SRIOV_TOO_MANY (more than sriov_totalvfs), ERR_VFIO_SRIOV_ENABLED (VFs
 * exist: the kernel changes the number only from 0), ERR_VFIO_SRIOV_VFS_IN_USE (a process
 * holds a VF: removing it would block), ERR_VFIO_NO_IOMMU (the VFs would have no IOMMU group),
 * ERR_VFIO_SRIOV_REFUSED (the PF's driver refused: no driver, vfio-pci without enable_sriov,
 * a driver without sysfs SR-IOV; `errno` is the write's), ERR_VFIO_SRIOV_PERMISSION (the caller
 * may not write sriov_numvfs: root's job; errno EACCES or EPERM). A count that is not an integer in
 * [0, 65535] is a RangeError.
 */
export function enableSriov(pf: string, count: number, opts?: SriovOptions): SriovInfo {
  if (!Number.isInteger(count) || count < 0 || count > 0xffff) throw new RangeError(`enableSriov: count must be an integer in [0, 65535], got ${count}`);
  return setNumVfs('enableSriov', pf, count, opts);
}

/** Removes a PF's VFs (sriov_numvfs = 0); nothing to do when none are enabled. Errors as enableSriov's. */
export function disableSriov(pf: string, opts?: SriovOptions): SriovInfo {
  return setNumVfs('disableSriov', pf, 0, opts);
}

function setNumVfs(call: string, address: string, count: number, opts: SriovOptions | undefined): SriovInfo {
  const pf = readPciDevice(address, opts);
  const info = sriovInfo(pf.address, opts);
  if (!info) throw notSriovError(pf, call, opts);
  if (count > info.totalVfs) {
    throw new VfioError({
      code: 'ERR_VFIO_SRIOV_TOO_MANY',
      op: call,
      device: pf.address,
      message: `${count} VFs are more than sriov_totalvfs (${info.totalVfs})`,
      hint: `ask for at most ${info.totalVfs}`,
    });
  }
  if (count === info.numVfs) return info;
  if (count > 0 && info.numVfs > 0) {
    throw new VfioError({
      code: 'ERR_VFIO_SRIOV_ENABLED',
      op: call,
      device: pf.address,
      message: `${info.numVfs} VFs are enabled already`,
      hint: `the kernel changes the number only from 0: disable them first (disableSriov, \`vfio sriov ${pf.address} --vfs 0\`), then enable ${count}`,
    });
  }
  if (count > 0 && pf.iommuGroup === null && !noIommuModeOn(opts)) {
    throw new VfioError({
      code: 'ERR_VFIO_NO_IOMMU',
      op: call,
      device: pf.address,
      message: 'the PF has no IOMMU group, so its VFs would have none: VFIO could not use them',
      hint: iommuUnits(opts).length
        ? 'the IOMMU does not cover this device; check the firmware tables (`dmesg | grep -i -e DMAR -e IOMMU`)'
        : 'turn the IOMMU on: VT-d / AMD-Vi in the firmware and intel_iommu=on (or amd_iommu=on) on the kernel command line',
    });
  }
  const busy = count === 0 ? vfsInUse(info, opts) : null;
  if (busy) {
    throw new VfioError({
      code: 'ERR_VFIO_SRIOV_VFS_IN_USE',
      op: call,
      device: pf.address,
      message: `a VF is in use: ${busy}`,
      hint: 'removing VFs waits until their users let go: close them first',
    });
  }
  const write = opts?.write ?? ((path: string, data: string) => writeFileSync(path, data));
  const dir = pciDir(pf.address, opts);
  try {
    if (count > 0 && opts?.autoprobe !== undefined) write(join(dir, 'sriov_drivers_autoprobe'), opts.autoprobe ? '1' : '0');
    write(join(dir, 'sriov_numvfs'), String(count));
  } catch (e) {
    if (!isSystemError(e)) throw e;
    throw refusedError(e, pf, count, opts);
  }
  return sriovInfo(pf.address, opts) ?? info;
}
