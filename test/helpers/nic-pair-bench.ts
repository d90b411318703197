/**
 * An 82574 model and the model of the NIC under test on one fake hub, opened with openPort in
 * one DMA context with one pool, so a buffer one port receives can be sent on by the other as
 * it is; and the checks every test of such a pair ends with (no IOMMU fault, no complaint from
 * either model, every buffer back in the pool, no fd left open).
 */
import { afterEach, expect } from 'vitest';
import { openContext, type DmaContext } from '../../src/index.js';
import { E1000eModel, FakeKernel, wire, type DeviceModel, type EthernetHub, type EthernetPort } from '../../src/backend/fake/index.js';
import { PacketPool, openPort, type OpenPortOptions, type PortBase } from '../../src/net/index.js';

export const E_ADDR = '0000:00:03.0';
export const V_ADDR = '0000:00:04.0';
const MAC_E = '52:54:00:12:34:56';

/** A model the bench can plug in at V_ADDR and on the hub, and check for complaints. */
export type NicModel = DeviceModel & EthernetPort & { readonly errors: readonly string[] };

export interface NicPairBench<M extends NicModel> {
  kernel: FakeKernel;
  hub: EthernetHub;
  ctx: DmaContext;
  pool: PacketPool;
  eModel: E1000eModel;
  vModel: M;
  /** The e1000e port. */
  e: PortBase;
  /** The port of the NIC under test. */
  v: PortBase;
}

export interface NicPairOptions {
  /** For the port of the NIC under test. */
  v?: OpenPortOptions;
  /** For the e1000e port. */
  e?: OpenPortOptions;
  poolSize?: number;
  headroom?: number;
}

let benches: NicPairBench<NicModel>[] = [];
let kernels: FakeKernel[] = [];

/** Disposes `kernel` after the test (after checking it). */
export function trackKernel(kernel: FakeKernel): FakeKernel {
  kernels.push(kernel);
  return kernel;
}

/** The pair, `vModel` at V_ADDR against an e1000e at E_ADDR. */
export function nicPairBench<M extends NicModel>(vModel: M, opts: NicPairOptions = {}): NicPairBench<M> {
  const kernel = trackKernel(new FakeKernel({ memlockLimit: 512 << 20 }));
  const eModel = new E1000eModel({ mac: MAC_E });
  const hub = wire(eModel, vModel);
  kernel.addDevice(E_ADDR, eModel);
  kernel.addDevice(V_ADDR, vModel);
  const ctx = openContext(kernel.options);
  const devE = ctx.openDevice(E_ADDR);
  const devV = ctx.openDevice(V_ADDR);
  const pool = PacketPool.create(ctx, { count: opts.poolSize ?? 4096, headroom: opts.headroom });
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
export function cleanUpNicPairs(): void {
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
