/**
 * The 82574 model (src/backend/fake/models/e1000e.ts) at the register level, as QEMU 7.2
 * emulates the part, and its robustness against a driver writing garbage.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openDevice, type Device } from '../../src/index.js';
import { FakeKernel } from '../../src/backend/fake/index.js';
import { E1000eModel, parseMac } from '../../src/backend/fake/models/e1000e.js';
import { EthernetHub, FrameTap, wire } from '../../src/backend/fake/models/ethernet.js';
import { PCI_CAP_ID_EXP, PCI_CAP_ID_MSI, PCI_CAP_ID_MSIX, PCI_CAP_ID_PM } from '../../src/uapi/pci-regs.js';

const ADDR = '0000:00:03.0';
let kernel: FakeKernel;
let dev: Device;
let model: E1000eModel;

function setup(options: ConstructorParameters<typeof E1000eModel>[0] = {}): { bar: Device['bar'] extends (n: number) => infer R ? R : never } {
  kernel = new FakeKernel();
  model = new E1000eModel(options);
  kernel.addDevice(ADDR, model);
  dev = openDevice(ADDR, kernel.options);
  dev.config.setBusMaster(true);
  return { bar: dev.bar(0) };
}

afterEach(() => {
  dev?.close();
  kernel?.dispose();
});

/** Lays out a ring of `n` descriptors with 2 KiB buffers in one DMA buffer; returns views and IOVAs. */
function rings(n: number) {
  const mem = dev.allocDma(n * 16 * 2 + n * 2048 * 2 + 4096);
  const rxRing = 0;
  const txRing = n * 16;
  const buffers = 4096 * Math.ceil((n * 32) / 4096);
  const d = new DataView(mem.buffer);
  const bytes = new Uint8Array(mem.buffer);
  const rxBuf = (i: number) => buffers + i * 2048;
  const txBuf = (i: number) => buffers + (n + i) * 2048;
  for (let i = 0; i < n; i++) {
    d.setBigUint64(rxRing + i * 16, BigInt(mem.iova + rxBuf(i)), true);
    d.setBigUint64(txRing + i * 16, BigInt(mem.iova + txBuf(i)), true);
  }
  return { mem, d, bytes, rxRing, txRing, rxBuf, txBuf };
}

describe('82574 model: PCI', () => {
  it("looks like QEMU's e1000e: ids, class, BARs, MSI/MSI-X/PCIe/PM, resettable", () => {
    setup();
    expect(dev.config.vendorId).toBe(0x8086);
    expect(dev.config.deviceId).toBe(0x10d3);
    expect(dev.config.read32(0x08) >>> 8).toBe(0x020000);
    expect([0, 1, 2, 3].map((i) => dev.region(i).size)).toEqual([128 * 1024, 128 * 1024, 32, 16 * 1024]);
    expect(dev.config.capabilities().map((c) => c.id).sort()).toEqual([PCI_CAP_ID_PM, PCI_CAP_ID_MSI, PCI_CAP_ID_EXP, PCI_CAP_ID_MSIX].sort());
    expect(dev.irqInfo('msix').count).toBe(5);
    expect(dev.irqInfo('msi').count).toBe(1);
    expect(dev.canReset).toBe(true);
  });
});

describe('82574 model: registers', () => {
  it('STATUS shows link up at 1000 Mb/s full duplex; CTRL.RST self-clears and restores the station address (only)', () => {
    const { bar } = setup({ mac: '02:00:00:00:00:99' });
    expect(bar.read32(0x08) & 0x3).toBe(0x3);
    expect((bar.read32(0x08) >>> 6) & 3).toBe(2);
    bar.write32(0x5400, 0x12345678);
    bar.write32(0x0100, 0x2); // RCTL.EN
    bar.write32(0x0000, bar.read32(0x0000) | (1 << 26));
    expect(bar.read32(0x0000) & (1 << 26)).toBe(0);
    expect(bar.read32(0x5400)).toBe(0x00000002);
    expect(bar.read32(0x5404) >>> 0).toBe(0x80009900);
    expect(bar.read32(0x0100)).toBe(0x2); // as in QEMU 7.2: CTRL.RST resets nothing else
    dev.reset(); // VFIO_DEVICE_RESET (FLR) resets everything
    expect(bar.read32(0x0100)).toBe(0);
  });

  it('EERD reads the NVM: MAC words, checksum 0xbaba', () => {
    const { bar } = setup({ mac: '02:11:22:33:44:55' });
    const word = (w: number) => {
      bar.write32(0x14, (w << 2) | 1);
      const v = bar.read32(0x14);
      expect(v & 2).toBe(2);
      return v >>> 16;
    };
    expect([word(0), word(1), word(2)]).toEqual([0x1102, 0x3322, 0x5544]);
    let sum = 0;
    for (let w = 0; w < 64; w++) sum = (sum + word(w)) & 0xffff;
    expect(sum).toBe(0xbaba);
    bar.write32(0x14, (100 << 2) | 1); // beyond the NVM
    expect(bar.read32(0x14) & 2).toBe(0);
  });

  it('ICR: ICS sets causes, reading does not clear while IMS is set (QEMU), writing 1s clears; MSI edge logic', async () => {
    const { bar } = setup();
    const irq = dev.enableInterrupts('msi');
    bar.write32(0xd0, 0x4); // IMS: LSC
    const first = irq.vector.wait(1000);
    bar.write32(0xc8, 0x4); // ICS: LSC
    expect(await first).toBe(1);
    expect(bar.read32(0xc0) >>> 0).toBe((0x80000000 | 0x4) >>> 0);
    expect(bar.read32(0xc0) & 0x4).toBe(0x4); // still there
    // Raising it again while not cleared sends no new message.
    bar.write32(0xc8, 0x4);
    await expect(irq.vector.wait(50)).rejects.toThrow(/no interrupt/);
    bar.write32(0xc0, 0x4); // W1C
    expect(bar.read32(0xc0)).toBe(0);
    const again = irq.vector.wait(1000);
    bar.write32(0xc8, 0x4);
    expect(await again).toBe(1);
    bar.write32(0xd8, 0xffffffff); // IMC: masked
    expect(bar.read32(0xd0)).toBe(0);
    expect(bar.read32(0xc0) >>> 0).toBe((0x80000000 | 0x4) >>> 0); // IMS == 0: reading ICR clears it
    expect(bar.read32(0xc0)).toBe(0);
  });

  it('MSI-X: causes go to the IVAR vector, auto-cleared (EIAC) and auto-masked', async () => {
    const { bar } = setup();
    const irq = dev.enableInterrupts('msix', 3);
    bar.write32(0xe4, (0x8 | 2) << 16); // IVAR: other -> vector 2
    bar.write32(0xdc, 1 << 24); // EIAC: other
    bar.write32(0xd0, (1 << 24) | 0x4); // IMS: other, LSC
    const fired = irq.vectors[2]!.wait(1000);
    bar.write32(0xc8, 0x4);
    expect(await fired).toBe(1);
    expect(bar.read32(0xc0) & (1 << 24)).toBe(0); // OTHER auto-cleared
    expect(bar.read32(0xd0) & (1 << 24)).toBe(0); // and masked until re-armed
  });

  it('MDIC reaches the PHY; restarting auto-negotiation drops the link, LSC when it is back', async () => {
    const { bar } = setup({ autonegMs: 20 });
    const mdic = (v: number) => {
      bar.write32(0x20, v);
      const r = bar.read32(0x20);
      expect(r & (1 << 28)).not.toBe(0);
      return r;
    };
    expect(mdic((1 << 21) | (2 << 16) | (2 << 26)) & 0xffff).toBe(0x0141); // PHY id
    expect(mdic((3 << 21) | (2 << 26)) & (1 << 30)).not.toBe(0); // wrong PHY address
    mdic((1 << 21) | (0 << 16) | (1 << 26) | 0x1340); // PHY_CTRL: AN enable + restart
    expect(bar.read32(0x08) & 0x2).toBe(0);
    await new Promise((r) => setTimeout(r, 40));
    expect(bar.read32(0x08) & 0x2).toBe(0x2);
    expect(bar.read32(0xc8) & 0x4).toBe(0x4); // LSC
  });

  it('narrow accesses, the I/O window (BAR2) and the MSI-X table (BAR3)', () => {
    const { bar } = setup();
    bar.write32(0x5200, 0xaabbccdd);
    expect(bar.read8(0x5201)).toBe(0xcc);
    expect(bar.read16(0x5202)).toBe(0xaabb);
    bar.write16(0x5200, 0x1122);
    expect(bar.read32(0x5200) >>> 0).toBe(0xaabb1122);
    const io = dev.bar(2);
    io.write32(0, 0x5200);
    expect(io.read32(4) >>> 0).toBe(0xaabb1122);
    io.write32(4, 7);
    expect(bar.read32(0x5200)).toBe(7);
    const table = dev.bar(3);
    table.write32(0x10, 0xfee00000);
    expect(table.read32(0x10) >>> 0).toBe(0xfee00000);
    expect(table.read32(0x2000)).toBe(0); // PBA
  });
});

describe('82574 model: rings', () => {
  it('transmits on TDT, writes DD back, counts; receives into the ring with DD/EOP/length', () => {
    kernel = new FakeKernel();
    const ma = new E1000eModel({ mac: '02:00:00:00:00:0a' });
    const tap = new FrameTap();
    new EthernetHub().attach(ma, tap);
    model = ma;
    kernel.addDevice(ADDR, ma);
    dev = openDevice(ADDR, kernel.options);
    dev.config.setBusMaster(true);
    const bar = dev.bar(0);
    const r = rings(8);
    // Transmit two frames.
    r.bytes.fill(0xee, r.txBuf(0), r.txBuf(0) + 64);
    r.d.setUint16(r.txRing + 8, 64, true);
    r.bytes[r.txRing + 11] = 0x0b; // EOP | IFCS | RS
    r.d.setUint16(r.txRing + 16 + 8, 70, true);
    r.bytes[r.txRing + 16 + 11] = 0x0b;
    bar.write32(0x3800, r.mem.iova + r.txRing);
    bar.write32(0x3808, 8 * 16);
    bar.write32(0x0400, 0x2);
    bar.write32(0x3818, 2);
    expect(tap.frames.map((f) => f.length)).toEqual([64, 70]);
    expect(r.bytes[r.txRing + 12]! & 1).toBe(1);
    expect(r.bytes[r.txRing + 16 + 12]! & 1).toBe(1);
    expect(bar.read32(0x3810)).toBe(2); // TDH
    expect(bar.read32(0x40d4)).toBe(2); // TPT (clears)
    expect(bar.read32(0x4080)).toBe(2); // GPTC: QEMU mirrors TPT after every frame
    expect(bar.read32(0x4090)).toBe(134); // GOTCL
    // Receive: ring of 8, RDT 7, promiscuous, CRC stripped.
    bar.write32(0x2800, r.mem.iova + r.rxRing);
    bar.write32(0x2808, 8 * 16);
    bar.write32(0x2818, 7);
    bar.write32(0x0100, 0x2 | 0x8 | (1 << 26));
    tap.send(Uint8Array.from({ length: 30 }, (_, i) => i)); // short: padded to 60
    expect(r.bytes[r.rxRing + 12]).toBe(0x3); // DD | EOP
    expect(r.d.getUint16(r.rxRing + 8, true)).toBe(60);
    expect(Array.from(r.bytes.subarray(r.rxBuf(0), r.rxBuf(0) + 31))).toEqual([...Array.from({ length: 30 }, (_, i) => i), 0]);
    expect(bar.read32(0x40a4)).toBe(1); // RUC
    expect(bar.read32(0x4074)).toBe(1); // GPRC
    // Without SECRC the 4 FCS bytes are stored and counted in the length.
    bar.write32(0x0100, 0x2 | 0x8);
    tap.send(new Uint8Array(100));
    expect(r.d.getUint16(r.rxRing + 16 + 8, true)).toBe(104);
    expect(ma.errors).toEqual([]);
  });

  it('survives garbage: bad ring lengths, tails past the end, unmapped IOVAs, empty frames', () => {
    const { bar } = setup();
    const tap = new FrameTap();
    wire(model, tap);
    bar.write32(0x3808, 100); // not a multiple of 128
    expect(bar.read32(0x3808)).toBe(0);
    expect(model.errors.at(-1)).toMatch(/TDLEN = 100: not a multiple of 128/);
    bar.write32(0x3800, 0x7000_0000); // nothing mapped there
    bar.write32(0x3808, 128);
    bar.write32(0x0400, 0x2);
    bar.write32(0x3818, 200); // past the ring: ignored, as QEMU does
    expect(bar.read32(0x3810)).toBe(0);
    bar.write32(0x3818, 3);
    expect(bar.read32(0x3810)).toBe(3); // consumed (faulting) descriptors
    expect(kernel.faults.length).toBeGreaterThan(0);
    expect(kernel.faults[0]).toMatchObject({ iova: 0x7000_0000, reason: 'not mapped' });
    expect(model.errors.some((e) => /transmit descriptor 0 at IOVA 0x70000000: DMA read faulted/.test(e))).toBe(true);
    expect(tap.frames).toEqual([]);
    // A 5-byte frame from mapped memory is dropped with a note.
    const r = rings(8);
    bar.write32(0x3818, 0);
    bar.write32(0x3810, 0);
    bar.write32(0x3800, r.mem.iova + r.txRing);
    r.d.setUint16(r.txRing + 8, 5, true);
    r.bytes[r.txRing + 11] = 0x0b;
    bar.write32(0x3818, 1);
    expect(tap.frames).toEqual([]);
    expect(model.errors.at(-1)).toMatch(/5-byte frame has no Ethernet header/);
    // Receive into a ring whose buffers are unmapped: faults recorded, the descriptor still written back.
    r.d.setBigUint64(r.rxRing, 0x6000_0000n, true);
    bar.write32(0x2800, r.mem.iova + r.rxRing);
    bar.write32(0x2808, 128);
    bar.write32(0x2818, 1);
    bar.write32(0x0100, 0x2 | 0x8);
    tap.send(new Uint8Array(64));
    expect(r.bytes[r.rxRing + 12]).toBe(0x3);
    expect(kernel.faults.some((f) => f.iova === 0x6000_0000 && f.write)).toBe(true);
    // Nothing above threw into the fake kernel; the device keeps answering.
    expect(bar.read32(0x08) & 2).toBe(2);
  });

  it('without bus mastering the NIC takes nothing off the wire (frames wait in the hub)', () => {
    const { bar } = setup();
    const tap = new FrameTap();
    const hub = wire(model, tap);
    const r = rings(8);
    bar.write32(0x2800, r.mem.iova + r.rxRing);
    bar.write32(0x2808, 128);
    bar.write32(0x2818, 7);
    bar.write32(0x0100, 0x2 | 0x8 | (1 << 26));
    dev.config.setBusMaster(false);
    tap.send(new Uint8Array(64));
    expect(hub.queued(model)).toBe(1);
    dev.config.setBusMaster(true);
    bar.write32(0x2818, 7); // any RDT write lets the NIC look again
    expect(hub.queued(model)).toBe(0);
    expect(r.bytes[r.rxRing + 12]).toBe(0x3);
  });
});

describe('Ethernet hub', () => {
  it('queues for a port that cannot take frames, in order, up to a limit, counting what it drops', () => {
    const a = new FrameTap();
    const b = new FrameTap();
    const c = new FrameTap();
    const hub = new EthernetHub({ queueLimit: 3 }).attach(a, b, c);
    b.accepting = false;
    for (let i = 0; i < 5; i++) a.send(Uint8Array.of(i));
    expect(c.frames.map((f) => f[0])).toEqual([0, 1, 2, 3, 4]);
    expect(hub.queued(b)).toBe(3);
    expect(hub.dropped).toBe(2);
    b.accept();
    expect(b.frames.map((f) => f[0])).toEqual([0, 1, 2]);
    expect(a.frames).toEqual([]); // nothing comes back to the sender
    expect(() => new FrameTap().send(new Uint8Array(1))).toThrow(/not attached/);
    expect(() => new EthernetHub({ queueLimit: -1 })).toThrow(RangeError);
  });

  it('counts frames dropped at a full queue as missed packets (MPC) on the NIC', () => {
    const { bar } = setup();
    const tap = new FrameTap();
    new EthernetHub({ queueLimit: 1 }).attach(model, tap);
    tap.send(new Uint8Array(64)); // receiver off: queued
    tap.send(new Uint8Array(64)); // queue full: dropped
    expect(bar.read32(0x4010)).toBe(1);
  });

  it('parses MAC addresses', () => {
    expect(Array.from(parseMac('52:54:00:12:34:56'))).toEqual([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    expect(() => parseMac('52:54:00:12:34')).toThrow(/not a MAC/);
  });
});
