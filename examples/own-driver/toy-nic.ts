/**
 * A toy NIC for the fake kernel, small enough to read in a minute: one receive slot and one
 * transmit slot instead of descriptor rings, and a wire that loops every sent frame back to
 * its own receive slot. Registers (BAR0, 32-bit):
 *
 *   0x00 TX_ADDR_LO, 0x04 TX_ADDR_HI   where the frame to send is (an IOVA)
 *   0x08 TX_LEN                        writing the length sends the frame (read by DMA)
 *   0x10 RX_ADDR_LO, 0x14 RX_ADDR_HI   where to put the next received frame
 *   0x18 RX_LEN                        its length once received; the driver writes 0 to re-arm
 *
 * A frame that arrives while the slot is full is dropped (counted in `dropped`).
 */
import { ConfigBuilder, type DeviceBus, type DeviceModel } from 'vfio/fake';

export const TOY_VENDOR = 0x1d0f;
export const TOY_DEVICE = 0x70e1;

export class ToyNic implements DeviceModel {
  readonly config = new ConfigBuilder({ vendor: TOY_VENDOR, device: TOY_DEVICE, classCode: 0x020000 }).build();
  readonly bars = [{ size: 4096 }];
  readonly regs = new Uint32Array(8);
  dropped = 0;
  #bus: DeviceBus | null = null;

  attach(bus: DeviceBus): void {
    this.#bus = bus;
  }

  read(_bar: number, offset: number): number {
    return this.regs[offset >> 2] ?? 0;
  }

  write(_bar: number, offset: number, _width: number, value: number | bigint): void {
    this.regs[offset >> 2] = Number(value);
    if (offset === 0x08) this.#send(this.regs[0]! + this.regs[1]! * 2 ** 32, Number(value));
  }

  #send(iova: number, length: number): void {
    const frame = this.#bus!.dmaRead(iova, length);
    if (!frame) return; // the kernel recorded a fault
    if (this.regs[6] !== 0) {
      this.dropped++; // the receive slot is still full
      return;
    }
    if (this.#bus!.dmaWrite(this.regs[4]! + this.regs[5]! * 2 ** 32, frame)) this.regs[6] = length;
  }
}
