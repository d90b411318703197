/**
 * QEMU's edu device driven through the real kernel's VFIO (in the guest).
 * Register map: QEMU docs/specs/edu.rst.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { openDevice, VfioError, type Device, type Region } from '../../src/index.js';
import { PCI_CAP_ID_MSI, PCI_COMMAND_MASTER } from '../../src/uapi/pci-regs.js';
import { soloEdu, until, openFds, sleep } from './guest.js';

const ID = 0x00, LIVENESS = 0x04, FACTORIAL = 0x08, STATUS = 0x20, IRQ_STATUS = 0x24, IRQ_RAISE = 0x60, IRQ_ACK = 0x64;
const DMA_SRC = 0x80, DMA_DST = 0x88, DMA_COUNT = 0x90, DMA_CMD = 0x98;
const STATUS_COMPUTING = 0x01, STATUS_IRQ_FACT = 0x80;
const DMA_START = 0x1, DMA_TO_RAM = 0x2, DMA_IRQ = 0x4;
const DEV_BUF = 0x40000;
// QEMU 7.2's edu aborts the whole VM on a transfer that ends at its buffer's last byte
// (an off-by-one in its range check): keep transfers inside the first half.
const XFER = 2048;
const EDU_DMA_BITS = 28;

let dev: Device;
let bar: Region;
const address = soloEdu().address;

beforeAll(() => {
  dev = openDevice(address);
  bar = dev.bar(0);
});
afterAll(() => dev?.close());

async function dma(src: number, dst: number, count: number, toRam: boolean): Promise<void> {
  bar.write64(DMA_SRC, BigInt(src));
  bar.write64(DMA_DST, BigInt(dst));
  bar.write64(DMA_COUNT, BigInt(count));
  bar.write64(DMA_CMD, BigInt(DMA_START | (toRam ? DMA_TO_RAM : 0)));
  await until('edu DMA completion', () => (bar.read32(DMA_CMD) & DMA_START) === 0);
}

describe('edu registers through the mapped BAR', () => {
  it('opens through the container with the Type1v2 IOMMU and reports its IOVA ranges', () => {
    expect(dev.container.iommuType).toBe('Type1v2');
    expect(dev.container.iommuInfo?.iovaRanges?.length).toBeGreaterThan(0);
    expect(dev.info.numRegions).toBeGreaterThanOrEqual(9);
    expect(bar.size).toBe(1 << 20);
    expect(bar.mappedAreas.length).toBeGreaterThan(0);
  });
  it('reads the identification register', () => {
    expect(bar.read32(ID)).toBe(0x010000ed);
  });
  it('inverts what is written to the liveness register', () => {
    for (const v of [0, 0x12345678, 0xffffffff, 0xa5a5a5a5]) {
      bar.write32(LIVENESS, v);
      expect(bar.read32(LIVENESS)).toBe(~v >>> 0);
    }
  });
  it('computes a factorial', async () => {
    bar.write32(FACTORIAL, 10);
    await until('factorial', () => (bar.read32(STATUS) & STATUS_COMPUTING) === 0);
    expect(bar.read32(FACTORIAL)).toBe(3628800);
  });
});

describe('config space', () => {
  it('has the edu ids and an MSI capability', () => {
    expect(dev.config.vendorId).toBe(0x1234);
    expect(dev.config.deviceId).toBe(0x11e8);
    expect(dev.config.capabilities().map((c) => c.id)).toContain(PCI_CAP_ID_MSI);
  });
  it('sets and clears Bus Master Enable', () => {
    expect(dev.config.setBusMaster(false) & PCI_COMMAND_MASTER).toBe(0);
    expect(dev.config.setBusMaster(true) & PCI_COMMAND_MASTER).toBe(PCI_COMMAND_MASTER);
  });
});

describe('MSI through an eventfd', () => {
  it('arrives as a JS event when the raise-irq register is written', async () => {
    dev.config.setBusMaster(true);
    const irq = dev.enableInterrupts('msi');
    try {
      const seen: number[] = [];
      irq.vector.on('interrupt', (n) => seen.push(n));
      const next = irq.vector.wait(20_000);
      bar.write32(IRQ_RAISE, 0x1234);
      expect(await next).toBeGreaterThanOrEqual(1);
      expect(seen.length).toBe(1);
      expect(bar.read32(IRQ_STATUS)).toBe(0x1234);
      bar.write32(IRQ_ACK, 0x1234);
      expect(bar.read32(IRQ_STATUS)).toBe(0);
    } finally {
      irq.disable();
    }
  });
  it('arrives on factorial completion, and through the async iterator', async () => {
    const irq = dev.enableInterrupts('msi');
    try {
      bar.write32(STATUS, STATUS_IRQ_FACT);
      const it = irq.vector[Symbol.asyncIterator]();
      const first = it.next();
      bar.write32(FACTORIAL, 5);
      expect((await first).value).toBeGreaterThanOrEqual(1);
      expect(bar.read32(FACTORIAL)).toBe(120);
      expect(bar.read32(IRQ_STATUS) & 0x1).toBe(0x1);
      bar.write32(IRQ_ACK, 0x1);
      await it.return?.();
    } finally {
      bar.write32(STATUS, 0);
      irq.disable();
    }
  });
  it('a disabled vector rejects its waiters instead of hanging them', async () => {
    const irq = dev.enableInterrupts('msi');
    const pending = irq.vector.wait();
    irq.disable();
    await expect(pending).rejects.toMatchObject({ code: 'ERR_VFIO_CLOSED' });
    expect(dev.interrupts).toBeNull();
  });
});

describe('INTx through an eventfd', () => {
  it('delivers, stays masked until unmasked, then delivers again', async () => {
    dev.config.setBusMaster(true);
    const irq = dev.enableInterrupts('intx');
    try {
      const first = irq.vector.wait(20_000);
      bar.write32(IRQ_RAISE, 0x2);
      expect(await first).toBeGreaterThanOrEqual(1);
      bar.write32(IRQ_ACK, 0x2);
      // The kernel masked the line on delivery; a new cause is only signalled after unmask.
      irq.unmask();
      const second = irq.vector.wait(20_000);
      bar.write32(IRQ_RAISE, 0x4);
      expect(await second).toBeGreaterThanOrEqual(1);
      bar.write32(IRQ_ACK, 0x4);
      irq.unmask();
    } finally {
      irq.disable();
    }
  });
  it('refuses a second interrupt type while one is enabled', () => {
    const irq = dev.enableInterrupts('msi');
    try {
      expect(() => dev.enableInterrupts('intx')).toThrow(expect.objectContaining({ code: 'EBUSY' }));
      expect(() => irq.unmask()).toThrow(/only INTx/);
    } finally {
      irq.disable();
    }
  });
});

describe('DMA through the IOMMU', () => {
  it('copies RAM -> device -> RAM through mapped buffers', async () => {
    dev.config.setBusMaster(true);
    const a = dev.allocDma(4096, { dmaBits: EDU_DMA_BITS });
    const b = dev.allocDma(4096, { dmaBits: EDU_DMA_BITS });
    try {
      expect(a.iova + a.size).toBeLessThanOrEqual(2 ** EDU_DMA_BITS);
      const src = a.bytes;
      for (let i = 0; i < src.length; i++) src[i] = (i * 7 + 3) & 0xff;
      await dma(a.iova, DEV_BUF, XFER, false);
      await dma(DEV_BUF, b.iova, XFER, true);
      expect(Buffer.from(b.bytes.subarray(0, XFER)).equals(Buffer.from(src.subarray(0, XFER)))).toBe(true);
      expect(b.bytes.subarray(XFER).every((x) => x === 0)).toBe(true);
    } finally {
      a.free();
      b.free();
    }
  });
  it('raises an MSI on DMA completion', async () => {
    const a = dev.allocDma(4096, { dmaBits: EDU_DMA_BITS });
    const irq = dev.enableInterrupts('msi');
    try {
      const next = irq.vector.wait(20_000);
      bar.write64(DMA_SRC, BigInt(a.iova));
      bar.write64(DMA_DST, BigInt(DEV_BUF));
      bar.write64(DMA_COUNT, 64n);
      bar.write64(DMA_CMD, BigInt(DMA_START | DMA_IRQ));
      await next;
      expect(bar.read32(IRQ_STATUS) & 0x100).toBe(0x100);
      bar.write32(IRQ_ACK, 0x100);
    } finally {
      irq.disable();
      a.free();
    }
  });
  it('a DMA aimed at an unmapped IOVA does not land in memory, and the IOMMU reports it', async () => {
    // Memory that stays allocated but is no longer mapped: the backend's own calls.
    const { backend } = dev.container;
    const fd = dev.container.fd;
    const mem = backend.dmaAlloc(4096, 'never');
    const bytes = new Uint8Array(mem.buffer);
    bytes.fill(0x5a);
    const iova = 0x0ff00000; // below 2^28, away from what the allocator hands out first
    backend.dmaMap(fd, mem.buffer, 0, 4096, BigInt(iova), 3);
    expect(backend.dmaUnmap(fd, BigInt(iova), 4096n, 0)).toBe(4096n);
    // Fill the device buffer with something else, then aim it at the stale IOVA.
    const src = dev.allocDma(4096, { dmaBits: EDU_DMA_BITS });
    src.bytes.fill(0xc3);
    await dma(src.iova, DEV_BUF, XFER, false);
    await dma(DEV_BUF, iova, XFER, true);
    await sleep(50);
    expect(bytes.every((x) => x === 0x5a)).toBe(true);
    const log = execFileSync('dmesg', { encoding: 'utf8' });
    expect(log).toMatch(new RegExp(`DMAR: \\[DMA Write[^\\n]*\\n?[^\\n]*fault addr 0x?0*${iova.toString(16)}`, 'i'));
    backend.dmaFree(mem.buffer);
    // The device still works for mapped memory afterwards.
    const dst = dev.allocDma(4096, { dmaBits: EDU_DMA_BITS });
    await dma(DEV_BUF, dst.iova, XFER, true);
    expect(dst.bytes.subarray(0, XFER).every((x) => x === 0xc3)).toBe(true);
    src.free();
    dst.free();
  });
  it('unmaps on free: the buffer detaches and its IOVA is reused', () => {
    const a = dev.allocDma(4096, { dmaBits: EDU_DMA_BITS });
    const view = a.bytes;
    const iova = a.iova;
    a.free();
    expect(a.freed).toBe(true);
    expect(view.length).toBe(0);
    expect(() => a.bytes).toThrow(VfioError);
    expect(() => a.iovaAt(0)).toThrow(/closed/);
    expect(dev.container.dmaBuffers).not.toContain(a);
    const b = dev.allocDma(4096, { dmaBits: EDU_DMA_BITS });
    expect(b.iova).toBe(iova);
    b.free();
    a.free(); // idempotent
  });
  it('refuses memory the kernel cannot map, with the step named', () => {
    const { backend } = dev.container;
    const mem = backend.dmaAlloc(8192, 'never');
    // Unaligned IOVA: the kernel's EINVAL, through the backend.
    expect(() => backend.dmaMap(dev.container.fd, mem.buffer, 0, 4096, 0x12345n, 3)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    // Mapped memory cannot be freed until it is unmapped.
    backend.dmaMap(dev.container.fd, mem.buffer, 0, 4096, 0x0fe00000n, 3);
    expect(() => backend.dmaFree(mem.buffer)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    expect(() => backend.dmaMap(dev.container.fd, mem.buffer, 0, 4096, 0x0fe00000n, 3)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    backend.dmaUnmap(dev.container.fd, 0x0fe00000n, 4096n, 0);
    backend.dmaFree(mem.buffer);
  });
});

describe('bad input on a real device', () => {
  it('register access past the BAR end or misaligned is a RangeError', () => {
    expect(() => bar.read32(bar.size)).toThrow(RangeError);
    expect(() => bar.write32(bar.size - 2, 0)).toThrow(RangeError);
    expect(() => bar.read32(0x2)).toThrow(/aligned/);
    expect(() => dev.bar(1)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_NO_REGION' }));
  });
  it('edu has no reset method: reset() says so', () => {
    expect(dev.canReset).toBe(false);
    expect(() => dev.reset()).toThrow(VfioError);
  });
});

describe('close and reopen', () => {
  it('releases every fd and mapping, and the device opens again', async () => {
    dev.close();
    await sleep(20);
    expect(() => bar.read32(ID)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_CLOSED' }));
    const before = openFds();
    for (let round = 0; round < 3; round++) {
      const d = openDevice(address);
      d.config.setBusMaster(true);
      expect(d.bar(0).read32(ID)).toBe(0x010000ed);
      const buf = d.allocDma(8192, { dmaBits: EDU_DMA_BITS });
      const irq = d.enableInterrupts('msi');
      const next = irq.vector.wait(20_000);
      d.bar(0).write32(IRQ_RAISE, 1);
      await next;
      d.bar(0).write32(IRQ_ACK, 1);
      d.close();
      expect(buf.freed).toBe(true);
      expect(irq.disabled).toBe(true);
      await sleep(20);
      expect(openFds()).toBe(before);
    }
    dev = openDevice(address);
    bar = dev.bar(0);
    expect(bar.read32(ID)).toBe(0x010000ed);
  });
});
