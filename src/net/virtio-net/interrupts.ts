/**
 * virtio-net's interrupts. virtio-pci has MSI-X (or INTx with the ISR byte; QEMU's offers no
 * MSI): two vectors, 0 for configuration changes (link, DEVICE_NEEDS_RESET) and 1 for the
 * receive queue. The transmit queue gets none (VIRTIO_MSI_NO_VECTOR): sent buffers are
 * reclaimed a burst at a time by txBurst. Without MSI-X the port polls; INTx is not used.
 */
import type { Device } from '../../model/device.js';
import type { InterruptSet, InterruptVector } from '../../model/interrupts.js';
import type { VirtioPciTransport } from '../../virtio/transport.js';
import { netError } from '../errors.js';
import type { InterruptChoice } from '../port.js';

/** The config-change vector. */
export const CONFIG_VECTOR = 0;
/** The receive queue's vector. */
export const RX_VECTOR = 1;

/** What enableVirtioInterrupts set up. */
export interface VirtioNetInterrupts {
  /** 'msix', or 'none' (polling). */
  kind: 'msix' | 'none';
  /** The MSI-X set, or null. */
  set: InterruptSet | null;
  /** The receive vector, or null. */
  rx: InterruptVector | null;
}

/**
 * Enables two MSI-X vectors and tells the device the config vector (the queues' vectors are
 * set with the queues). 'auto' falls back to polling when the device has no MSI-X; 'msi' is
 * ERR_VFIO_NET_NO_INTERRUPTS (virtio-pci has none), and so is 'msix' when not offered.
 */
export function enableVirtioInterrupts(device: Device, transport: VirtioPciTransport, choice: InterruptChoice, onConfig: () => void, onRx: () => void): VirtioNetInterrupts {
  if (choice === 'none') return { kind: 'none', set: null, rx: null };
  const op = 'VirtioNetPort.open';
  if (choice === 'msi')
    throw netError('ERR_VFIO_NET_NO_INTERRUPTS', op, 'virtio-pci devices signal through MSI-X (or INTx), not MSI', { device: device.address, hint: "use interrupts 'msix', 'auto' or 'none'" });
  const offered = device.irqInfo('msix').count;
  if (offered < 2) {
    if (choice === 'auto') return { kind: 'none', set: null, rx: null };
    throw netError('ERR_VFIO_NET_NO_INTERRUPTS', op, `could not enable msix: ${offered} vector(s) offered, 2 needed`, { device: device.address });
  }
  const set = device.enableInterrupts('msix', 2);
  try {
    const config = set.vectors[CONFIG_VECTOR]!;
    const rx = set.vectors[RX_VECTOR]!;
    // An idle port does not keep the process alive; waitRx refs the receive vector while it waits.
    config.unref();
    rx.unref();
    config.on('interrupt', onConfig);
    rx.on('interrupt', onRx);
    transport.setConfigVector(CONFIG_VECTOR);
    return { kind: 'msix', set, rx };
  } catch (e) {
    set.disable();
    throw e;
  }
}
