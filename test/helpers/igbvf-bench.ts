/**
 * An 82576 VF model and an 82574 model on one fake hub, opened in one DMA context with one
 * pool: what the igbvf driver tests share, with the checks every test ends with (no IOMMU
 * fault, no complaint from either model, every buffer back in the pool, no fd left open).
 */
import { afterEach, expect } from 'vitest';
import { openContext, type DmaContext } from '../../src/index.js';
import { E1000eModel, FakeKernel, IgbvfModel, wire, type IgbvfModelOptions } from '../../src/backend/fake/index.js';
import type { EthernetHub } from '../../src/backend/fake/models/ethernet.js';
import { PacketPool, openPort, type IgbvfPortOptions, type PortBase } from '../../src/net/index.js';

export const E_ADDR = '0000:00:03.0';
export const V_ADDR = '0000:00:04.0';
export const MAC_E = '52:54:00:12:34:56';
/** The address an administrator assigned to the VF on the PF. */
export const MAC_V = '52:54:00:12:34:58';

export interface IgbvfBench {
  kernel: FakeKernel;
  hub: EthernetHub;
  ctx: DmaContext;
  pool: PacketPool;
  eModel: E1000eModel;
  vModel: IgbvfModel;
  /** The e1000e port. */
  e: PortBase;
  /** The igbvf port. */
  v: PortBase;
}

let benches: IgbvfBench[] = [];
let kernels: FakeKernel[] = [];

/** Disposes `kernel` after the test (after checking it). */
export function trackKernel(kernel: FakeKernel): FakeKernel {
  kernels.push(kernel);
  return kernel;
}

/** The pair, opened with openPort (`v` options for the VF's port, `model` for its model; the VF has MAC_V assigned unless `model.mac` says otherwise). */
export function igbvfBench(opts: { v?: IgbvfPortOptions; e?: IgbvfPortOptions; model?: IgbvfModelOptions; poolSize?: number } = {}): IgbvfBench {
  const kernel = trackKernel(new FakeKernel({ memlockLimit: 512 << 20 }));
  const eModel = new E1000eModel({ mac: MAC_E });
  const vModel = new IgbvfModel({ mac: MAC_V, ...opts.model });
  const hub = wire(eModel, vModel);
  kernel.addDevice(E_ADDR, eModel);
  kernel.addDevice(V_ADDR, vModel);
  const ctx = openContext(kernel.options);
  const devE = ctx.openDevice(E_ADDR);
  const devV = ctx.openDevice(V_ADDR);
  const pool = PacketPool.create(ctx, { count: opts.poolSize ?? 4096 });
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
export function cleanUpIgbvf(): void {
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
