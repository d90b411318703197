// Interrupt state of one fake vfio-pci device and VFIO_DEVICE_SET_IRQS with
// vfio-pci's validation (vfio_set_irqs_validate_and_prepare and the per-index
// handlers): errnos as the kernel gives them. INTx is level-triggered and
// automasked; MSI/MSI-X are edge; ERR/REQ are notifications.
import { errnoError } from './errno.js';
import type { FakeEventfd } from './eventfd.js';
import {
  VFIO_IRQ_INFO_AUTOMASKED,
  VFIO_IRQ_INFO_EVENTFD,
  VFIO_IRQ_INFO_MASKABLE,
  VFIO_IRQ_INFO_NORESIZE,
  VFIO_IRQ_SET_ACTION_MASK,
  VFIO_IRQ_SET_ACTION_TRIGGER,
  VFIO_IRQ_SET_ACTION_TYPE_MASK,
  VFIO_IRQ_SET_ACTION_UNMASK,
  VFIO_IRQ_SET_DATA_BOOL,
  VFIO_IRQ_SET_DATA_EVENTFD,
  VFIO_IRQ_SET_DATA_NONE,
  VFIO_IRQ_SET_DATA_TYPE_MASK,
} from '../../uapi/vfio-irq.js';
import {
  VFIO_PCI_ERR_IRQ_INDEX,
  VFIO_PCI_INTX_IRQ_INDEX,
  VFIO_PCI_MSIX_IRQ_INDEX,
  VFIO_PCI_MSI_IRQ_INDEX,
  VFIO_PCI_NUM_IRQS,
  VFIO_PCI_REQ_IRQ_INDEX,
} from '../../uapi/vfio-pci.js';

export type IrqType = 'none' | 'intx' | 'msi' | 'msix';

export interface IrqCounts {
  intx: number;
  msi: number;
  msix: number;
  /** PCIe devices have the ERR notifier; conventional PCI does not. */
  err: boolean;
}

export interface SetIrqs {
  flags: number;
  index: number;
  start: number;
  count: number;
  /** The bytes after struct vfio_irq_set, up to argsz. */
  data: Uint8Array;
}

/** Resolves an fd from SET_IRQS data to the eventfd it names (EBADF/EINVAL as the kernel). */
export type EventfdLookup = (fd: number) => FakeEventfd;

export class IrqState {
  type: IrqType = 'none';
  triggers: (FakeEventfd | null)[] = [];
  intxMasked = false;
  intxAsserted = false;
  err: FakeEventfd | null = null;
  req: FakeEventfd | null = null;
  #counts: IrqCounts;
  #onTypeChange: (type: IrqType) => void;

  constructor(counts: IrqCounts, onTypeChange: (type: IrqType) => void) {
    this.#counts = counts;
    this.#onTypeChange = onTypeChange;
  }

  count(index: number): number {
    switch (index) {
      case VFIO_PCI_INTX_IRQ_INDEX:
        return this.#counts.intx;
      case VFIO_PCI_MSI_IRQ_INDEX:
        return this.#counts.msi;
      case VFIO_PCI_MSIX_IRQ_INDEX:
        return this.#counts.msix;
      case VFIO_PCI_ERR_IRQ_INDEX:
        return this.#counts.err ? 1 : 0;
      case VFIO_PCI_REQ_IRQ_INDEX:
        return 1;
      default:
        return 0;
    }
  }

  /** VFIO_DEVICE_GET_IRQ_INFO: {flags, count}, or EINVAL. */
  info(index: number): { flags: number; count: number } {
    if (index >= VFIO_PCI_NUM_IRQS || (index === VFIO_PCI_ERR_IRQ_INDEX && !this.#counts.err))
      throw errnoError('EINVAL', 'ioctl', 'VFIO_DEVICE_GET_IRQ_INFO');
    const flags =
      VFIO_IRQ_INFO_EVENTFD |
      (index === VFIO_PCI_INTX_IRQ_INDEX ? VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_AUTOMASKED : VFIO_IRQ_INFO_NORESIZE);
    return { flags, count: this.count(index) };
  }

  set(req: SetIrqs, lookup: EventfdLookup): void {
    const fail = () => errnoError('EINVAL', 'ioctl', 'VFIO_DEVICE_SET_IRQS');
    const { flags, index, start, count } = req;
    // vfio_set_irqs_validate_and_prepare, in its order.
    if (index >= VFIO_PCI_NUM_IRQS || count >= 0xffffffff - start) throw fail();
    if (flags & ~(VFIO_IRQ_SET_DATA_TYPE_MASK | VFIO_IRQ_SET_ACTION_TYPE_MASK)) throw fail();
    const max = this.count(index);
    if (start >= max || start + count > max) throw fail();
    const dataType = flags & VFIO_IRQ_SET_DATA_TYPE_MASK;
    const size = dataType === VFIO_IRQ_SET_DATA_NONE ? 0 : dataType === VFIO_IRQ_SET_DATA_BOOL ? 1 : dataType === VFIO_IRQ_SET_DATA_EVENTFD ? 4 : -1;
    if (size < 0) throw fail();
    if (size && req.data.length < count * size) throw fail();
    const data = req.data;
    const fds = () => Array.from({ length: count }, (_, i) => new DataView(data.buffer, data.byteOffset).getInt32(i * 4, true));
    const bools = () => Array.from({ length: count }, (_, i) => data[i] !== 0);
    // Then vfio-pci picks a handler by index and the one action bit; none matches: ENOTTY.
    const action = flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
    const notty = () => errnoError('ENOTTY', 'ioctl', 'VFIO_DEVICE_SET_IRQS');
    if (index === VFIO_PCI_INTX_IRQ_INDEX) {
      if (action !== VFIO_IRQ_SET_ACTION_MASK && action !== VFIO_IRQ_SET_ACTION_UNMASK && action !== VFIO_IRQ_SET_ACTION_TRIGGER) throw notty();
      return this.#intx(action, dataType, start, count, fds, bools, lookup);
    }
    if (action !== VFIO_IRQ_SET_ACTION_TRIGGER) throw notty();
    if (index === VFIO_PCI_MSI_IRQ_INDEX || index === VFIO_PCI_MSIX_IRQ_INDEX)
      return this.#msi(index === VFIO_PCI_MSI_IRQ_INDEX ? 'msi' : 'msix', dataType, start, count, fds, bools, lookup);
    // ERR and REQ: one eventfd.
    const slot = index === VFIO_PCI_ERR_IRQ_INDEX ? 'err' : 'req';
    if (dataType === VFIO_IRQ_SET_DATA_NONE && count === 0) {
      this[slot] = null;
      return;
    }
    if (count !== 1 || start !== 0) throw fail();
    if (dataType === VFIO_IRQ_SET_DATA_EVENTFD) {
      const fd = fds()[0]!;
      this[slot] = fd === -1 ? null : lookup(fd);
    } else if (this[slot] && (dataType === VFIO_IRQ_SET_DATA_NONE || bools()[0])) {
      this[slot]!.signal();
    }
  }

  #setType(type: IrqType): void {
    this.type = type;
    this.#onTypeChange(type);
  }

  #intx(action: number, dataType: number, start: number, count: number, fds: () => number[], bools: () => boolean[], lookup: EventfdLookup): void {
    const fail = () => errnoError('EINVAL', 'ioctl', 'VFIO_DEVICE_SET_IRQS');
    if (action === VFIO_IRQ_SET_ACTION_UNMASK || action === VFIO_IRQ_SET_ACTION_MASK) {
      if (this.type !== 'intx' || start !== 0 || count !== 1) throw fail();
      if (dataType === VFIO_IRQ_SET_DATA_EVENTFD) throw fail(); // irqfd-style (un)mask is for KVM, not modelled
      if (dataType === VFIO_IRQ_SET_DATA_BOOL && !bools()[0]) return;
      if (action === VFIO_IRQ_SET_ACTION_MASK) this.intxMasked = true;
      else {
        this.intxMasked = false;
        if (this.intxAsserted) this.#fireIntx();
      }
      return;
    }
    if (this.type === 'intx' && count === 0 && dataType === VFIO_IRQ_SET_DATA_NONE) {
      this.triggers = [];
      this.#setType('none');
      return;
    }
    if (!(this.type === 'intx' || this.type === 'none') || start !== 0 || count !== 1) throw fail();
    if (dataType === VFIO_IRQ_SET_DATA_EVENTFD) {
      const fd = fds()[0]!;
      if (this.type === 'intx') {
        // Only the signal changes: fd -1 leaves INTx enabled with no eventfd behind it.
        this.triggers = [fd === -1 ? null : lookup(fd)];
        return;
      }
      if (fd === -1) return;
      this.triggers = [lookup(fd)];
      this.intxMasked = false;
      this.#setType('intx');
      if (this.intxAsserted) this.#fireIntx();
      return;
    }
    if (this.type !== 'intx') throw fail();
    if (dataType === VFIO_IRQ_SET_DATA_NONE || bools()[0]) this.triggers[0]?.signal();
  }

  #msi(kind: 'msi' | 'msix', dataType: number, start: number, count: number, fds: () => number[], bools: () => boolean[], lookup: EventfdLookup): void {
    const fail = () => errnoError('EINVAL', 'ioctl', 'VFIO_DEVICE_SET_IRQS');
    if (this.type === kind && count === 0 && dataType === VFIO_IRQ_SET_DATA_NONE) {
      this.triggers = [];
      this.#setType('none');
      return;
    }
    if (!(this.type === kind || this.type === 'none')) throw fail();
    if (dataType === VFIO_IRQ_SET_DATA_EVENTFD) {
      const list = fds();
      // Resolve every fd first: a bad one fails the call with nothing changed.
      const efds = list.map((fd) => (fd === -1 ? null : lookup(fd)));
      if (this.type !== kind) {
        this.triggers = new Array<FakeEventfd | null>(start + count).fill(null);
        this.#setType(kind);
      } else if (start + count > this.triggers.length) {
        throw fail(); // vectors are fixed once enabled (NORESIZE)
      }
      efds.forEach((e, i) => (this.triggers[start + i] = e));
      return;
    }
    if (this.type !== kind) throw fail();
    const which = bools();
    for (let i = 0; i < count; i++) if (dataType === VFIO_IRQ_SET_DATA_NONE || which[i]) this.triggers[start + i]?.signal();
  }

  #fireIntx(): void {
    if (this.intxMasked) return;
    this.triggers[0]?.signal();
    this.intxMasked = true; // automasked until the user unmasks
  }

  /** A device raising vector `v` (MSI/MSI-X) or asserting INTx. */
  raise(vector: number): void {
    if (this.type === 'intx' || (this.type === 'none' && this.#counts.intx > 0 && vector === 0)) {
      this.intxAsserted = true;
      if (this.type === 'intx') this.#fireIntx();
      return;
    }
    if (this.type === 'msi' || this.type === 'msix') this.triggers[vector]?.signal();
  }

  lowerIntx(): void {
    this.intxAsserted = false;
  }

  reset(): void {
    this.triggers = [];
    this.intxMasked = false;
    this.intxAsserted = false;
    if (this.type !== 'none') this.#setType('none');
  }
}
