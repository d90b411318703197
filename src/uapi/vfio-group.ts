// Group fd: /dev/vfio/$GROUP.

import { defineStruct } from './struct.js';

/** Every device in the group is bound to a VFIO driver (or none); nothing can be used until this holds. */
export const VFIO_GROUP_FLAGS_VIABLE = 1 << 0;
export const VFIO_GROUP_FLAGS_CONTAINER_SET = 1 << 1;

export const vfioGroupStatus = defineStruct('vfio_group_status', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
]);

export function encodeGroupStatusQuery(): Uint8Array {
  return vfioGroupStatus.encode({ argsz: vfioGroupStatus.size });
}

export interface GroupStatus {
  readonly flags: number;
  readonly viable: boolean;
  readonly containerSet: boolean;
}

export function decodeGroupStatus(bytes: Uint8Array): GroupStatus {
  const { flags } = vfioGroupStatus.decode(bytes);
  return {
    flags,
    viable: (flags & VFIO_GROUP_FLAGS_VIABLE) !== 0,
    containerSet: (flags & VFIO_GROUP_FLAGS_CONTAINER_SET) !== 0,
  };
}
