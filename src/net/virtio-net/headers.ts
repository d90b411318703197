/**
 * The 12-byte virtio_net_hdr_v1 in front of each frame (spec §5.1.6). It lives in the last
 * 12 bytes of the pool buffer's headroom, so a descriptor covers header and frame in one
 * piece (IOVA − 12) while the frame stays at the buffer's data: the same buffer can go to an
 * e1000e port (which uses no headroom) without a copy. On transmit the header is all zero
 * (no checksum offload, no GSO, num_buffers unused); on receive the device writes it and the
 * driver reads nothing of it (no offloads, no MRG_RXBUF: num_buffers is 1).
 *
 * Zeroing it must cost no allocation or native call per frame: one Uint32Array per pool
 * chunk, and for each id its chunk and word index, computed once at open.
 */
import { VIRTIO_NET_HDR_V1_SIZEOF } from '../../uapi/virtio.js';
import type { PacketPool } from '../pool.js';

/** Where each buffer's header is, as word indexes into per-chunk views. */
export class HeaderViews {
  /** One view per pool chunk. */
  readonly views: Uint32Array[];
  /** Each id's chunk. */
  readonly chunk: Uint32Array;
  /** Each id's header, as a word index in its chunk's view. */
  readonly word: Uint32Array;

  /** Builds the tables for `pool` (its headroom a multiple of 4 and at least 12 bytes). */
  constructor(pool: PacketPool) {
    const chunks = pool.chunks;
    this.views = chunks.map((c) => new Uint32Array(c.buffer));
    const index = new Map<ArrayBufferLike, number>(chunks.map((c, i) => [c.buffer, i]));
    this.chunk = new Uint32Array(pool.capacity);
    this.word = new Uint32Array(pool.capacity);
    const back = pool.headroom - VIRTIO_NET_HDR_V1_SIZEOF;
    for (let id = 0; id < pool.capacity; id++) {
      const raw = pool.raw[id]!;
      this.chunk[id] = index.get(raw.buffer)!;
      this.word[id] = (raw.byteOffset + back) >>> 2;
    }
  }

  /** Zeroes buffer `id`'s header (three word stores). */
  clear(id: number): void {
    const v = this.views[this.chunk[id]!]!;
    const w = this.word[id]!;
    v[w] = 0;
    v[w + 1] = 0;
    v[w + 2] = 0;
  }
}
