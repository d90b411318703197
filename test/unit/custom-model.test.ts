/**
 * How to test a driver with no hardware: write a model of your device, plug it
 * into the fake kernel, and drive it through the same API as the real thing.
 * The README points here. The device: a "doorbell counter" with one 4 KiB BAR.
 *   0x00 COUNT     reads the number of doorbell writes
 *   0x04 DOORBELL  any write counts one, and raises MSI vector 0
 *   0x08 DEST      IOVA where STORE writes COUNT (little-endian u32)
 *   0x0c STORE     writing 1 DMAs COUNT to DEST
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openDevice } from '../../src/index.js';
import { ConfigBuilder, FakeKernel, type DeviceBus, type DeviceModel } from '../../src/backend/fake/index.js';

class DoorbellCounter implements DeviceModel {
  readonly config = new ConfigBuilder({ vendor: 0x1d0f, device: 0xc0de, classCode: 0x058000 }).msi().build();
  readonly bars = [{ size: 4096 }];
  count = 0;
  #dest = 0;
  #bus!: DeviceBus;

  attach(bus: DeviceBus): void {
    this.#bus = bus;
  }
  read(_bar: number, offset: number): number {
    return offset === 0x00 ? this.count : offset === 0x08 ? this.#dest : 0;
  }
  write(_bar: number, offset: number, _width: number, value: number | bigint): void {
    if (offset === 0x04) {
      this.count++;
      this.#bus.raiseIrq(0);
    } else if (offset === 0x08) {
      this.#dest = Number(value);
    } else if (offset === 0x0c && value === 1) {
      const bytes = new Uint8Array(4);
      new DataView(bytes.buffer).setUint32(0, this.count, true);
      this.#bus.dmaWrite(this.#dest, bytes); // false (and a recorded fault) if not mapped
    }
  }
}

let kernel: FakeKernel;
afterEach(() => kernel?.dispose());

describe('a driver tested against a model of its device', () => {
  it('counts doorbells, interrupts, and DMAs the count into mapped memory', async () => {
    kernel = new FakeKernel();
    const model = new DoorbellCounter();
    kernel.addDevice('0000:00:05.0', model);

    const dev = openDevice('0000:00:05.0', kernel.options);
    dev.config.setBusMaster(true);
    const bar = dev.bar(0);
    const irq = dev.enableInterrupts('msi');
    const out = dev.allocDma(4096);

    const interrupted = irq.vector.wait(1000);
    bar.write32(0x04, 1);
    bar.write32(0x04, 1);
    expect(await interrupted).toBeGreaterThanOrEqual(1);
    expect(bar.read32(0x00)).toBe(2);

    bar.write32(0x08, out.iova);
    bar.write32(0x0c, 1);
    expect(new DataView(out.buffer).getUint32(0, true)).toBe(2);

    // A DMA to memory the driver never mapped is an IOMMU fault the test can see.
    bar.write32(0x08, 0x7000_0000);
    bar.write32(0x0c, 1);
    expect(kernel.faults).toEqual([{ device: '0000:00:05.0', iova: 0x7000_0000, length: 4, write: true, reason: 'not mapped' }]);

    dev.close();
    expect(out.freed).toBe(true);
    expect(kernel.openFds).toBe(0);
  });

  it('sysfs discovery sees the model like a real device', async () => {
    kernel = new FakeKernel();
    kernel.addDevice('0000:00:05.0', new DoorbellCounter(), { group: 9 });
    const { readPciDevice } = await import('../../src/index.js');
    expect(readPciDevice('0000:00:05.0', kernel.options)).toMatchObject({ vendor: 0x1d0f, device: 0xc0de, driver: 'vfio-pci', iommuGroup: 9 });
  });
});
