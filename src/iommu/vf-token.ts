// The SR-IOV VF token on the way to a device fd: the option as users give it, the group path's
// device name ("<addr> vf_token=<uuid>"), and vfio-pci's refusals (EACCES, EINVAL from
// VFIO_GROUP_GET_DEVICE_FD) told as what they mean.
import { VfioError } from '../errors.js';
import { readPciDevice, type SysfsOptions } from '../host/pci.js';
import { isSriovPf, physfnOf } from '../host/sriov.js';
import { isUuidString } from '../uapi/vfio-feature.js';

/** Options of the calls that open a device: the VF token, for the VFs of a PF bound to vfio-pci. */
export interface VfTokenOption {
  /**
   * The SR-IOV VF token (a UUID string, 'bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3'): opening a VF
   * whose PF is bound to vfio-pci needs the token the PF's owner set
   * (`pfDevice.setVfToken(uuid)`); opening that PF while its VFs are in use needs it too.
   * Passed in VFIO_GROUP_GET_DEVICE_FD's name, so the container path only: the device cdev's
   * bind (iommufd) takes no token on Linux 6.12.
   */
  vfToken?: string;
}

/** The option checked: undefined, or a UUID string (a TypeError naming `call` otherwise). */
export function checkVfToken(call: string, token: unknown): string | undefined {
  if (token === undefined) return undefined;
  if (!isUuidString(token))
    throw new TypeError(`${call}: options.vfToken must be a UUID string like 'bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3' (crypto.randomUUID() makes one), got ${typeof token === 'string' ? JSON.stringify(token) : typeof token}`);
  return token.toLowerCase();
}

/** VFIO_GROUP_GET_DEVICE_FD's argument: the address, and vfio-pci's vf_token option when there is a token. */
export function deviceFdName(address: string, token: string | undefined): string {
  return token === undefined ? address : `${address} vf_token=${token}`;
}

/** The error for a token on the cdev path, which cannot carry one (Linux 6.12's VFIO_DEVICE_BIND_IOMMUFD has no token field). */
export function vfTokenIommufdError(call: string, device: string): VfioError {
  return new VfioError({
    code: 'ERR_VFIO_VF_TOKEN_IOMMUFD',
    op: call,
    device,
    message: "a VF token cannot be presented through the device cdev: VFIO_DEVICE_BIND_IOMMUFD has no token field on Linux 6.12 (a later kernel adds VFIO_DEVICE_BIND_FLAG_TOKEN, which this library does not use yet)",
    hint: "open it through its group: { iommu: 'container', vfToken } (openDevice picks the container by itself for a token under iommu: 'auto')",
  });
}

function driverOf(address: string, opts: SysfsOptions | undefined): string | null {
  try {
    return readPciDevice(address, opts).driver;
  } catch {
    return null;
  }
}

/**
 * vfio-pci's VF-token refusals as named errors, or null when `e` is not one: EACCES (a token is
 * needed, or it differs from the PF owner's) and EINVAL for a token given where none is used.
 */
export function vfTokenError(e: VfioError, address: string, token: string | undefined, opts: SysfsOptions | undefined): VfioError | null {
  const pf = physfnOf(address, opts);
  const base = { op: e.op, device: address, ...(e.group !== undefined && { group: e.group }), ...(e.errno !== undefined && { errno: e.errno }), cause: e };
  if (e.code === 'EACCES' && (pf !== null || isSriovPf(address, opts))) {
    const who = pf !== null ? `its PF ${pf} is bound to vfio-pci` : 'its VFs are in use';
    if (token === undefined) {
      return new VfioError({
        ...base,
        code: 'ERR_VFIO_VF_TOKEN_REQUIRED',
        message: `a VF token is required: ${who}`,
        hint: `pass the token the PF's owner set with setVfToken(): openDevice('${address}', { vfToken: '<uuid>' }); the owner sets one after opening the PF: pf.setVfToken(crypto.randomUUID())`,
      });
    }
    return new VfioError({
      ...base,
      code: 'ERR_VFIO_VF_TOKEN_MISMATCH',
      message: `the VF token ${token} is not the one set for ${pf ?? address}`,
      hint: `ask the PF's owner for its token (the one it gave setVfToken()); vfio-pci makes a random one when it binds the PF, so none works until the owner sets it`,
    });
  }
  if (e.code === 'EINVAL' && token !== undefined) {
    const pfDriver = pf !== null ? driverOf(pf, opts) : null;
    return new VfioError({
      ...base,
      code: 'ERR_VFIO_VF_TOKEN_UNUSED',
      message:
        pf !== null
          ? `a VF token was given, but the PF ${pf} is bound to ${pfDriver ?? 'no driver'}, not vfio-pci: the kernel refuses a token nobody set`
          : 'a VF token was given, but the device is neither a VF nor an SR-IOV PF',
      hint: 'open it without vfToken',
    });
  }
  return null;
}
