/**
 * A driver for the toy NIC (toy-nic.ts) on the port interface of vfio/net. PortBase brings
 * waiting, link events, counters and the closed state; a driver adds its rings (here, one
 * slot each way) and hands buffer ids between the pool and the NIC:
 *  - receive: the slot holds a pool buffer; when a frame is in it, that id goes to the app and
 *    a fresh one from the pool takes its place (zero-copy);
 *  - transmit: the app's id goes to the NIC, and back to the pool once sent.
 * Real NICs use descriptor rings in DMA memory so that a burst costs one register write
 * (see src/net/e1000e/port.ts); this toy reads a register per frame.
 */
import type { Device, Region } from 'vfio';
import { BufferOwner, PacketPool, PortBase } from 'vfio/net';

const TX_ADDR_LO = 0x00;
const TX_ADDR_HI = 0x04;
const TX_LEN = 0x08;
const RX_ADDR_LO = 0x10;
const RX_ADDR_HI = 0x14;
const RX_LEN = 0x18;

export class ToyPort extends PortBase {
  readonly driver = 'toy';
  readonly mac = Uint8Array.of(0x02, 0, 0, 0, 0, 0x01);
  readonly pool: PacketPool;
  readonly rxSize = 1;
  readonly txSize = 1;
  readonly maxFrame = 2048;
  readonly interruptKind = 'none' as const;
  readonly speed = 1000;
  readonly txInFlight = 0; // the toy sends at once
  promiscuous = true;
  #bar: Region;
  #rxId: number;

  constructor(device: Device) {
    super(device);
    device.config.setBusMaster(true);
    this.#bar = device.bar(0);
    this.pool = PacketPool.create(device, { count: 64 });
    this.#rxId = this.#arm(this.pool.takeForNic());
    this.initRxMode('poll');
  }

  /** Points the receive slot at buffer `id` and empties it. */
  #arm(id: number): number {
    this.#bar.write32(RX_ADDR_LO, this.pool.iovaLo[id]!);
    this.#bar.write32(RX_ADDR_HI, this.pool.iovaHi[id]!);
    this.#bar.write32(RX_LEN, 0);
    return id;
  }

  rxReady(): boolean {
    return !this.closed && this.#bar.read32(RX_LEN) !== 0;
  }

  rxBurst(ids: Uint32Array, max: number, start = 0): number {
    this.checkOpen('rxBurst');
    const length = this.#bar.read32(RX_LEN);
    if (max < 1 || length === 0) return 0;
    const fresh = this.pool.takeForNic();
    if (fresh < 0) return 0; // no buffer to put in its place: the frame waits
    const id = this.#rxId;
    this.pool.owner[id] = BufferOwner.APP; // the app's now
    this.pool.length[id] = length;
    this.counters.rx.frames++;
    this.counters.rx.bytes += length;
    this.#rxId = this.#arm(fresh);
    ids[start] = id;
    return 1;
  }

  txBurst(ids: Uint32Array, count: number, start = 0): number {
    this.checkOpen('txBurst');
    for (let k = start; k < start + count; k++) {
      const id = ids[k]!;
      if (this.pool.owner[id] !== BufferOwner.APP) throw this.pool.ownershipError(id, 'ToyPort.txBurst', this.address);
      this.pool.owner[id] = BufferOwner.NIC;
      this.#bar.write32(TX_ADDR_LO, this.pool.iovaLo[id]!);
      this.#bar.write32(TX_ADDR_HI, this.pool.iovaHi[id]!);
      this.#bar.write32(TX_LEN, this.pool.length[id]!); // sends it
      this.pool.releaseFromNic(id); // sent: back to the pool
      this.counters.tx.frames++;
      this.counters.tx.bytes += this.pool.length[id]!;
    }
    return count;
  }

  protected readLink(): boolean {
    return true;
  }
  protected armRxInterrupt(): void {}
  protected disarmRxInterrupt(): void {}
  protected readHwStats(): Record<string, number> {
    return {};
  }

  close(): void {
    if (this.closed) return;
    this.device.config.setBusMaster(false); // no DMA from here on
    this.markClosed();
    this.pool.releaseFromNic(this.#rxId);
    this.pool.close();
  }
}
