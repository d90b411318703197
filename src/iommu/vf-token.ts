// The SR-IOV VF token on the way to a device fd: the option as users give it, the group path's
// device name ("<addr> vf_token=<uuid>"), and vfio-pci's refusals (EACCES, EINVAL from
// VFIO_GROUP_GET_DEVICE_FD or VFIO_DEVICE_BIND_IOMMUFD) told as what they mean, including a
// cdev bind that cannot take a token (src/uapi/iommufd.ts has the kernels' facts).
import { VfioError } from '../errors.js';
import { readPciDevice, type SysfsOptions } from '../host/pci.js';
import { isSriovPf, physfnOf, vfTokenNeeded } from '../host/sriov.js';
import { isUuidString } from '../uapi/vfio-feature.js';

/** Options of the calls that open a device: the VF token, for the VFs of a PF bound to vfio-pci. */
export interface VfTokenOption {
  /**
   * The SR-IOV VF token (a UUID string, 'bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3'): opening a VF
   * whose PF is bound to vfio-pci needs the token the PF's owner set
   * (`pfDevice.setVfToken(uuid)`); opening that PF while its VFs are in use needs it too.
   * On the container path it travels in VFIO_GROUP_GET_DEVICE_FD's name (every kernel); on
   * the cdev path (iommufd) in VFIO_DEVICE_BIND_IOMMUFD, which takes it from Linux 6.19
   * (and 6.18.3) only: an older kernel's refusal is ERR_VFIO_VF_TOKEN_IOMMUFD.
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

/** What a named refusal keeps of the kernel's error: the step, the device (and group), the errno, the error. */
function refusal(e: VfioError, address: string): { op: string; device: string; group?: number; errno?: number; cause: VfioError } {
  return { op: e.op, device: address, ...(e.group !== undefined && { group: e.group }), ...(e.errno !== undefined && { errno: e.errno }), cause: e };
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
  if (e.code === 'EACCES' && (pf !== null || isSriovPf(address, opts))) {
    const who = pf !== null ? `its PF ${pf} is bound to vfio-pci` : 'its VFs are in use';
    if (token === undefined) {
      return new VfioError({
        ...refusal(e, address),
        code: 'ERR_VFIO_VF_TOKEN_REQUIRED',
        message: `a VF token is required: ${who}`,
        hint: `pass the token the PF's owner set with setVfToken(): openDevice('${address}', { vfToken: '<uuid>' }); the owner sets one after opening the PF: pf.setVfToken(crypto.randomUUID())`,
      });
    }
    return new VfioError({
      ...refusal(e, address),
      code: 'ERR_VFIO_VF_TOKEN_MISMATCH',
      message: `the VF token ${token} is not the one set for ${pf ?? address}`,
      hint: `ask the PF's owner for its token (the one it gave setVfToken()); vfio-pci makes a random one when it binds the PF, so none works until the owner sets it`,
    });
  }
  if (e.code === 'EINVAL' && token !== undefined) return vfTokenUnusedError(e, address, pf, opts);
  return null;
}

/**
 * VFIO_DEVICE_BIND_IOMMUFD's refusals as named errors, or null: vfTokenError's, and for a token
 * refused with EINVAL or E2BIG, ERR_VFIO_VF_TOKEN_IOMMUFD when the device uses one (this kernel's
 * bind takes none) and ERR_VFIO_VF_TOKEN_UNUSED when it does not, whichever the kernel (one
 * without the token flag refuses it too, a 6.17 one with E2BIG).
 */
export function bindVfTokenError(e: VfioError, address: string, token: string | undefined, opts: SysfsOptions | undefined): VfioError | null {
  if (token === undefined || (e.code !== 'EINVAL' && e.code !== 'E2BIG')) return vfTokenError(e, address, token, opts);
  if (vfTokenNeeded(address, opts) === null && !isSriovPf(address, opts)) return vfTokenUnusedError(e, address, physfnOf(address, opts), opts);
  return new VfioError({
    ...refusal(e, address),
    code: 'ERR_VFIO_VF_TOKEN_IOMMUFD',
    message:
      e.code === 'E2BIG'
        ? "this kernel's cdev bind refused the VF token's pointer (E2BIG): Linux 6.17 and 6.18 read only the first 16 bytes of VFIO_DEVICE_BIND_IOMMUFD's struct, which 6.19 (and 6.18.3) fixed"
        : "this kernel's cdev bind has no VFIO_DEVICE_BIND_FLAG_TOKEN (Linux 6.17+): it refused the VF token (EINVAL)",
    hint: "open it through its group: { iommu: 'container', vfToken } (openDevice does so by itself for a token under iommu: 'auto'); on a kernel with the flag, EINVAL here means the device is open through its cdev elsewhere",
  });
}

function vfTokenUnusedError(e: VfioError, address: string, pf: string | null, opts: SysfsOptions | undefined): VfioError {
  const pfDriver = pf !== null ? driverOf(pf, opts) : null;
  return new VfioError({
    ...refusal(e, address),
    code: 'ERR_VFIO_VF_TOKEN_UNUSED',
    message:
      pf !== null
        ? `a VF token was given, but the PF ${pf} is bound to ${pfDriver ?? 'no driver'}, not vfio-pci: the kernel refuses a token nobody set`
        : 'a VF token was given, but the device is neither a VF nor an SR-IOV PF',
    hint: 'open it without vfToken',
  });
}
