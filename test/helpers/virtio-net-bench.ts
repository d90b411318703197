/**
 * A virtio-net model and an 82574 model on one fake hub, opened in one DMA context with one
 * pool (headroom 12, so buffers move between the two ports without a copy): what the
 * virtio-net driver tests share, with the checks every test ends with (no IOMMU fault, no
 * complaint from either model, every buffer back in the pool, no fd left open).
 */
import { afterEach, expect } from 'vitest';
import { openContext, type DmaContext } from '../../src/index.js';
import { E1000eModel, FakeKernel, VirtioNetModel, wire, type VirtioNetModelOptions } from '../../src/backend/fake/index.js';
import type { EthernetHub } from '../../src/backend/fake/models/ethernet.js';
import { PacketPool, openPort, type PortBase, type PortOptions } from '../../src/net/index.js';
import { stamp, testFrame } from '../../src/net/apps/frames.js';

export const E_ADDR = '0000:00:03.0';
export const V_ADDR = '0000:00:04.0';
export const MAC_E = '52:54:00:12:34:56';
export const MAC_V = '52:54:00:12:34:57';

export interface VirtioBench {
  kernel: FakeKernel;
  hub: EthernetHub;
  ctx: DmaContext;
  pool: PacketPool;
  eModel: E1000eModel;
  vModel: VirtioNetModel;
  /** The e1000e port. */
  e: PortBase;
  /** The virtio-net port. */
  v: PortBase;
}

let benches: VirtioBench[] = [];
let kernels: FakeKernel[] = [];

/** Disposes `kernel` after the test (after checking it). */
export function trackKernel(kernel: FakeKernel): FakeKernel {
  kernels.push(kernel);
  return kernel;
}

/** The pair, opened with openPort (`v` options for the virtio port, `model` for its model). */
export function virtioBench(opts: { v?: PortOptions; e?: PortOptions; model?: VirtioNetModelOptions; poolSize?: number } = {}): VirtioBench {
  const kernel = trackKernel(new FakeKernel({ memlockLimit: 512 << 20 }));
  const eModel = new E1000eModel({ mac: MAC_E });
  const vModel = new VirtioNetModel({ mac: MAC_V, ...opts.model });
  const hub = wire(eModel, vModel);
  kernel.addDevice(E_ADDR, eModel);
  kernel.addDevice(V_ADDR, vModel);
  const ctx = openContext(kernel.options);
  const devE = ctx.openDevice(E_ADDR);
  const devV = ctx.openDevice(V_ADDR);
  const pool = PacketPool.create(ctx, { count: opts.poolSize ?? 4096, headroom: 12 });
  const e = openPort(devE, { pool, rxDescriptors: 256, txDescriptors: 256, promiscuous: true, portId: 1, ...opts.e });
  let v: PortBase;
  try {
    v = openPort(devV, { pool, portId: 2, ...opts.v });
  } catch (err) {
    e.close();
    pool.close();
    ctx.close();
    throw err;
  }
  const b = { kernel, hub, ctx, pool, eModel, vModel, e, v };
  benches.push(b);
  return b;
}

/** Registers the clean-up and the final checks after each test of the file that calls it. */
export function cleanUpVirtio(): void {
  afterEach(() => {
    for (const b of benches) {
      b.v.close();
      b.e.close();
      expect(b.pool.available, 'every buffer back in the pool').toBe(b.pool.capacity);
      b.pool.close();
      b.ctx.close();
      expect(b.kernel.faults).toEqual([]);
      expect(b.vModel.errors).toEqual([]);
      expect(b.eModel.errors).toEqual([]);
    }
    for (const k of kernels) {
      expect(k.openFds, 'every fd closed').toBe(0);
      k.dispose();
    }
    benches = [];
    kernels = [];
  });
}

/** Copies frames into pool buffers and queues them on `port`; returns how many it took (the rest are freed). */
export function send(port: PortBase, frames: readonly Uint8Array[]): number {
  const ids = new Uint32Array(frames.length);
  const got = port.pool.alloc(ids, frames.length);
  for (let i = 0; i < got; i++) port.pool.write(ids[i]!, frames[i]!);
  let n = 0;
  try {
    n = port.txBurst(ids, got);
  } finally {
    port.pool.free(ids, got - n, n);
  }
  return n;
}

/** Takes what `port` has received: copies of the frames, their buffers freed. */
export function take(port: PortBase, max = 64): Uint8Array[] {
  const ids = new Uint32Array(max);
  const n = port.rxBurst(ids, max);
  const out: Uint8Array[] = [];
  for (let i = 0; i < n; i++) out.push(port.pool.data[ids[i]!]!.slice(0, port.pool.length[ids[i]!]!));
  port.pool.free(ids, n);
  return out;
}

/** `count` numbered test frames of `size` bytes. */
export function numbered(count: number, size: number, dst: Uint8Array, src: Uint8Array, first = 0): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const f = testFrame(size, dst, src, 42);
    stamp(f, first + i);
    return f;
  });
}

/** Sizes 60-1514, every one different from its neighbours (a fixed pseudo-random walk). */
export function mixedSizes(n: number, seed = 12345): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return 60 + (x % (1514 - 60 + 1));
  });
}

/** Resolves with the next `event` of `port` (its arguments), or rejects after `ms`. */
export function nextEvent<A extends unknown[]>(port: PortBase, event: 'link' | 'needs-reset', ms = 2000): Promise<A> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no '${event}' event within ${ms} ms`)), ms);
    port.once(event, (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args as A);
    });
  });
}
