// iommufd (/dev/iommu) and the VFIO device cdev (/dev/vfio/devices/vfioN): Linux 6.6+.
//
// iommufd structs start with a u32 `size` instead of VFIO's argsz: the kernel reads
// `size` bytes, insists that any bytes past its own struct are zero (E2BIG) and writes
// back at most `size`. Requests are _IO on the same ';' type as VFIO, numbered from 0x80.
// None of this is in Debian 12's 6.1 headers; the probe checks it against newer ones.

import { _IO, VFIO_BASE, VFIO_TYPE } from './ioctl.js';
import { defineStruct } from './struct.js';

export const IOMMUFD_TYPE = VFIO_TYPE;
export const IOMMUFD_CMD_BASE = 0x80;

export const IOMMU_DESTROY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 0);
export const IOMMU_IOAS_ALLOC = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 1);
export const IOMMU_IOAS_ALLOW_IOVAS = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 2);
export const IOMMU_IOAS_COPY = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 3);
export const IOMMU_IOAS_IOVA_RANGES = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 4);
export const IOMMU_IOAS_MAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 5);
export const IOMMU_IOAS_UNMAP = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 6);
export const IOMMU_OPTION = _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 7);

export const IOMMU_IOAS_MAP_FIXED_IOVA = 1 << 0;
export const IOMMU_IOAS_MAP_WRITEABLE = 1 << 1;
export const IOMMU_IOAS_MAP_READABLE = 1 << 2;

export const iommuDestroy = defineStruct('iommu_destroy', [
  ['size', 'u32'],
  ['id', 'u32'],
]);

export const iommuIoasAlloc = defineStruct('iommu_ioas_alloc', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['out_ioas_id', 'u32'],
]);

export const iommuIovaRange = defineStruct('iommu_iova_range', [
  ['start', 'u64'],
  ['last', 'u64'],
]);

// allowed_iovas is a user pointer: the native shim builds this request itself.
export const iommuIoasIovaRanges = defineStruct('iommu_ioas_iova_ranges', [
  ['size', 'u32'],
  ['ioas_id', 'u32'],
  ['num_iovas', 'u32'],
  ['__reserved', 'u32'],
  ['allowed_iovas', 'u64'],
  ['out_iova_alignment', 'u64'],
]);

// user_va is a process address: the native shim builds this request itself.
export const iommuIoasMap = defineStruct('iommu_ioas_map', [
  ['size', 'u32'],
  ['flags', 'u32'],
  ['ioas_id', 'u32'],
  ['__reserved', 'u32'],
  ['user_va', 'u64'],
  ['length', 'u64'],
  ['iova', 'u64'],
]);

export const iommuIoasUnmap = defineStruct('iommu_ioas_unmap', [
  ['size', 'u32'],
  ['ioas_id', 'u32'],
  ['iova', 'u64'],
  ['length', 'u64'],
]);

/** IOMMU_IOAS_UNMAP of iova 0 and this length removes every mapping of the IOAS. */
export const IOMMU_IOAS_UNMAP_ALL_LENGTH = (1n << 64n) - 1n;

// --- the VFIO device cdev's side

export const VFIO_DEVICE_BIND_IOMMUFD = _IO(VFIO_TYPE, VFIO_BASE + 18);
export const VFIO_DEVICE_ATTACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 19);
export const VFIO_DEVICE_DETACH_IOMMUFD_PT = _IO(VFIO_TYPE, VFIO_BASE + 20);

// The VF token on the cdev path, as drivers/vfio/device_cdev.c vfio_df_ioctl_bind_iommufd has it:
// - Linux 6.6 to 6.16: copy_from_user of 16 bytes; argsz < 16, any flag or iommufd < 0 is EINVAL,
//   and no token is checked at all (vfio_pci_validate_vf_token runs on the group path only).
// - Linux 6.17 (86624ba3b522): token_uuid_ptr after out_devid (24 bytes; minsz stays 16) and
//   VALID_FLAGS = VFIO_DEVICE_BIND_FLAG_TOKEN. argsz < 16 is EINVAL; flags outside VALID_FLAGS
//   EINVAL. vfio_df_check_token then runs under the dev_set lock, after the group-fd, blocked-group
//   and already-bound checks and before the iommufd is looked up: with the flag, copy_from_user of
//   the 16 bytes at token_uuid_ptr (EFAULT) and match_token_uuid; without it,
//   match_token_uuid(NULL), so an unflagged bind is checked too. For vfio-pci that is
//   vfio_pci_core_match_token_uuid, the group path's rules: a VF of a vfio-pci PF needs the PF's
//   token (EACCES when missing or different), a vfio-pci PF needs it while its VFs are open (and
//   takes a token given while none is, as its own), a token anywhere else is EINVAL. A driver
//   without match_token_uuid refuses the flag (EINVAL).
// - As released in 6.17 and 6.18, the struct was read with copy_struct_from_user(&bind, minsz,
//   arg, argsz): bytes past 16 must be zero, so a token pointer is E2BIG. Fixed (sizeof(bind)) by
//   2f03f21fe751 in 6.19, and in 6.18.3.
// token_uuid_ptr is a user pointer: the native shim builds this request itself (Backend.bindIommufd).
export const vfioDeviceBindIommufd = defineStruct('vfio_device_bind_iommufd', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['iommufd', 'i32'],
  ['out_devid', 'u32'],
  ['token_uuid_ptr', 'u64'],
]);

/** VFIO_DEVICE_BIND_IOMMUFD flag (6.17+): token_uuid_ptr points at the 16-byte VF token. */
export const VFIO_DEVICE_BIND_FLAG_TOKEN = 1 << 0;

// Later kernels append a pasid (behind a flag); the 6.6 layout is what every cdev kernel accepts.
export const vfioDeviceAttachIommufdPt = defineStruct('vfio_device_attach_iommufd_pt', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['pt_id', 'u32'],
]);

export const vfioDeviceDetachIommufdPt = defineStruct('vfio_device_detach_iommufd_pt', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
]);

/** Hot-reset info names devices by iommufd device id instead of group (cdev-opened devices). */
export const VFIO_PCI_HOT_RESET_FLAG_DEV_ID = 1 << 0;
/** ...and every affected device is owned by the caller's iommufd. */
export const VFIO_PCI_HOT_RESET_FLAG_DEV_ID_OWNED = 1 << 1;
