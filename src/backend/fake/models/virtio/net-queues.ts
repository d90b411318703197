// virtio-net's receive and transmit paths on the device side, as QEMU 7.2's
// hw/net/virtio-net.c runs them (virtio_net_receive_rcu, virtio_net_flush_tx): frames from
// the hub into receive buffers behind a virtio_net_hdr_v1, transmit chains to frames without
// it. Errors QEMU answers with virtio_error are VirtioDeviceErrors (the transport stops the
// device); the rest are reported and the frame dropped.
import {
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TYPE,
  VIRTIO_NET_HDR_NUM_BUFFERS,
  VIRTIO_NET_HDR_V1_SIZEOF,
} from '../../../../uapi/virtio.js';
import { VirtioDeviceError, type Chain, type DeviceQueue, type Dma, type Segment } from './split-ring.js';

/** Bytes of frame (after the header) the model moves at most: QEMU's 64 KiB packets. */
export const MAX_FRAME = 65536;

/** The message QEMU gives when a buffer's IOVA cannot be mapped. */
const BOGUS = 'virtio: bogus descriptor or out of resources';

/** Copies `data` into the segments, starting `offset` bytes into them; returns the bytes written. */
export function scatter(bus: Dma, segs: readonly Segment[], offset: number, data: Uint8Array): number {
  let skip = offset;
  let done = 0;
  for (const s of segs) {
    if (done === data.length) break;
    if (skip >= s.len) {
      skip -= s.len;
      continue;
    }
    const n = Math.min(s.len - skip, data.length - done);
    if (!bus.dmaWrite(s.addr + skip, data.subarray(done, done + n))) throw new VirtioDeviceError(`${BOGUS} (IOVA 0x${(s.addr + skip).toString(16)}, ${n} bytes)`);
    done += n;
    skip = 0;
  }
  return done;
}

/** Reads every segment and concatenates them. */
export function gather(bus: Dma, segs: readonly Segment[]): Uint8Array {
  const total = segs.reduce((n, s) => n + s.len, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const s of segs) {
    const b = bus.dmaRead(s.addr, s.len);
    if (!b) throw new VirtioDeviceError(`${BOGUS} (IOVA 0x${s.addr.toString(16)}, ${s.len} bytes)`);
    out.set(b, at);
    at += s.len;
  }
  return out;
}

const capacity = (c: Chain): number => c.in.reduce((n, s) => n + s.len, 0);

/** The receive header QEMU writes when the backend has none: no flags, GSO_NONE, and num_buffers. */
function header(numBuffers: number): Uint8Array {
  const h = new Uint8Array(VIRTIO_NET_HDR_V1_SIZEOF);
  const v = new DataView(h.buffer);
  v.setUint8(VIRTIO_NET_HDR_GSO_TYPE, VIRTIO_NET_HDR_GSO_NONE);
  v.setUint16(VIRTIO_NET_HDR_NUM_BUFFERS, numBuffers, true);
  return h;
}

/** The outcome of offering a frame to the receive queue. */
export type RxResult = 'taken' | 'no-buffers' | 'too-big' | 'filtered';

/**
 * Puts `frame` into the receive queue (QEMU's virtio_net_receive_rcu with a header-less
 * backend). Without MRG_RXBUF one chain holds header and frame; a frame that does not fit is
 * dropped and its buffer left for the next frame (QEMU's virtqueue_unpop). With MRG_RXBUF the
 * frame spans as many chains as needed, num_buffers saying how many. No buffers (enough of
 * them, mergeable): 'no-buffers' with notifications enabled, so the driver's next kick brings
 * the frame (it waits in the hub meanwhile). A frame `accept` refuses is dropped once there
 * are buffers (QEMU filters after that check).
 */
export function receive(bus: Dma, q: DeviceQueue, frame: Uint8Array, mergeable: boolean, accept: (frame: Uint8Array) => boolean): RxResult {
  const need = VIRTIO_NET_HDR_V1_SIZEOF + frame.length;
  // virtio_net_has_buffers: before the first pop, with notifications enabled when empty.
  if (q.pending(bus) === 0) {
    q.setNotification(bus, true);
    if (q.pending(bus) === 0) return 'no-buffers';
  }
  q.setNotification(bus, false);
  if (!accept(frame)) return 'filtered';
  const chains: Chain[] = [];
  let room = 0;
  while (room < need) {
    const c = q.pop(bus);
    if (!c) {
      // Not enough for the whole frame (mergeable only): give them back and wait.
      for (let i = 0; i < chains.length; i++) q.unpop();
      q.setNotification(bus, true);
      return 'no-buffers';
    }
    if (c.in.length < 1) throw new VirtioDeviceError('virtio-net receive queue contains no in buffers');
    chains.push(c);
    room += capacity(c);
    if (!mergeable) break;
  }
  if (room < need) {
    q.unpop();
    return 'too-big';
  }
  // The header goes first (num_buffers = chains used; 1 without MRG_RXBUF, as the spec requires).
  const lens = chains.map(() => 0);
  lens[0] = scatter(bus, chains[0]!.in, 0, header(chains.length));
  let offset = 0;
  for (let i = 0; i < chains.length; i++) {
    const start = i === 0 ? VIRTIO_NET_HDR_V1_SIZEOF : 0;
    const n = scatter(bus, chains[i]!.in, start, frame.subarray(offset));
    lens[i]! += n;
    offset += n;
  }
  for (let i = 0; i < chains.length; i++) q.push(bus, chains[i]!.head, lens[i]!);
  return 'taken';
}

/**
 * Takes one transmit chain apart (QEMU's virtio_net_flush_tx with a header-less backend): the
 * driver-readable buffers hold a virtio_net_hdr_v1 and the frame; the header is dropped.
 * Returns the frame, or null (reported) when there is none to send.
 */
export function transmitFrame(bus: Dma, chain: Chain, report: (message: string) => void): Uint8Array | null {
  if (chain.out.length < 1) throw new VirtioDeviceError('virtio-net header not in first element');
  const total = chain.out.reduce((n, s) => n + s.len, 0);
  if (total > VIRTIO_NET_HDR_V1_SIZEOF + MAX_FRAME) {
    report(`transmit chain ${chain.head}: ${total} bytes is more than a header and a 64 KiB frame; dropped`);
    return null;
  }
  const bytes = gather(bus, chain.out);
  if (bytes.length <= VIRTIO_NET_HDR_V1_SIZEOF) {
    report(`transmit chain ${chain.head}: ${bytes.length} bytes hold no frame after the ${VIRTIO_NET_HDR_V1_SIZEOF}-byte header; dropped`);
    return null;
  }
  return bytes.subarray(VIRTIO_NET_HDR_V1_SIZEOF);
}
