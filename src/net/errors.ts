/**
 * The packet layer's own error codes (ERR_VFIO_NET_*), all thrown as VfioErrors so an app
 * branches on `code` the same way for the pool, a port and the library below.
 */
import { VfioError } from '../errors.js';

/**
 * A VfioError with an ERR_VFIO_NET_* code. `op` names the call ('PacketPool.free',
 * 'E1000ePort.txBurst'); `device` the port's PCI address where there is one.
 */
export function netError(code: string, op: string, message: string, extra: { device?: string; hint?: string } = {}): VfioError {
  return new VfioError({
    code,
    op,
    message,
    ...(extra.device !== undefined && { device: extra.device }),
    ...(extra.hint !== undefined && { hint: extra.hint }),
  });
}
