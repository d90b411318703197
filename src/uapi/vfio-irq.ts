// VFIO_DEVICE_GET_IRQ_INFO and VFIO_DEVICE_SET_IRQS.

import { defineStruct } from './struct.js';

export const VFIO_IRQ_INFO_EVENTFD = 1 << 0;
export const VFIO_IRQ_INFO_MASKABLE = 1 << 1;
/** Level-triggered: the kernel masks on delivery and the driver must unmask. */
export const VFIO_IRQ_INFO_AUTOMASKED = 1 << 2;
/** The vector count is fixed once enabled; growing it means disable and re-enable. */
export const VFIO_IRQ_INFO_NORESIZE = 1 << 3;

export const VFIO_IRQ_SET_DATA_NONE = 1 << 0;
export const VFIO_IRQ_SET_DATA_BOOL = 1 << 1;
export const VFIO_IRQ_SET_DATA_EVENTFD = 1 << 2;
export const VFIO_IRQ_SET_ACTION_MASK = 1 << 3;
export const VFIO_IRQ_SET_ACTION_UNMASK = 1 << 4;
export const VFIO_IRQ_SET_ACTION_TRIGGER = 1 << 5;
export const VFIO_IRQ_SET_DATA_TYPE_MASK = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_DATA_EVENTFD;
export const VFIO_IRQ_SET_ACTION_TYPE_MASK =
  VFIO_IRQ_SET_ACTION_MASK | VFIO_IRQ_SET_ACTION_UNMASK | VFIO_IRQ_SET_ACTION_TRIGGER;

export const vfioIrqInfo = defineStruct('vfio_irq_info', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['index', 'u32'],
  ['count', 'u32'],
]);

/** Followed by `count` u8 booleans or s32 eventfds, depending on the DATA flag. */
export const vfioIrqSet = defineStruct('vfio_irq_set', [
  ['argsz', 'u32'],
  ['flags', 'u32'],
  ['index', 'u32'],
  ['start', 'u32'],
  ['count', 'u32'],
]);

/** The VFIO_DEVICE_GET_IRQ_INFO argument for IRQ index `index`. */
export function encodeIrqInfoQuery(index: number): Uint8Array {
  return vfioIrqInfo.encode({ argsz: vfioIrqInfo.size, index });
}

/** VFIO_DEVICE_GET_IRQ_INFO, decoded. */
export interface IrqInfo {
  /** VFIO_IRQ_INFO_* bits: EVENTFD, MASKABLE, AUTOMASKED, NORESIZE. */
  readonly flags: number;
  /** The IRQ index asked about. */
  readonly index: number;
  /** Vectors the index offers; 0: the device does not have it. */
  readonly count: number;
}

/** Decodes the VFIO_DEVICE_GET_IRQ_INFO argument after the ioctl. */
export function decodeIrqInfo(bytes: Uint8Array): IrqInfo {
  const { flags, index, count } = vfioIrqInfo.decode(bytes);
  return { flags, index, count };
}

/** What to ask of VFIO_DEVICE_SET_IRQS (encodeIrqSet). */
export interface IrqSetRequest {
  /** The IRQ index (VFIO_PCI_*_IRQ_INDEX). */
  readonly index: number;
  /** First vector acted on (default 0). */
  readonly start?: number;
  /** Exactly one VFIO_IRQ_SET_ACTION_* bit. */
  readonly action: number;
  /**
   * Absent: DATA_NONE, the action applies to `count` vectors as is (count 0
   * with TRIGGER tears down every vector of the index). An Int32Array binds
   * eventfds, -1 unbinding that vector. Booleans select vectors per entry.
   */
  readonly data?: Int32Array | readonly boolean[];
  /** Only for DATA_NONE; otherwise the data length is the count. */
  readonly count?: number;
}

const ACTIONS: readonly number[] = [VFIO_IRQ_SET_ACTION_MASK, VFIO_IRQ_SET_ACTION_UNMASK, VFIO_IRQ_SET_ACTION_TRIGGER];

/**
 * The VFIO_DEVICE_SET_IRQS argument, its data type chosen from `data`: eventfds (an
 * Int32Array, -1 to unassign one), booleans, or none. A RangeError for an action that is not
 * exactly one VFIO_IRQ_SET_ACTION_* bit, an fd below -1, or a `count` that disagrees with the data.
 */
export function encodeIrqSet(req: IrqSetRequest): Uint8Array {
  const { action, data } = req;
  if (!ACTIONS.includes(action)) {
    throw new RangeError(`vfio_irq_set: action 0x${action.toString(16)} is not exactly one VFIO_IRQ_SET_ACTION_* bit`);
  }
  const head = vfioIrqSet.size;
  let flags = action;
  let count: number;
  let bytes: Uint8Array;
  if (data === undefined) {
    flags |= VFIO_IRQ_SET_DATA_NONE;
    count = req.count ?? 0;
    bytes = new Uint8Array(head);
  } else if (data instanceof Int32Array) {
    flags |= VFIO_IRQ_SET_DATA_EVENTFD;
    count = data.length;
    bytes = new Uint8Array(head + 4 * count);
    const view = new DataView(bytes.buffer, head);
    for (let i = 0; i < count; i++) {
      const fd = data[i] as number;
      if (fd < -1) throw new RangeError(`vfio_irq_set.data[${i}]: eventfd ${fd} is neither a descriptor nor -1`);
      view.setInt32(4 * i, fd, true);
    }
  } else {
    flags |= VFIO_IRQ_SET_DATA_BOOL;
    count = data.length;
    bytes = new Uint8Array(head + count);
    for (let i = 0; i < count; i++) bytes[head + i] = data[i] ? 1 : 0;
  }
  if (req.count !== undefined && req.count !== count) {
    throw new RangeError(`vfio_irq_set: count ${req.count} disagrees with ${count} data entries`);
  }
  return vfioIrqSet.encode({ argsz: bytes.length, flags, index: req.index, start: req.start ?? 0, count }, { bytes });
}

/** A VFIO_DEVICE_SET_IRQS argument, decoded (decodeIrqSet). */
export interface IrqSet {
  /** VFIO_IRQ_SET_DATA_* | VFIO_IRQ_SET_ACTION_* bits. */
  readonly flags: number;
  /** The IRQ index. */
  readonly index: number;
  /** First vector acted on. */
  readonly start: number;
  /** Vectors acted on. */
  readonly count: number;
  /** The eventfds (DATA_EVENTFD) or booleans (DATA_BOOL); undefined for DATA_NONE. */
  readonly data: Int32Array | boolean[] | undefined;
}

/** The inverse of encodeIrqSet, for mocks and logging. */
export function decodeIrqSet(bytes: Uint8Array): IrqSet {
  const s = vfioIrqSet.decode(bytes);
  const head = vfioIrqSet.size;
  const type = s.flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
  let data: Int32Array | boolean[] | undefined;
  if (type === VFIO_IRQ_SET_DATA_EVENTFD) {
    if (head + 4 * s.count > bytes.length) throw new RangeError(`vfio_irq_set: ${s.count} eventfds overrun the buffer`);
    const view = new DataView(bytes.buffer, bytes.byteOffset + head);
    data = new Int32Array(s.count);
    for (let i = 0; i < s.count; i++) data[i] = view.getInt32(4 * i, true);
  } else if (type === VFIO_IRQ_SET_DATA_BOOL) {
    if (head + s.count > bytes.length) throw new RangeError(`vfio_irq_set: ${s.count} booleans overrun the buffer`);
    data = Array.from(bytes.subarray(head, head + s.count), (b) => b !== 0);
  } else if (type !== VFIO_IRQ_SET_DATA_NONE) {
    throw new RangeError(`vfio_irq_set: data flags 0x${type.toString(16)} name no single data type`);
  }
  return { flags: s.flags, index: s.index, start: s.start, count: s.count, data };
}
