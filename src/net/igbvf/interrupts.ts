/**
 * The VF's interrupts: MSI-X only (a VF has neither MSI nor INTx), three vectors as Linux's
 * igbvf assigns them: 0 transmit queue 0, 1 receive queue 0, 2 the mailbox (the PF's
 * messages: link changes, its reset). Cause n is vector n; EIAC clears a cause as its vector
 * fires, so the next one fires again. The transmit cause stays masked (sent buffers are
 * reclaimed by txBurst); the receive cause is unmasked only while the app sleeps in waitRx,
 * and masked again by its handler (QEMU does no auto-masking); the mailbox cause is always on.
 * QEMU 10 never fires the mailbox vector (mailbox_interrupt_to_vf takes IVAR_MISC's vector
 * number 2 as a cause mask: the cause of vector 1, the receive vector): there the port's 2 s
 * watchdog reads the mailbox, and a PF message while waitRx sleeps is a spurious receive wakeup.
 */
import type { Device } from '../../model/device.js';
import type { InterruptSet, InterruptVector } from '../../model/interrupts.js';
import type { Region } from '../../model/region.js';
import { netError } from '../errors.js';
import type { InterruptChoice } from '../port.js';
import * as R from '../../hw/e82576vf.js';

export const TX_VECTOR = 0;
export const RX_VECTOR = 1;
export const MAILBOX_VECTOR = 2;
export const RX_CAUSE = 1 << RX_VECTOR;
export const MAILBOX_CAUSE = 1 << MAILBOX_VECTOR;

/** What enableIgbvfInterrupts set up. */
export interface IgbvfInterrupts {
  kind: 'msix' | 'none';
  set: InterruptSet | null;
  rx: InterruptVector | null;
}

/** What the vectors call. */
export interface IgbvfHandlers {
  /** A receive interrupt (the cause is masked again first). */
  rx(): void;
  /** The PF wrote to the mailbox. */
  mailbox(): void;
  closed(): boolean;
}

/**
 * Enables three MSI-X vectors and routes the causes (IVAR0, IVAR_MISC, EIAC), the mailbox
 * cause unmasked. 'auto' falls back to polling without MSI-X; 'msi' is
 * ERR_VFIO_NET_NO_INTERRUPTS, and so is 'msix' when fewer than 3 vectors are offered.
 */
export function enableIgbvfInterrupts(device: Device, bar: Region, choice: InterruptChoice, on: IgbvfHandlers): IgbvfInterrupts {
  if (choice === 'none') return { kind: 'none', set: null, rx: null };
  const op = 'IgbvfPort.open';
  if (choice === 'msi')
    throw netError('ERR_VFIO_NET_NO_INTERRUPTS', op, 'an 82576 VF signals through MSI-X only (no MSI, no INTx)', { device: device.address, hint: "use interrupts 'msix', 'auto' or 'none'" });
  const offered = device.irqInfo('msix').count;
  if (offered < R.MSIX_VECTORS) {
    if (choice === 'auto') return { kind: 'none', set: null, rx: null };
    throw netError('ERR_VFIO_NET_NO_INTERRUPTS', op, `could not enable msix: ${offered} vector(s) offered, ${R.MSIX_VECTORS} needed`, { device: device.address });
  }
  const set = device.enableInterrupts('msix', R.MSIX_VECTORS);
  try {
    const rx = set.vectors[RX_VECTOR]!;
    const mailbox = set.vectors[MAILBOX_VECTOR]!;
    // An idle port does not keep the process alive; waitRx refs the receive vector while it waits.
    for (const v of set.vectors) v.unref();
    rx.on('interrupt', () => {
      if (on.closed()) return;
      bar.write32(R.EIMC, RX_CAUSE);
      on.rx();
    });
    mailbox.on('interrupt', () => {
      if (!on.closed()) on.mailbox();
    });
    bar.write32(R.IVAR0, ((R.IVAR_VALID | RX_VECTOR) << R.IVAR_RX0_SHIFT) | ((R.IVAR_VALID | TX_VECTOR) << R.IVAR_TX0_SHIFT));
    bar.write32(R.IVAR_MISC, R.IVAR_VALID | MAILBOX_VECTOR);
    bar.write32(R.EIAC, R.EICR_VECTORS);
    bar.write32(R.EICR, R.EICR_VECTORS);
    bar.write32(R.EIMS, MAILBOX_CAUSE);
    return { kind: 'msix', set, rx };
  } catch (e) {
    set.disable();
    throw e;
  }
}

/** Unmasks the receive cause, a stale one cleared first so it does not fire at once (the caller checks the ring after). */
export function armRx(bar: Region): void {
  bar.write32(R.EICR, RX_CAUSE);
  bar.write32(R.EIMS, RX_CAUSE);
}

/** Masks the receive cause (poll mode). */
export function disarmRx(bar: Region): void {
  bar.write32(R.EIMC, RX_CAUSE);
}
