/**
 * A driver for QEMU's "edu" teaching device (1234:11e8), written against the
 * device's specification (QEMU docs/specs/edu.rst). BAR0 is a 1 MiB MMIO region.
 */
import { openDevice, type Device, type DmaBuffer, type InterruptSet, type OpenOptions, type Region } from 'vfio';

// BAR0 registers (edu.rst, "MMIO area spec").
export const REG = {
  ID: 0x00, // 0xRRrr00edu: major/minor version, then 0xed
  LIVENESS: 0x04, // reads back the bitwise NOT of what was written
  FACTORIAL: 0x08, // write n, read n! once STATUS.COMPUTING clears
  STATUS: 0x20,
  IRQ_STATUS: 0x24,
  IRQ_RAISE: 0x60,
  IRQ_ACK: 0x64,
  DMA_SRC: 0x80,
  DMA_DST: 0x88,
  DMA_COUNT: 0x90,
  DMA_CMD: 0x98,
} as const;
const STATUS_COMPUTING = 0x01;
const STATUS_IRQ_ON_FACTORIAL = 0x80;
const DMA_CMD_START = 0x1;
const DMA_CMD_TO_RAM = 0x2; // direction: 0 = RAM -> device, 1 = device -> RAM
const DMA_CMD_IRQ = 0x4;
const IRQ_DMA_DONE = 0x100;
/** The device's 4 KiB DMA buffer, addressed from the device side. */
export const DEVICE_BUFFER = 0x40000;
export const DEVICE_BUFFER_SIZE = 4096;
/**
 * QEMU 7.2's edu aborts the VM on a transfer that reaches its buffer's last byte (an
 * off-by-one in its range check); later QEMUs accept the full 4 KiB.
 */
export const SAFE_TRANSFER = 2048;
/** edu masks DMA addresses to 28 bits unless QEMU is told otherwise. */
export const DMA_BITS = 28;

export class Edu {
  readonly device: Device;
  readonly bar: Region;
  readonly irq: InterruptSet;

  private constructor(device: Device) {
    this.device = device;
    this.bar = device.bar(0);
    const id = this.bar.read32(REG.ID);
    if ((id & 0xff) !== 0xed) throw new Error(`${device.address}: not an edu device (ID register 0x${id.toString(16)})`);
    // DMA and MSI both need Bus Master Enable.
    device.config.setBusMaster(true);
    this.irq = device.enableInterrupts('msi');
  }

  static open(address: string, options?: OpenOptions): Edu {
    const device = openDevice(address, options);
    try {
      return new Edu(device);
    } catch (e) {
      device.close();
      throw e;
    }
  }

  get version(): string {
    const id = this.bar.read32(REG.ID);
    return `${id >>> 24}.${(id >>> 16) & 0xff}`;
  }

  isAlive(): boolean {
    const probe = 0x5a5aa5a5;
    this.bar.write32(REG.LIVENESS, probe);
    return this.bar.read32(REG.LIVENESS) === (~probe >>> 0);
  }

  /** n! computed by the device; completion arrives as an MSI. */
  async factorial(n: number): Promise<number> {
    this.bar.write32(REG.STATUS, STATUS_IRQ_ON_FACTORIAL);
    const done = this.irq.vector.wait(10_000);
    this.bar.write32(REG.FACTORIAL, n);
    await done;
    this.ack();
    if (this.bar.read32(REG.STATUS) & STATUS_COMPUTING) throw new Error('edu: interrupt before the factorial finished');
    return this.bar.read32(REG.FACTORIAL);
  }

  /** Raises an interrupt by hand; resolves when it arrives. Returns the eventfd count. */
  async raise(value: number): Promise<number> {
    const next = this.irq.vector.wait(10_000);
    this.bar.write32(REG.IRQ_RAISE, value);
    const count = await next;
    this.ack();
    return count;
  }

  /** Copies `length` bytes between a DMA buffer and the device's buffer; resolves on the DMA-done MSI. */
  async dma(direction: 'toDevice' | 'toRam', buffer: DmaBuffer, length = SAFE_TRANSFER): Promise<void> {
    if (length > DEVICE_BUFFER_SIZE || length > buffer.size) throw new RangeError(`edu.dma: at most ${DEVICE_BUFFER_SIZE} bytes`);
    const ram = BigInt(buffer.iova);
    const dev = BigInt(DEVICE_BUFFER);
    this.bar.write64(REG.DMA_SRC, direction === 'toDevice' ? ram : dev);
    this.bar.write64(REG.DMA_DST, direction === 'toDevice' ? dev : ram);
    this.bar.write64(REG.DMA_COUNT, BigInt(length));
    const done = this.irq.vector.wait(10_000);
    this.bar.write64(REG.DMA_CMD, BigInt(DMA_CMD_START | DMA_CMD_IRQ | (direction === 'toRam' ? DMA_CMD_TO_RAM : 0)));
    await done;
    this.ack();
  }

  allocDma(size = DEVICE_BUFFER_SIZE): DmaBuffer {
    return this.device.allocDma(size, { dmaBits: DMA_BITS });
  }

  private ack(): void {
    const status = this.bar.read32(REG.IRQ_STATUS);
    if (status) this.bar.write32(REG.IRQ_ACK, status);
  }

  close(): void {
    this.bar.write32(REG.STATUS, 0);
    this.device.close();
  }
}
