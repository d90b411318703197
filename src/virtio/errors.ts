/**
 * The virtio layer's error codes (ERR_VFIO_VIRTIO_*), thrown as VfioErrors like every other
 * failure of the package, so an app branches on `code` alone:
 *
 * - ERR_VFIO_VIRTIO_NOT_MODERN: the function lacks a virtio 1.x structure (common, notify or
 *   ISR capability), so it has no modern interface to drive (a legacy-only device).
 * - ERR_VFIO_VIRTIO_BAD_CAP: a virtio capability names a BAR or range that does not exist.
 * - ERR_VFIO_VIRTIO_FEATURES: a feature the driver needs is not offered, or the device did not
 *   keep FEATURES_OK after the driver wrote its features (the status is then FAILED).
 * - ERR_VFIO_VIRTIO_RESET_TIMEOUT: device_status did not read 0 after the reset write.
 * - ERR_VFIO_VIRTIO_QUEUE_SIZE: a queue is absent, or larger than the device offers.
 * - ERR_VFIO_VIRTIO_NO_VECTOR: the device refused an MSI-X vector (read back NO_VECTOR).
 * - ERR_VFIO_VIRTIO_NEEDS_RESET: the device set DEVICE_NEEDS_RESET: it stopped working on
 *   its queues and must be reset (close the port or transport and open it again).
 */
import { VfioError } from '../errors.js';

/** A VfioError with an ERR_VFIO_VIRTIO_* code; `op` names the call, `device` the PCI address. */
export function virtioError(code: string, op: string, message: string, extra: { device?: string; hint?: string } = {}): VfioError {
  return new VfioError({
    code,
    op,
    message,
    ...(extra.device !== undefined && { device: extra.device }),
    ...(extra.hint !== undefined && { hint: extra.hint }),
  });
}
