/**
 * The 82574's interrupts (chapter 7, interrupts; §10.2.4). MSI-X: three vectors through IVAR,
 * receive queue 0 → 0, transmit queue 0 → 1, other causes (link) → 2, each auto-cleared in
 * ICR (EIAC). MSI: one vector, causes acknowledged by writing ICR back. Receive causes are
 * unmasked only while the app sleeps in waitRx (armRx).
 */
import type { Device } from '../../model/device.js';
import type { InterruptSet, InterruptVector } from '../../model/interrupts.js';
import type { Region } from '../../model/region.js';
import type { InterruptChoice } from '../port.js';
import { netError } from '../errors.js';
import * as R from '../../hw/e82574.js';

/** What enableE1000eInterrupts set up. */
export interface E1000eInterrupts {
  kind: 'msix' | 'msi' | 'none';
  set: InterruptSet | null;
  rx: InterruptVector | null;
}

/** What the vectors call: a receive interrupt, and a link change (after the causes were acknowledged). */
export interface InterruptHandlers {
  rx(): void;
  link(): void;
  closed(): boolean;
}

/** Enables MSI-X (or MSI) as `choice` says, falling back under 'auto'; 'none' polls only. */
export function enableE1000eInterrupts(device: Device, bar: Region, choice: InterruptChoice, on: InterruptHandlers): E1000eInterrupts {
  const kinds = choice === 'auto' ? (['msix', 'msi'] as const) : choice === 'none' ? [] : [choice];
  const failures: unknown[] = [];
  for (const kind of kinds) {
    const offered = device.irqInfo(kind).count;
    const need = kind === 'msix' ? 3 : 1;
    if (offered < need) {
      failures.push(new Error(`${kind}: ${offered} vector(s) offered, ${need} needed`));
      continue;
    }
    let set: InterruptSet;
    try {
      set = device.enableInterrupts(kind, need);
    } catch (e) {
      failures.push(e);
      continue;
    }
    const rx = set.vectors[0]!;
    rx.unref(); // an idle port does not keep the process alive; waitRx refs it while waiting
    if (kind === 'msix') {
      bar.write32(R.IVAR, ((R.IVAR_VALID | 0) << R.IVAR_RXQ0_SHIFT) | ((R.IVAR_VALID | 1) << R.IVAR_TXQ0_SHIFT) | ((R.IVAR_VALID | 2) << R.IVAR_OTHER_SHIFT));
      bar.write32(R.EIAC, R.ICR_RXQ0 | R.ICR_TXQ0 | R.ICR_OTHER);
      set.vectors[1]!.unref();
      const other = set.vectors[2]!;
      other.unref();
      rx.on('interrupt', () => on.rx());
      other.on('interrupt', () => {
        if (on.closed()) return;
        const icr = bar.read32(R.ICR);
        bar.write32(R.ICR, icr & (R.ICR_LSC | R.ICR_OTHER));
        if (icr & R.ICR_LSC) on.link();
        bar.write32(R.IMS, R.ICR_OTHER | R.ICR_LSC); // auto-masked when it fired
      });
      bar.write32(R.IMS, R.ICR_OTHER | R.ICR_LSC);
    } else {
      rx.on('interrupt', () => {
        if (on.closed()) return;
        acknowledgeMsi(bar, on);
        on.rx();
      });
      bar.write32(R.IMS, R.ICR_LSC);
    }
    return { kind, set, rx };
  }
  if (choice !== 'auto' && choice !== 'none') {
    const last = failures[failures.length - 1];
    throw netError('ERR_VFIO_NET_NO_INTERRUPTS', 'E1000ePort.open', `could not enable ${choice}: ${last instanceof Error ? last.message : String(last)}`, { device: device.address });
  }
  return { kind: 'none', set: null, rx: null };
}

/** MSI: reads the causes and clears them, so the next cause sends a new message. */
function acknowledgeMsi(bar: Region, on: InterruptHandlers): void {
  const icr = bar.read32(R.ICR);
  if (icr) bar.write32(R.ICR, icr);
  if (icr & R.ICR_LSC) on.link();
}

/**
 * Unmasks the receive cause so the next frame interrupts (MSI-X auto-masks it each time it
 * fires). A cause left over from frames already taken is cleared first, so it does not fire
 * at once; the caller checks the ring after arming (descriptors are written back before the
 * cause is raised).
 */
export function armRx(bar: Region, kind: 'msix' | 'msi' | 'none', on: InterruptHandlers): void {
  if (kind === 'msix') {
    bar.write32(R.ICR, R.ICR_RXQ0);
    bar.write32(R.IMS, R.ICR_RXQ0);
  } else if (kind === 'msi') {
    acknowledgeMsi(bar, on);
    bar.write32(R.IMS, R.ICR_RXT0 | R.ICR_LSC);
  }
}

/** Masks the receive causes (poll mode). */
export function disarmRx(bar: Region): void {
  bar.write32(R.IMC, R.ICR_RXQ0 | R.ICR_RXT0 | R.ICR_RXDMT0);
}
