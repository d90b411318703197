/**
 * Two 82574 models wired by a fake hub, each opened as an E1000ePort: what the e1000e tests on
 * the fake kernel share (test/unit/e1000e-driver.test.ts, net-e1000e-pool.test.ts).
 */
import { afterEach, expect } from 'vitest';
import { openDevice, type Device } from '../../src/index.js';
import { FakeKernel } from '../../src/backend/fake/index.js';
import { E1000eModel, type E1000eModelOptions } from '../../src/backend/fake/models/e1000e.js';
import { wire, type EthernetHub } from '../../src/backend/fake/models/ethernet.js';
import { E1000ePort, type PortOptions } from '../../src/net/index.js';
import { stamp, testFrame } from '../../src/net/apps/frames.js';

export const A_ADDR = '0000:00:03.0';
export const B_ADDR = '0000:00:06.0';
export const MAC_A = '52:54:00:12:34:56';
export const MAC_B = '52:54:00:12:34:59';

export interface Bench {
  kernel: FakeKernel;
  hub: EthernetHub;
  modelA: E1000eModel;
  modelB: E1000eModel;
  devA: Device;
  devB: Device;
  a: E1000ePort;
  b: E1000ePort;
}

let benches: Bench[] = [];
let kernels: FakeKernel[] = [];

/** Disposes `kernel` after the test, with the pairs' kernels. */
export function track(kernel: FakeKernel): FakeKernel {
  kernels.push(kernel);
  return kernel;
}

export function bench(opts: { a?: PortOptions; b?: PortOptions; model?: E1000eModelOptions } = {}): Bench {
  const kernel = new FakeKernel();
  kernels.push(kernel);
  const modelA = new E1000eModel({ mac: MAC_A, ...opts.model });
  const modelB = new E1000eModel({ mac: MAC_B, ...opts.model });
  const hub = wire(modelA, modelB);
  kernel.addDevice(A_ADDR, modelA);
  kernel.addDevice(B_ADDR, modelB);
  const devA = openDevice(A_ADDR, kernel.options);
  const devB = openDevice(B_ADDR, kernel.options);
  const a = E1000ePort.open(devA, { rxDescriptors: 64, txDescriptors: 64, ...opts.a });
  const b = E1000ePort.open(devB, { rxDescriptors: 64, txDescriptors: 64, promiscuous: true, ...opts.b });
  const bn = { kernel, hub, modelA, modelB, devA, devB, a, b };
  benches.push(bn);
  return bn;
}

/** Registers the checks and clean-up after each test of the file that calls it. */
export function cleanUpPairs(): void {
  afterEach(() => {
    for (const bn of benches) {
      for (const p of [bn.a, bn.b]) p.close();
      bn.devA.close();
      bn.devB.close();
      expect(bn.kernel.faults).toEqual([]);
      expect(bn.modelA.errors).toEqual([]);
      expect(bn.modelB.errors).toEqual([]);
      expect(bn.kernel.openFds).toBe(0);
    }
    for (const k of kernels) k.dispose();
    benches = [];
    kernels = [];
  });
}

/** Takes what is in the ring: calls `fn` with each frame's bytes and length, then frees the buffers. */
export function take(port: E1000ePort, fn: (data: Uint8Array, length: number) => void = () => {}, max = 64): number {
  const ids = new Uint32Array(max);
  const n = port.rxBurst(ids, max);
  for (let i = 0; i < n; i++) fn(port.pool.data[ids[i]!]!, port.pool.length[ids[i]!]!);
  port.pool.free(ids, n);
  return n;
}

/** Copies frames into pool buffers and queues them; returns how many the ring took (the rest are freed). */
export function send(port: E1000ePort, frames: Uint8Array[], count = frames.length, start = 0): number {
  const ids = new Uint32Array(count);
  const got = port.pool.alloc(ids, count);
  for (let i = 0; i < got; i++) port.pool.write(ids[i]!, frames[start + i]!);
  let n = 0;
  try {
    n = port.txBurst(ids, got);
  } finally {
    port.pool.free(ids, got - n, n);
  }
  return n;
}

/** `count` test frames of `size` bytes, numbered 0, 1, … */
export function numbered(count: number, size: number, dst: Uint8Array, src: Uint8Array): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const f = testFrame(size, dst, src, 42);
    stamp(f, i);
    return f;
  });
}
