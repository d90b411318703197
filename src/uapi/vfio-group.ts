// Group fd: /dev/vfio/$GROUP.

import { defineStruct } from './struct.js';

/** Every device in the group is bound to a VFIO driver (or none); nothing can be used until this holds. */
export const VFIO_GROUP_FLAGS_VIABLE = 1 << 0;
export const VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1;

export const vfioGroupStatus = defineStruct('vfio_group_status', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
]);

/** The VFIO_GROUP_GET_STATUS argument, argsz set. */
export function encodeGroupStatusQuery(): Uint8Array {
  return vfioGroupStatus.encode({ argsz: vfioGroupStatus.size });
}

/** VFIO_GROUP_GET_STATUS, decoded. */
export interface GroupStatus {
  /** VFIO_GROUP_FLAGS_* bits as the kernel wrote them. */
  readonly flags: number;
  /** VFIO_GROUP_FLAGS_VIABLE: every device of the group is bound to a VFIO driver (or none). */
  readonly viable: boolean;
  /** VFIO_GROUP_FLAGS_CONTAINER_SET: the group has joined a container. */
  readonly containerSet: boolean;
}

/** Decodes the VFIO_GROUP_GET_STATUS argument after the ioctl. */
export function decodeGroupStatus(bytes: Uint8Array): GroupStatus {
  const { flags } = vfioGroupStatus.decode(bytes);
  return {
    flags,
    viable: (flags & VFIO_GROUP_FLAGS_VIABLE) !== 0,
    containerSet: (flags & VFIO_GROUP_FLAGS_CONTAINER_SET) !== 0,
  };
}
