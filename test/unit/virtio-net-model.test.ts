/**
 * The virtio-net model (src/backend/fake/models/virtio-net.ts) driven through the fake kernel
 * by hand: capabilities, the common configuration, status handshake and feature negotiation,
 * split rings written here byte by byte, frames through a hub, EVENT_IDX, ISR, reset, and a
 * driver's mistakes ending in `errors` (and DEVICE_NEEDS_RESET) rather than exceptions.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openDevice, type Device, type DmaBuffer, type Region } from '../../src/index.js';
import { FakeKernel } from '../../src/backend/fake/index.js';
import { E1000eModel } from '../../src/backend/fake/models/e1000e.js';
import { EthernetHub, FrameTap } from '../../src/backend/fake/models/ethernet.js';
import { QEMU_VIRTIO_NET_FEATURES, VirtioNetModel, type VirtioNetModelOptions } from '../../src/backend/fake/models/virtio-net.js';
import type { DeviceBus } from '../../src/backend/fake/model.js';
import { PCI_CAP_ID_EXP, PCI_CAP_ID_MSIX, PCI_CAP_ID_PM, PCI_CAP_ID_VNDR } from '../../src/uapi/pci-regs.js';
import {
  VIRTIO_CONFIG_S_ACKNOWLEDGE,
  VIRTIO_CONFIG_S_DRIVER,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_CONFIG_S_NEEDS_RESET,
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_RING_RESET,
  VIRTIO_F_VERSION_1,
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_NET_F_CSUM,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_STATUS,
  VIRTIO_PCI_CAP_BAR,
  VIRTIO_PCI_CAP_CFG_TYPE,
  VIRTIO_PCI_CAP_LEN,
  VIRTIO_PCI_CAP_LENGTH,
  VIRTIO_PCI_CAP_OFFSET,
  VIRTIO_PCI_COMMON_CFGGENERATION,
  VIRTIO_PCI_COMMON_DF,
  VIRTIO_PCI_COMMON_DFSELECT,
  VIRTIO_PCI_COMMON_GF,
  VIRTIO_PCI_COMMON_GFSELECT,
  VIRTIO_PCI_COMMON_MSIX,
  VIRTIO_PCI_COMMON_NUMQ,
  VIRTIO_PCI_COMMON_Q_AVAILLO,
  VIRTIO_PCI_COMMON_Q_DESCLO,
  VIRTIO_PCI_COMMON_Q_ENABLE,
  VIRTIO_PCI_COMMON_Q_MSIX,
  VIRTIO_PCI_COMMON_Q_NOFF,
  VIRTIO_PCI_COMMON_Q_RESET,
  VIRTIO_PCI_COMMON_Q_SELECT,
  VIRTIO_PCI_COMMON_Q_SIZE,
  VIRTIO_PCI_COMMON_Q_USEDLO,
  VIRTIO_PCI_COMMON_STATUS,
  VIRTIO_PCI_NOTIFY_CAP_MULT,
  VIRTIO_RING_F_EVENT_IDX,
  VRING_DESC_F_INDIRECT,
  VRING_DESC_F_NEXT,
  VRING_DESC_F_WRITE,
} from '../../src/uapi/virtio.js';

const ADDR = '0000:00:04.0';
const COMMON = 0x0000;
const ISR = 0x1000;
const DEVICE = 0x2000;
const NOTIFY = 0x3000;
const bit = (n: number): bigint => 1n << BigInt(n);
/** What a minimal driver accepts. */
const BASIC = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_ACCESS_PLATFORM) | bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_NET_F_STATUS);

let kernel: FakeKernel | undefined;
let dev: Device | undefined;

afterEach(() => {
  dev?.close();
  kernel?.dispose();
  dev = undefined;
  kernel = undefined;
});

interface Bench {
  model: VirtioNetModel;
  dev: Device;
  bar: Region;
  /** Vectors (MSI-X) or 0 (INTx) the model raised, in order, as seen on its DeviceBus. */
  raised: number[];
  kernel: FakeKernel;
}

function setup(options: VirtioNetModelOptions = {}): Bench {
  kernel = new FakeKernel();
  const model = new VirtioNetModel(options);
  const raised: number[] = [];
  // Spy on the bus the kernel hands the model, so interrupts can be counted synchronously.
  const attach = model.attach.bind(model);
  model.attach = (bus: DeviceBus) =>
    attach(
      new Proxy(bus, {
        get: (t, p) => (p === 'raiseIrq' ? (v = 0) => (raised.push(v), t.raiseIrq(v)) : Reflect.get(t, p)),
      }),
    );
  kernel.addDevice(ADDR, model);
  dev = openDevice(ADDR, kernel.options);
  dev.config.setBusMaster(true);
  return { model, dev, bar: dev.bar(4), raised, kernel };
}

/** The driver's status handshake up to FEATURES_OK; returns the status read back. */
function negotiate(b: Bench, features: bigint): number {
  const { bar } = b;
  bar.write8(COMMON + VIRTIO_PCI_COMMON_STATUS, 0);
  bar.write8(COMMON + VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
  bar.write8(COMMON + VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
  bar.write32(COMMON + VIRTIO_PCI_COMMON_GFSELECT, 0);
  bar.write32(COMMON + VIRTIO_PCI_COMMON_GF, Number(features & 0xffffffffn));
  bar.write32(COMMON + VIRTIO_PCI_COMMON_GFSELECT, 1);
  bar.write32(COMMON + VIRTIO_PCI_COMMON_GF, Number(features >> 32n));
  bar.write8(COMMON + VIRTIO_PCI_COMMON_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
  return bar.read8(COMMON + VIRTIO_PCI_COMMON_STATUS);
}

function driverOk(b: Bench): void {
  b.bar.write8(COMMON + VIRTIO_PCI_COMMON_STATUS, b.bar.read8(COMMON + VIRTIO_PCI_COMMON_STATUS) | VIRTIO_CONFIG_S_DRIVER_OK);
}

function deviceFeatures(bar: Region): bigint {
  bar.write32(COMMON + VIRTIO_PCI_COMMON_DFSELECT, 0);
  const lo = bar.read32(COMMON + VIRTIO_PCI_COMMON_DF);
  bar.write32(COMMON + VIRTIO_PCI_COMMON_DFSELECT, 1);
  return (BigInt(bar.read32(COMMON + VIRTIO_PCI_COMMON_DF)) << 32n) | BigInt(lo);
}

/** A split ring of `size` entries written by hand in one DMA buffer, with `bufSize`-byte buffers after it. */
class Ring {
  readonly mem: DmaBuffer;
  readonly v: DataView;
  readonly desc = 0;
  readonly avail: number;
  readonly used: number;
  readonly bufs: number;
  availIdx = 0;

  constructor(
    readonly b: Bench,
    readonly index: number,
    readonly size: number,
    readonly bufSize = 2048,
    vector = index,
  ) {
    this.avail = size * 16;
    this.used = (this.avail + 4 + 2 * size + 2 + 3) & ~3;
    this.bufs = (this.used + 4 + 8 * size + 2 + 4095) & ~4095;
    this.mem = b.dev.allocDma(this.bufs + size * bufSize);
    this.v = new DataView(this.mem.buffer);
    const bar = b.bar;
    bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_SELECT, index);
    bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_SIZE, size);
    bar.write64(COMMON + VIRTIO_PCI_COMMON_Q_DESCLO, BigInt(this.mem.iova + this.desc));
    bar.write64(COMMON + VIRTIO_PCI_COMMON_Q_AVAILLO, BigInt(this.mem.iova + this.avail));
    bar.write64(COMMON + VIRTIO_PCI_COMMON_Q_USEDLO, BigInt(this.mem.iova + this.used));
    bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_MSIX, vector);
    bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_ENABLE, 1);
  }

  /** IOVA of buffer i. */
  buf(i: number): number {
    return this.mem.iova + this.bufs + i * this.bufSize;
  }
  bytes(i: number, len: number): Uint8Array {
    return new Uint8Array(this.mem.buffer, this.bufs + i * this.bufSize, len);
  }

  setDesc(i: number, addr: number, len: number, flags = 0, next = 0): void {
    this.v.setBigUint64(this.desc + i * 16, BigInt(addr), true);
    this.v.setUint32(this.desc + i * 16 + 8, len, true);
    this.v.setUint16(this.desc + i * 16 + 12, flags, true);
    this.v.setUint16(this.desc + i * 16 + 14, next, true);
  }

  /** Makes chain `head` available (without notifying). */
  publish(...heads: number[]): void {
    for (const h of heads) {
      this.v.setUint16(this.avail + 4 + 2 * (this.availIdx % this.size), h, true);
      this.availIdx = (this.availIdx + 1) & 0xffff;
    }
    this.v.setUint16(this.avail + 2, this.availIdx, true);
  }

  kick(): void {
    this.b.bar.write16(NOTIFY + 4 * this.index, this.index);
  }

  get usedIdx(): number {
    return this.v.getUint16(this.used + 2, true);
  }
  usedElem(i: number): { id: number; len: number } {
    const at = this.used + 4 + 8 * (i % this.size);
    return { id: this.v.getUint32(at, true), len: this.v.getUint32(at + 4, true) };
  }
  set usedEvent(v: number) {
    this.v.setUint16(this.avail + 4 + 2 * this.size, v, true);
  }
  get availEvent(): number {
    return this.v.getUint16(this.used + 4 + 8 * this.size, true);
  }
  get usedFlags(): number {
    return this.v.getUint16(this.used, true);
  }
}

function frame(len: number, seed = 1): Uint8Array {
  const f = new Uint8Array(len);
  f.set([0x52, 0x54, 0x00, 0x12, 0x34, 0x57, 0x02, 0, 0, 0, 0, seed, 0x08, 0x00]);
  for (let i = 14; i < len; i++) f[i] = (i * 7 + seed) & 0xff;
  return f;
}

/** A running device with rx (queue 0) and tx (queue 1) rings and a FrameTap on its hub. */
function running(features = BASIC, options: VirtioNetModelOptions = {}, size = 8) {
  const b = setup(options);
  b.dev.enableInterrupts('msix', 4);
  expect(negotiate(b, features) & VIRTIO_CONFIG_S_FEATURES_OK).toBeTruthy();
  b.bar.write16(COMMON + VIRTIO_PCI_COMMON_MSIX, 3);
  const rx = new Ring(b, 0, size);
  const tx = new Ring(b, 1, size);
  driverOk(b);
  const tap = new FrameTap();
  const hub = new EthernetHub().attach(b.model, tap);
  return { ...b, rx, tx, tap, hub };
}

/** Posts a transmit chain: header descriptor + frame descriptor, from buffer `i`. */
function postTx(tx: Ring, i: number, f: Uint8Array): void {
  const head = 2 * (i % (tx.size / 2));
  tx.bytes(head, 12 + f.length).fill(0);
  tx.bytes(head, 12 + f.length).set(f, 12);
  tx.setDesc(head, tx.buf(head), 12, VRING_DESC_F_NEXT, head + 1);
  tx.setDesc(head + 1, tx.buf(head) + 12, f.length);
  tx.publish(head);
}

describe('virtio-net model: PCI', () => {
  it("looks like QEMU's virtio-net-pci,disable-legacy=on: ids, BAR1 MSI-X, BAR4 64-bit prefetchable 16 KiB", () => {
    const { dev } = setup();
    expect([dev.config.vendorId, dev.config.deviceId]).toEqual([0x1af4, 0x1041]);
    expect(dev.config.read8(0x08)).toBe(1); // revision 1: modern only
    expect(dev.config.read32(0x08) >>> 8).toBe(0x020000);
    expect([dev.config.read16(0x2c), dev.config.read16(0x2e)]).toEqual([0x1af4, 0x1100]);
    expect(dev.region(1).size).toBe(4096);
    expect(dev.region(4).size).toBe(16384);
    expect(dev.config.read32(0x20) & 0xf).toBe(0xc); // 64-bit, prefetchable
    expect([dev.irqInfo('msix').count, dev.irqInfo('msi').count]).toEqual([4, 0]);
    expect(dev.canReset).toBe(false); // no FLR, no PM on the root bus: only device_status = 0 resets
  });

  it('has the four structures in vendor capabilities at 0x40..0x70, the config window at 0x84, MSI-X at 0x98, linked newest first', () => {
    const { dev } = setup();
    const caps = dev.config.capabilities();
    expect(caps.map((c) => [c.id, c.offset])).toEqual([
      [PCI_CAP_ID_MSIX, 0x98],
      [PCI_CAP_ID_VNDR, 0x84],
      [PCI_CAP_ID_VNDR, 0x70],
      [PCI_CAP_ID_VNDR, 0x60],
      [PCI_CAP_ID_VNDR, 0x50],
      [PCI_CAP_ID_VNDR, 0x40],
    ]);
    const c = dev.config;
    const struct = (at: number) => [c.read8(at + VIRTIO_PCI_CAP_LEN), c.read8(at + VIRTIO_PCI_CAP_CFG_TYPE), c.read8(at + VIRTIO_PCI_CAP_BAR), c.read32(at + VIRTIO_PCI_CAP_OFFSET), c.read32(at + VIRTIO_PCI_CAP_LENGTH)];
    expect(struct(0x40)).toEqual([16, 1, 4, 0x0000, 0x1000]); // common
    expect(struct(0x50)).toEqual([16, 3, 4, 0x1000, 0x1000]); // ISR
    expect(struct(0x60)).toEqual([16, 4, 4, 0x2000, 0x1000]); // device
    expect(struct(0x70)).toEqual([20, 2, 4, 0x3000, 0x1000]); // notify
    expect(c.read32(0x70 + VIRTIO_PCI_NOTIFY_CAP_MULT)).toBe(4);
    expect(c.read8(0x84 + VIRTIO_PCI_CAP_CFG_TYPE)).toBe(5); // PCI config access
  });

  it('behind a PCIe root port (express): PCIe with FLR and PM first, the rest after them, resettable', () => {
    const { dev } = setup({ express: true });
    expect(dev.config.capabilities().map((c) => [c.id, c.offset])).toEqual([
      [PCI_CAP_ID_MSIX, 0xdc],
      [PCI_CAP_ID_VNDR, 0xc8],
      [PCI_CAP_ID_VNDR, 0xb4],
      [PCI_CAP_ID_VNDR, 0xa4],
      [PCI_CAP_ID_VNDR, 0x94],
      [PCI_CAP_ID_VNDR, 0x84],
      [PCI_CAP_ID_PM, 0x7c],
      [PCI_CAP_ID_EXP, 0x40],
    ]);
    expect(dev.canReset).toBe(true);
  });
});

describe('virtio-net model: configuration', () => {
  it("offers QEMU 7.2's features, three queues (256, 256, 64) notified at 4 * index, and the MAC and link in the device configuration", () => {
    const { bar } = setup({ mac: '02:00:00:00:00:07' });
    expect(deviceFeatures(bar)).toBe(QEMU_VIRTIO_NET_FEATURES);
    expect(bar.read16(COMMON + VIRTIO_PCI_COMMON_NUMQ)).toBe(3);
    const q = (i: number) => {
      bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_SELECT, i);
      return [bar.read16(COMMON + VIRTIO_PCI_COMMON_Q_SIZE), bar.read16(COMMON + VIRTIO_PCI_COMMON_Q_NOFF), bar.read16(COMMON + VIRTIO_PCI_COMMON_Q_MSIX), bar.read16(COMMON + VIRTIO_PCI_COMMON_Q_ENABLE)];
    };
    expect([q(0), q(1), q(2), q(3)]).toEqual([
      [256, 0, 0xffff, 0],
      [256, 1, 0xffff, 0],
      [64, 2, 0xffff, 0],
      [0, 3, 0xffff, 0],
    ]);
    expect(Array.from({ length: 6 }, (_, i) => bar.read8(DEVICE + i))).toEqual([2, 0, 0, 0, 0, 7]);
    expect(bar.read16(DEVICE + 6)).toBe(1); // VIRTIO_NET_S_LINK_UP
    expect(bar.read16(DEVICE + 8)).toBe(0xffff); // beyond the 8 bytes MAC+STATUS need: all ones
    expect(bar.read32(COMMON + VIRTIO_PCI_COMMON_STATUS) & 0xff).toBe(0);
  });

  it('reads an MSI-X vector beyond the table back as NO_VECTOR', () => {
    const b = setup();
    b.bar.write16(COMMON + VIRTIO_PCI_COMMON_MSIX, 4);
    expect(b.bar.read16(COMMON + VIRTIO_PCI_COMMON_MSIX)).toBe(VIRTIO_MSI_NO_VECTOR);
    b.bar.write16(COMMON + VIRTIO_PCI_COMMON_MSIX, 3);
    expect(b.bar.read16(COMMON + VIRTIO_PCI_COMMON_MSIX)).toBe(3);
    expect(b.model.errors).toEqual([expect.stringMatching(/config_msix_vector 4/)]);
  });
});

describe('virtio-net model: status and features', () => {
  it('walks ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK and keeps what the driver accepted', () => {
    const b = setup();
    const features = BASIC | bit(VIRTIO_RING_F_EVENT_IDX);
    expect(negotiate(b, features)).toBe(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK);
    expect(b.model.driverFeatures).toBe(features);
    driverOk(b);
    expect(b.model.status).toBe(0xf);
    expect(b.model.errors).toEqual([]);
  });

  it('drops features it did not offer and accepts FEATURES_OK anyway (QEMU), noting it in errors', () => {
    const b = setup();
    expect(negotiate(b, BASIC | bit(VIRTIO_NET_F_CSUM)) & VIRTIO_CONFIG_S_FEATURES_OK).toBeTruthy();
    expect(b.model.driverFeatures).toBe(BASIC);
    // The raw word reads back as written.
    b.bar.write32(COMMON + VIRTIO_PCI_COMMON_GFSELECT, 0);
    expect(b.bar.read32(COMMON + VIRTIO_PCI_COMMON_GF) & 1).toBe(1);
    expect(b.model.errors).toEqual([expect.stringMatching(/not offered \(0x1\)/)]);
  });

  it('refuses FEATURES_OK without ACCESS_PLATFORM when it offers it, and for refuseFeatures', () => {
    let b = setup();
    expect(negotiate(b, BASIC & ~bit(VIRTIO_F_ACCESS_PLATFORM))).toBe(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    expect(b.model.errors.at(-1)).toMatch(/ACCESS_PLATFORM/);
    dev!.close();
    kernel!.dispose();
    b = setup({ refuseFeatures: bit(VIRTIO_NET_F_MRG_RXBUF) });
    expect(negotiate(b, BASIC | bit(VIRTIO_NET_F_MRG_RXBUF)) & VIRTIO_CONFIG_S_FEATURES_OK).toBe(0);
    expect(negotiate(b, BASIC) & VIRTIO_CONFIG_S_FEATURES_OK).toBeTruthy();
  });

  it('ignores driver_feature writes after FEATURES_OK', () => {
    const b = setup();
    negotiate(b, BASIC);
    b.bar.write32(COMMON + VIRTIO_PCI_COMMON_GFSELECT, 0);
    b.bar.write32(COMMON + VIRTIO_PCI_COMMON_GF, 0);
    expect(b.model.driverFeatures).toBe(BASIC);
    expect(b.model.errors).toEqual([expect.stringMatching(/after FEATURES_OK/)]);
  });
});

describe('virtio-net model: frames', () => {
  it('transmits: the header is stripped, the frame reaches the hub, used length 0, the tx vector fires', () => {
    const b = running();
    const f = frame(60);
    postTx(b.tx, 0, f);
    b.tx.kick();
    expect(b.tap.frames).toEqual([f]);
    expect(b.tx.usedIdx).toBe(1);
    expect(b.tx.usedElem(0)).toEqual({ id: 0, len: 0 });
    expect(b.raised).toEqual([1]);
    expect(b.model.errors).toEqual([]);
    expect(b.kernel.faults).toEqual([]);
  });

  it('receives: header (num_buffers 1) and frame in one buffer, used length 12 + frame, the rx vector fires', () => {
    const b = running();
    b.rx.bytes(0, 12).fill(0xee);
    b.rx.setDesc(0, b.rx.buf(0), 2048, VRING_DESC_F_WRITE);
    b.rx.publish(0);
    b.rx.kick();
    const f = frame(100);
    b.tap.send(f);
    expect(b.rx.usedIdx).toBe(1);
    expect(b.rx.usedElem(0)).toEqual({ id: 0, len: 112 });
    expect(Array.from(b.rx.bytes(0, 12))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    expect(b.rx.bytes(0, 112).slice(12)).toEqual(f);
    expect(b.raised).toEqual([0]);
    expect(b.model.errors).toEqual([]);
  });

  it('splits the receive header and frame over a chain of device-writable descriptors', () => {
    const b = running();
    b.rx.setDesc(0, b.rx.buf(0), 12, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    b.rx.setDesc(1, b.rx.buf(1), 2048, VRING_DESC_F_WRITE);
    b.rx.publish(0);
    const f = frame(64);
    b.tap.send(f);
    expect(b.rx.usedElem(0)).toEqual({ id: 0, len: 76 });
    expect(b.rx.bytes(1, 64)).toEqual(f);
  });

  it('keeps a frame in the hub while no buffer is posted, and takes it on the kick that posts one', () => {
    const b = running(BASIC | bit(VIRTIO_RING_F_EVENT_IDX));
    const f = frame(80);
    b.tap.send(f);
    expect(b.hub.queued(b.model)).toBe(1);
    expect(b.rx.usedIdx).toBe(0);
    b.rx.setDesc(0, b.rx.buf(0), 2048, VRING_DESC_F_WRITE);
    b.rx.publish(0);
    expect(b.rx.usedIdx).toBe(0); // not without the kick
    b.rx.kick();
    expect(b.hub.queued(b.model)).toBe(0);
    expect(b.rx.bytes(0, 92).slice(12)).toEqual(f);
  });

  it('drops a frame larger than the posted buffer and keeps the buffer for the next frame (QEMU: not counted; here rxOversize)', () => {
    const b = running();
    b.rx.setDesc(0, b.rx.buf(0), 12 + 100, VRING_DESC_F_WRITE);
    b.rx.publish(0);
    b.tap.send(frame(101));
    expect(b.rx.usedIdx).toBe(0);
    expect(b.model.rxOversize).toBe(1);
    expect(b.hub.queued(b.model)).toBe(0);
    const f = frame(100, 2);
    b.tap.send(f);
    expect(b.rx.usedElem(0)).toEqual({ id: 0, len: 112 });
    expect(b.rx.bytes(0, 112).slice(12)).toEqual(f);
    expect(b.model.errors).toEqual([]);
  });

  it('merges receive buffers when MRG_RXBUF is negotiated, num_buffers saying how many', () => {
    const b = running(BASIC | bit(VIRTIO_NET_F_MRG_RXBUF));
    for (let i = 0; i < 3; i++) b.rx.setDesc(i, b.rx.buf(i), 512, VRING_DESC_F_WRITE);
    b.rx.publish(0, 1, 2);
    const f = frame(1000);
    b.tap.send(f);
    expect(b.rx.usedIdx).toBe(2);
    expect([b.rx.usedElem(0), b.rx.usedElem(1)]).toEqual([
      { id: 0, len: 512 },
      { id: 1, len: 500 },
    ]);
    expect(new DataView(b.rx.mem.buffer).getUint16(b.rx.bufs + 10, true)).toBe(2);
    expect(Uint8Array.from([...b.rx.bytes(0, 512).slice(12), ...b.rx.bytes(1, 500)])).toEqual(f);
  });

  it('carries frames both ways between itself and an e1000e model on one hub', () => {
    const b = running();
    const nic = new E1000eModel({ mac: '52:54:00:12:34:56' });
    b.hub.attach(nic);
    b.tap.accepting = false;
    postTx(b.tx, 0, frame(60));
    b.tx.kick();
    // The e1000e's receiver is off: the frame waits for it, and the tap, in the hub.
    expect(b.hub.queued(nic)).toBe(1);
    expect(b.model.errors).toEqual([]);
  });

  it('loses transmitted frames and drops received ones while the link is down, as QEMU does', () => {
    const b = running();
    b.model.setLink(false);
    postTx(b.tx, 0, frame(60));
    b.tx.kick();
    expect(b.tap.frames).toEqual([]);
    expect(b.tx.usedIdx).toBe(1);
    b.rx.setDesc(0, b.rx.buf(0), 2048, VRING_DESC_F_WRITE);
    b.rx.publish(0);
    b.tap.send(frame(60));
    expect(b.rx.usedIdx).toBe(0);
    expect(b.hub.queued(b.model)).toBe(0);
  });
});

describe('virtio-net model: notification suppression', () => {
  it('EVENT_IDX: interrupts when used idx crosses used_event (the first always), and writes avail_event', () => {
    const b = running(BASIC | bit(VIRTIO_RING_F_EVENT_IDX));
    b.tx.usedEvent = 0;
    postTx(b.tx, 0, frame(60, 0));
    b.tx.kick();
    expect(b.raised).toEqual([1]);
    expect(b.tx.availEvent).toBe(1); // the driver kicks again after the next post
    b.tx.usedEvent = 5; // interrupt when used idx moves past 5 (5 -> 6)
    for (let i = 1; i <= 4; i++) {
      postTx(b.tx, i, frame(60, i));
      b.tx.kick();
    }
    expect(b.raised).toEqual([1]);
    postTx(b.tx, 5, frame(60, 5));
    b.tx.kick();
    expect(b.raised).toEqual([1, 1]);
    expect(b.tx.usedIdx).toBe(6);
    expect(b.tx.availEvent).toBe(6);
    expect(b.tap.frames.length).toBe(6);
  });

  it('EVENT_IDX on receive: avail_event follows the entries taken', () => {
    const b = running(BASIC | bit(VIRTIO_RING_F_EVENT_IDX));
    for (let i = 0; i < 4; i++) b.rx.setDesc(i, b.rx.buf(i), 2048, VRING_DESC_F_WRITE);
    b.rx.publish(0, 1, 2, 3);
    b.tap.send(frame(60));
    b.tap.send(frame(60));
    expect(b.rx.availEvent).toBe(2);
  });

  it('without EVENT_IDX: VRING_AVAIL_F_NO_INTERRUPT suppresses, VRING_USED_F_NO_NOTIFY is clear when idle', () => {
    const b = running();
    b.tx.v.setUint16(b.tx.avail, 1, true); // NO_INTERRUPT
    postTx(b.tx, 0, frame(60));
    b.tx.kick();
    expect(b.raised).toEqual([]);
    expect(b.tx.usedFlags).toBe(0);
    b.tx.v.setUint16(b.tx.avail, 0, true);
    postTx(b.tx, 1, frame(60));
    b.tx.kick();
    expect(b.raised).toEqual([1]);
  });
});

describe('virtio-net model: ISR and configuration changes', () => {
  it('INTx: a used buffer sets ISR bit 0; reading ISR returns and clears it', () => {
    const b = setup();
    b.dev.enableInterrupts('intx');
    negotiate(b, BASIC);
    const tx = new Ring(b, 1, 8, 2048, VIRTIO_MSI_NO_VECTOR);
    driverOk(b);
    new EthernetHub().attach(b.model, new FrameTap());
    postTx(tx, 0, frame(60));
    tx.kick();
    expect(b.raised).toEqual([0]);
    expect(b.bar.read8(ISR)).toBe(1);
    expect(b.bar.read8(ISR)).toBe(0);
  });

  it('setLink: the status bit moves, config_generation moves, ISR reads 3 (QEMU), the config vector fires', () => {
    const b = running();
    const gen = b.bar.read8(COMMON + VIRTIO_PCI_COMMON_CFGGENERATION);
    b.model.setLink(false);
    expect(b.bar.read16(DEVICE + 6)).toBe(0);
    expect(b.bar.read8(COMMON + VIRTIO_PCI_COMMON_CFGGENERATION)).toBe((gen + 1) & 0xff);
    expect(b.raised).toEqual([3]);
    expect(b.bar.read8(ISR)).toBe(3);
    expect(b.bar.read8(ISR)).toBe(0);
    b.model.setLink(true);
    expect(b.bar.read16(DEVICE + 6)).toBe(1);
    expect(b.raised).toEqual([3, 3]);
  });

  it('raiseNeedsReset: DEVICE_NEEDS_RESET with a config interrupt; the queues stop until reset', () => {
    const b = running();
    b.model.raiseNeedsReset();
    expect(b.bar.read8(COMMON + VIRTIO_PCI_COMMON_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET).toBeTruthy();
    expect(b.raised).toEqual([3]);
    postTx(b.tx, 0, frame(60));
    b.tx.kick();
    expect(b.tap.frames).toEqual([]);
    expect(b.model.errors).toEqual([]);
  });

  it('injectUsed: a used entry the driver never posted, with its interrupt', () => {
    const b = running();
    b.model.injectUsed(1, 7, 0);
    expect(b.tx.usedIdx).toBe(1);
    expect(b.tx.usedElem(0)).toEqual({ id: 7, len: 0 });
    expect(b.raised).toEqual([1]);
    expect(() => b.model.injectUsed(2, 0, 0)).toThrow(/not set up/);
  });
});

describe('virtio-net model: reset', () => {
  it('status 0 resets status, queues, vectors and features; FLR too', () => {
    const b = running(BASIC, { express: true });
    b.bar.write8(COMMON + VIRTIO_PCI_COMMON_STATUS, 0);
    expect(b.bar.read8(COMMON + VIRTIO_PCI_COMMON_STATUS)).toBe(0);
    expect(b.model.driverFeatures).toBe(0n);
    expect(b.bar.read16(COMMON + VIRTIO_PCI_COMMON_MSIX)).toBe(VIRTIO_MSI_NO_VECTOR);
    b.bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_SELECT, 0);
    expect(b.bar.read16(COMMON + VIRTIO_PCI_COMMON_Q_SIZE)).toBe(256);
    expect(b.bar.read16(COMMON + VIRTIO_PCI_COMMON_Q_ENABLE)).toBe(0);
    expect(b.bar.read32(COMMON + VIRTIO_PCI_COMMON_Q_DESCLO)).toBe(0);
    // A frame now waits: the device is not running.
    b.tap.send(frame(60));
    expect(b.hub.queued(b.model)).toBe(1);

    negotiate(b, BASIC);
    b.dev.reset(); // VFIO_DEVICE_RESET
    expect(b.model.status).toBe(0);
    b.bar.write32(COMMON + VIRTIO_PCI_COMMON_GFSELECT, 1);
    expect(b.bar.read32(COMMON + VIRTIO_PCI_COMMON_GF)).toBe(0);
    expect(b.model.errors).toEqual([]);
  });

  it('works again after a reset: new rings, indices from 0', () => {
    const b = running();
    postTx(b.tx, 0, frame(60));
    b.tx.kick();
    b.bar.write8(COMMON + VIRTIO_PCI_COMMON_STATUS, 0);
    expect(negotiate(b, BASIC) & VIRTIO_CONFIG_S_FEATURES_OK).toBeTruthy();
    const tx = new Ring(b, 1, 8);
    driverOk(b);
    postTx(tx, 0, frame(60, 9));
    tx.kick();
    expect(tx.usedIdx).toBe(1);
    expect(b.tap.frames.length).toBe(2);
  });
});

describe("virtio-net model: a driver's mistakes", () => {
  const fatal = (b: ReturnType<typeof running>, pattern: RegExp) => {
    expect(b.model.errors).toEqual([expect.stringMatching(pattern)]);
    expect(b.model.status & VIRTIO_CONFIG_S_NEEDS_RESET).toBeTruthy();
    expect(b.raised).toContain(3); // the config vector
  };

  it('a head beyond the ring', () => {
    const b = running();
    b.tx.publish(8);
    expect(() => b.tx.kick()).not.toThrow();
    fatal(b, /Guest says index 8 is available/);
  });

  it('a looped chain', () => {
    const b = running();
    b.tx.setDesc(0, b.tx.buf(0), 64, VRING_DESC_F_NEXT, 0);
    b.tx.publish(0);
    b.tx.kick();
    fatal(b, /Looped descriptor/);
  });

  it('next beyond the ring, a zero-length buffer, readable after writable', () => {
    let b = running();
    b.tx.setDesc(0, b.tx.buf(0), 64, VRING_DESC_F_NEXT, 9);
    b.tx.publish(0);
    b.tx.kick();
    fatal(b, /Desc next is 9/);
    dev!.close();
    kernel!.dispose();
    b = running();
    b.tx.setDesc(0, b.tx.buf(0), 0);
    b.tx.publish(0);
    b.tx.kick();
    fatal(b, /zero sized/);
    dev!.close();
    kernel!.dispose();
    b = running();
    b.tx.setDesc(0, b.tx.buf(0), 64, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    b.tx.setDesc(1, b.tx.buf(1), 64);
    b.tx.publish(0);
    b.tx.kick();
    fatal(b, /Incorrect order/);
  });

  it('a buffer at an unmapped IOVA: an IOMMU fault in the kernel, the error in errors', () => {
    const b = running();
    b.tx.setDesc(0, 0x7000_0000, 64);
    b.tx.publish(0);
    b.tx.kick();
    expect(b.kernel.faults.length).toBeGreaterThan(0);
    fatal(b, /bogus descriptor/);
  });

  it('rings at an unmapped IOVA', () => {
    const b = running();
    b.bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_SELECT, 1);
    b.bar.write64(COMMON + VIRTIO_PCI_COMMON_Q_AVAILLO, 0x6000_0000n);
    b.bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_ENABLE, 1);
    b.tx.kick();
    expect(b.kernel.faults.length).toBeGreaterThan(0);
    fatal(b, /avail idx at IOVA 0x60000002: DMA read faulted/);
  });

  it('an oversized queue_size is reported and taken (QEMU), queue_enable 0 is fatal (QEMU)', () => {
    const b = running();
    b.bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_SELECT, 0);
    b.bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_SIZE, 300);
    expect(b.bar.read16(COMMON + VIRTIO_PCI_COMMON_Q_SIZE)).toBe(300);
    expect(b.model.errors).toEqual([expect.stringMatching(/queue_size 300/)]);
    b.model.errors.length = 0;
    b.bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_ENABLE, 0);
    fatal(b, /wrong value for queue_enable 0/);
  });

  it('a receive chain without writable buffers', () => {
    const b = running();
    b.rx.setDesc(0, b.rx.buf(0), 2048);
    b.rx.publish(0);
    b.tap.send(frame(60));
    fatal(b, /no in buffers/);
  });
});

describe('virtio-net model: control queue', () => {
  /** Sends one command on queue 2: header, data, ack byte; returns the ack. */
  function command(ctrl: Ring, cls: number, cmd: number, data: number[]): number {
    const i = 0;
    const body = ctrl.bytes(i, 2 + data.length);
    body.set([cls, cmd, ...data]);
    ctrl.setDesc(0, ctrl.buf(i), 2 + data.length, VRING_DESC_F_NEXT, 1);
    ctrl.setDesc(1, ctrl.buf(1), 1, VRING_DESC_F_WRITE);
    ctrl.bytes(1, 1)[0] = 0xee;
    const before = ctrl.usedIdx;
    ctrl.publish(0);
    ctrl.kick();
    expect(ctrl.usedIdx).toBe((before + 1) & 0xffff);
    expect(ctrl.usedElem(before)).toEqual({ id: 0, len: 1 });
    return ctrl.bytes(1, 1)[0]!;
  }
  const OWN = [0x52, 0x54, 0x00, 0x12, 0x34, 0x57];
  const to = (dst: number[], seed: number) => {
    const f = frame(60, seed);
    f.set(dst);
    return f;
  };

  it('filters once promiscuous mode is off: own address and broadcast pass, others are dropped; all-multi lets multicast in', () => {
    const b = running();
    const ctrl = new Ring(b, 2, 8);
    for (let i = 0; i < 8; i++) b.rx.setDesc(i, b.rx.buf(i), 2048, VRING_DESC_F_WRITE);
    b.rx.publish(0, 1, 2, 3, 4, 5, 6, 7);
    expect(command(ctrl, 0, 0, [0])).toBe(0); // RX_PROMISC off: VIRTIO_NET_OK
    b.tap.send(to([0x02, 0, 0, 0, 0, 9], 1)); // someone else's
    b.tap.send(to([0x01, 0, 0x5e, 0, 0, 1], 2)); // multicast
    expect(b.rx.usedIdx).toBe(0);
    b.tap.send(to(OWN, 3));
    b.tap.send(to([0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 4));
    expect(b.rx.usedIdx).toBe(2);
    expect(command(ctrl, 0, 1, [1])).toBe(0); // ALLMULTI on
    b.tap.send(to([0x01, 0, 0x5e, 0, 0, 1], 5));
    expect(b.rx.usedIdx).toBe(3);
    expect(b.model.errors).toEqual([]);
  });

  it('MAC_ADDR_SET changes the address in the device configuration and the filter; reset restores the permanent one', () => {
    const b = running();
    const ctrl = new Ring(b, 2, 8);
    expect(command(ctrl, 1, 1, [0x02, 1, 2, 3, 4, 5])).toBe(0);
    expect(Array.from({ length: 6 }, (_, i) => b.bar.read8(DEVICE + i))).toEqual([2, 1, 2, 3, 4, 5]);
    expect(Array.from(b.model.mac)).toEqual(OWN); // the permanent address
    b.bar.write8(COMMON + VIRTIO_PCI_COMMON_STATUS, 0);
    expect(b.bar.read8(DEVICE + 0)).toBe(0x52);
  });

  it('MAC_TABLE_SET: listed unicast addresses pass; a short table is refused', () => {
    const b = running();
    const ctrl = new Ring(b, 2, 8);
    b.rx.setDesc(0, b.rx.buf(0), 2048, VRING_DESC_F_WRITE);
    b.rx.publish(0);
    expect(command(ctrl, 0, 0, [0])).toBe(0);
    expect(command(ctrl, 1, 0, [1, 0, 0, 0, 0x02, 0, 0, 0, 0, 9, 0, 0, 0, 0])).toBe(0);
    b.tap.send(to([0x02, 0, 0, 0, 0, 9], 1));
    expect(b.rx.usedIdx).toBe(1);
    expect(command(ctrl, 1, 0, [2, 0, 0, 0, 0x02, 0, 0, 0, 0, 9])).toBe(1); // 2 entries, 1 given: VIRTIO_NET_ERR
  });

  it('refuses what the device cannot do (offloads without a header, announce, multiqueue, unknown classes)', () => {
    const b = running();
    const ctrl = new Ring(b, 2, 8);
    expect(command(ctrl, 5, 0, [0, 0, 0, 0, 0, 0, 0, 0])).toBe(1);
    expect(command(ctrl, 3, 0, [])).toBe(1);
    expect(command(ctrl, 4, 0, [1, 0])).toBe(1);
    expect(command(ctrl, 9, 0, [])).toBe(1);
    expect(b.model.errors).toEqual([]);
  });

  it('a command without an ack buffer is fatal (QEMU: "ctrl missing headers")', () => {
    const b = running();
    const ctrl = new Ring(b, 2, 8);
    ctrl.setDesc(0, ctrl.buf(0), 3);
    ctrl.publish(0);
    ctrl.kick();
    expect(b.model.errors).toEqual([expect.stringMatching(/ctrl missing headers/)]);
    expect(b.model.status & VIRTIO_CONFIG_S_NEEDS_RESET).toBeTruthy();
  });
});

describe('virtio-net model: more of the ring and the function', () => {
  it('takes an indirect descriptor table (INDIRECT_DESC)', () => {
    const b = running();
    const f = frame(70);
    // Table of two descriptors in buffer 4: header (buffer 5) then frame (buffer 6).
    const table = new DataView(b.tx.mem.buffer, b.tx.bufs + 4 * 2048, 32);
    table.setBigUint64(0, BigInt(b.tx.buf(5)), true);
    table.setUint32(8, 12, true);
    table.setUint16(12, VRING_DESC_F_NEXT, true);
    table.setUint16(14, 1, true);
    table.setBigUint64(16, BigInt(b.tx.buf(6)), true);
    table.setUint32(24, f.length, true);
    b.tx.bytes(6, f.length).set(f);
    b.tx.setDesc(3, b.tx.buf(4), 32, VRING_DESC_F_INDIRECT);
    b.tx.publish(3);
    b.tx.kick();
    expect(b.tap.frames).toEqual([f]);
    expect(b.tx.usedElem(0)).toEqual({ id: 3, len: 0 });
  });

  it('clearing Bus Master disables the device and clears DRIVER_OK (QEMU); kicks then do nothing, and nothing faults', () => {
    const b = running();
    b.dev.config.setBusMaster(false);
    expect(b.model.status & VIRTIO_CONFIG_S_DRIVER_OK).toBe(0);
    postTx(b.tx, 0, frame(60));
    b.tx.kick();
    expect(b.tx.usedIdx).toBe(0);
    b.dev.config.setBusMaster(true);
    b.tx.kick();
    expect(b.tx.usedIdx).toBe(0); // DRIVER_OK stays clear: the transmit path waits for it
    expect(b.kernel.faults).toEqual([]);
    expect(b.model.errors).toEqual([]);
  });

  it('queue_reset: the queue back to its reset state, its addresses still readable', () => {
    const b = running(BASIC | bit(VIRTIO_F_RING_RESET));
    postTx(b.tx, 0, frame(60));
    b.tx.kick();
    b.bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_SELECT, 1);
    b.bar.write16(COMMON + VIRTIO_PCI_COMMON_Q_RESET, 1);
    expect(b.bar.read16(COMMON + VIRTIO_PCI_COMMON_Q_RESET)).toBe(0); // done within the write
    expect(b.bar.read16(COMMON + VIRTIO_PCI_COMMON_Q_ENABLE)).toBe(0);
    expect(b.bar.read16(COMMON + VIRTIO_PCI_COMMON_Q_SIZE)).toBe(256);
    expect(b.bar.read16(COMMON + VIRTIO_PCI_COMMON_Q_MSIX)).toBe(VIRTIO_MSI_NO_VECTOR);
    expect(b.bar.read32(COMMON + VIRTIO_PCI_COMMON_Q_DESCLO)).toBe(b.tx.mem.iova % 2 ** 32);
    expect(b.model.errors).toEqual([]);
  });
});
