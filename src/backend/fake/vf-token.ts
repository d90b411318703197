// vfio-pci's SR-IOV VF token (drivers/vfio/pci/vfio_pci_core.c): the device name a group's
// VFIO_GROUP_GET_DEVICE_FD matches (vfio_pci_core_match, with its "vf_token=<uuid>" option),
// the token rules (vfio_pci_core_match_token_uuid, once vfio_pci_validate_vf_token), which a
// 6.17+ cdev bind applies too, and setting the token through VFIO_DEVICE_FEATURE_PCI_VF_TOKEN
// (vfio_pci_core_feature_token, after vfio_main.c's checks).
import { randomBytes } from 'node:crypto';
import { errnoError } from './errno.js';
import type { KDevice } from './objects.js';
import {
  UUID_SIZE,
  UUID_STRING_LEN,
  VFIO_DEVICE_FEATURE_GET,
  VFIO_DEVICE_FEATURE_MASK,
  VFIO_DEVICE_FEATURE_PCI_VF_TOKEN,
  VFIO_DEVICE_FEATURE_PROBE,
  VFIO_DEVICE_FEATURE_SET,
  uuidBytes,
  vfioDeviceFeature,
} from '../../uapi/vfio-feature.js';

const VF_TOKEN_ARG = 'vf_token=';

/** vfio_pci_vf_init: vfio-pci gives a PF it binds a random token (uuid_gen) to start with. */
export function newVfToken(): Uint8Array {
  return new Uint8Array(randomBytes(UUID_SIZE));
}

/** get_pf_vdev: the VF's PF when vfio-pci drives it too (the same driver as the VF's); else null. */
function vfioPf(d: KDevice): KDevice | null {
  const pf = d.physfn;
  return pf && pf.driver === 'vfio-pci' && pf.driver === d.driver ? pf : null;
}

/** vf_token->users: the PF's VFs open now (vfio_pci_vf_token_user_add counts them at first open and last close). */
function tokenUsers(pf: KDevice): number {
  return pf.sriov?.vfs.filter((v) => v.opens > 0 && v.driver === 'vfio-pci').length ?? 0;
}

const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * vfio_pci_core_match_token_uuid: EINVAL for a token nobody uses, EACCES for a missing or wrong
 * one; a token given to a PF whose VFs are not in use becomes its token. `op` names the caller's
 * request in the errors.
 */
export function matchTokenUuid(d: KDevice, uuid: Uint8Array | null, op: string): void {
  const pfToken = d.sriov?.token ?? null;
  if (!d.physfn && !pfToken && !uuid) return;
  if (d.physfn) {
    const pf = vfioPf(d);
    if (!pf) {
      if (!uuid) return;
      throw errnoError('EINVAL', 'ioctl', `${op} (VF token incorrectly provided, PF not bound to vfio-pci)`);
    }
    if (!uuid) throw errnoError('EACCES', 'ioctl', `${op} (VF token required to access device)`);
    if (!equal(uuid, pf.sriov!.token!)) throw errnoError('EACCES', 'ioctl', `${op} (Incorrect VF token provided for device)`);
  } else if (pfToken) {
    if (tokenUsers(d) > 0) {
      if (!uuid) throw errnoError('EACCES', 'ioctl', `${op} (VF token required to access device)`);
      if (!equal(uuid, pfToken)) throw errnoError('EACCES', 'ioctl', `${op} (Incorrect VF token provided for device)`);
    } else if (uuid) {
      d.sriov!.token = uuid.slice();
    }
  } else if (uuid) {
    throw errnoError('EINVAL', 'ioctl', `${op} (VF token incorrectly provided, not a PF or VF)`);
  }
}

/**
 * vfio_pci_core_match: 0 when `name` does not name device `d`, 1 when it does and the token
 * rules let it open; an errno error (EINVAL: a malformed or unused option, EACCES: a missing
 * or wrong token) otherwise.
 */
export function matchDevice(d: KDevice, name: string): 0 | 1 {
  if (!name.startsWith(d.address)) return 0;
  let rest = name.slice(d.address.length);
  let uuid: Uint8Array | null = null;
  if (rest.length > 0) {
    if (rest[0] !== ' ') return 0;
    while (rest.length > 0) {
      if (rest[0] === ' ') {
        rest = rest.slice(1);
        continue;
      }
      if (uuid === null && rest.startsWith(VF_TOKEN_ARG)) {
        rest = rest.slice(VF_TOKEN_ARG.length);
        if (rest.length < UUID_STRING_LEN) throw errnoError('EINVAL', 'ioctl', 'VFIO_GROUP_GET_DEVICE_FD (vf_token: too short)');
        uuid = uuidBytes(rest.slice(0, UUID_STRING_LEN));
        if (uuid === null) throw errnoError('EINVAL', 'ioctl', 'VFIO_GROUP_GET_DEVICE_FD (vf_token: not a UUID)');
        rest = rest.slice(UUID_STRING_LEN);
      } else {
        throw errnoError('EINVAL', 'ioctl', 'VFIO_GROUP_GET_DEVICE_FD (unknown or duplicate option)');
      }
    }
  }
  matchTokenUuid(d, uuid, 'VFIO_GROUP_GET_DEVICE_FD');
  return 1;
}

/**
 * VFIO_DEVICE_FEATURE as vfio_ioctl_device_feature and vfio-pci see it; PCI_VF_TOKEN is the one
 * feature modelled (set-only: a GET could expose the previous user's token).
 */
export function deviceFeature(d: KDevice, bytes: Uint8Array, argsz: number): number {
  const einval = (why: string) => errnoError('EINVAL', 'ioctl', `VFIO_DEVICE_FEATURE (${why})`);
  const minsz = vfioDeviceFeature.size;
  if (argsz < minsz) throw einval('argsz');
  const { flags } = vfioDeviceFeature.decode(bytes);
  const known = VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE;
  if (flags & ~known) throw einval('unknown flags');
  const probe = (flags & VFIO_DEVICE_FEATURE_PROBE) !== 0;
  const get = (flags & VFIO_DEVICE_FEATURE_GET) !== 0;
  const set = (flags & VFIO_DEVICE_FEATURE_SET) !== 0;
  if (!probe && get && set) throw einval('GET and SET together');
  if ((flags & VFIO_DEVICE_FEATURE_MASK) !== VFIO_DEVICE_FEATURE_PCI_VF_TOKEN) throw errnoError('ENOTTY', 'ioctl', 'VFIO_DEVICE_FEATURE (feature not modelled)');
  // vfio_pci_core_feature_token: only a PF has a token.
  const token = d.sriov?.token;
  if (!token || d.driver !== 'vfio-pci') throw errnoError('ENOTTY', 'ioctl', 'VFIO_DEVICE_FEATURE (PCI_VF_TOKEN: not an SR-IOV PF)');
  // vfio_check_feature(flags, argsz - minsz, SET, sizeof(uuid)).
  if (get) throw einval('PCI_VF_TOKEN cannot be read');
  if (probe) return 0;
  if (!set) throw einval('neither GET nor SET');
  if (argsz - minsz < UUID_SIZE) throw einval('PCI_VF_TOKEN needs 16 bytes of data');
  d.sriov!.token = bytes.slice(minsz, minsz + UUID_SIZE);
  return 0;
}
