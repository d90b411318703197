/**
 * The fake's edu model where it must match QEMU 7.2 beyond what the conformance suite can
 * try on the real device: a transfer that reaches the last byte of edu's 4 KiB buffer
 * aborts the whole VM there (hw_error), so the model refuses it and says why.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { openDevice, type Device } from '../../src/index.js';

const EDU = '0000:00:02.0';
const DMA_SRC = 0x80, DMA_DST = 0x88, DMA_COUNT = 0x90, DMA_CMD = 0x98;
const DMA_START = 0x1;
const DEV_BUF = 0x40000;

let kernel: FakeKernel;
let model: EduModel;
let dev: Device;

beforeEach(() => {
  kernel = new FakeKernel();
  model = new EduModel({ dmaDelayMs: 0 });
  kernel.addDevice(EDU, model);
  dev = openDevice(EDU, kernel.options);
  dev.config.setBusMaster(true);
});

afterEach(() => {
  dev.close();
  kernel.dispose();
});

/** RAM → edu's buffer at `dst`, `count` bytes; resolves when the engine is idle again. */
async function toDevice(dst: number, count: number): Promise<void> {
  const buf = dev.allocDma(8192, { dmaBits: 28 });
  const bar = dev.bar(0);
  bar.write64(DMA_SRC, BigInt(buf.iova));
  bar.write64(DMA_DST, BigInt(dst));
  bar.write64(DMA_COUNT, BigInt(count));
  bar.write64(DMA_CMD, BigInt(DMA_START));
  for (let i = 0; i < 1000 && (bar.read32(DMA_CMD) & DMA_START) !== 0; i++) await new Promise((r) => setTimeout(r, 1));
  expect(bar.read32(DMA_CMD) & DMA_START).toBe(0);
}

describe('edu DMA range, as QEMU 7.2 checks it', () => {
  it('takes a transfer that ends before the buffer\'s last byte', async () => {
    await toDevice(DEV_BUF, 4095);
    await toDevice(DEV_BUF + 100, 3995);
    expect(model.errors).toEqual([]);
  });

  it('refuses one that reaches the last byte (QEMU 7.2 aborts the VM), naming why', async () => {
    await toDevice(DEV_BUF, 4096);
    await toDevice(DEV_BUF + 4095, 1);
    expect(model.errors).toHaveLength(2);
    for (const e of model.errors) expect(e).toMatch(/outside the device buffer \(QEMU 7\.2 would abort the VM\)/);
  });

  it('refuses an empty transfer, as QEMU does', async () => {
    await toDevice(DEV_BUF, 0);
    expect(model.errors).toHaveLength(1);
  });
});
