/**
 * The 82576 VF model (IgbvfModel) through the fake kernel, register by register, as a VF
 * driver sees it: the PCI function vfio-pci presents, STATUS, the mailbox handshake with the
 * emulated igb PF driver (reset, MAC, the NACKs, no answer when the PF is down), CTRL.RST, the
 * interrupt routing with QEMU's read quirks, and the PF's receive filter.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openDevice, type Device } from '../../src/index.js';
import { FakeKernel, FrameTap, IgbvfModel, wire } from '../../src/backend/fake/index.js';
import * as R from '../../src/hw/e82576vf.js';
import { MSG_ACK, MSG_CTS, MSG_NACK, PF_CONTROL_MSG, VF_RESET, VF_SET_MAC_ADDR, VF_SET_MULTICAST, multicastHash } from '../../src/hw/e82576vf-mailbox.js';

const ADDR = '0000:00:05.0';
let kernel: FakeKernel | null = null;
let dev: Device | null = null;
afterEach(() => {
  dev?.close();
  if (kernel) {
    expect(kernel.faults).toEqual([]);
    kernel.dispose();
  }
  kernel = dev = null;
});

function open(model: IgbvfModel): Device {
  kernel = new FakeKernel();
  kernel.addDevice(ADDR, model);
  dev = openDevice(ADDR, kernel.options);
  return dev;
}

/** Posts a message the way Linux's igbvf does (VFU, buffer, REQ) and returns V2PMAILBOX after it. */
function post(d: Device, words: number[]): number {
  const bar = d.bar(0);
  bar.write32(R.V2PMAILBOX, R.V2P_VFU);
  words.forEach((w, i) => bar.write32(R.VMBMEM + 4 * i, w >>> 0));
  bar.write32(R.V2PMAILBOX, R.V2P_REQ);
  return bar.read32(R.V2PMAILBOX);
}

/** Reads the PF's message (n words) and acknowledges it. */
function reply(d: Device, n: number): number[] {
  const bar = d.bar(0);
  bar.write32(R.V2PMAILBOX, R.V2P_VFU);
  const out = Array.from({ length: n }, (_, i) => bar.read32(R.VMBMEM + 4 * i));
  bar.write32(R.V2PMAILBOX, R.V2P_ACK);
  return out;
}

describe('IgbvfModel', () => {
  it('is the PCI function vfio-pci shows for a VF: 8086:10ca, BAR0 and BAR3 of 16 KiB, MSI-X with 3 vectors, FLR, no MSI or INTx', () => {
    const d = open(new IgbvfModel());
    expect([d.config.vendorId, d.config.deviceId]).toEqual([0x8086, 0x10ca]);
    expect(d.config.read32(0x08)).toBe(0x02000001); // class 0x020000, revision 1
    expect(d.bar(0).size).toBe(16 * 1024);
    expect(d.bar(3).size).toBe(16 * 1024);
    expect(d.irqInfo('msix').count).toBe(3);
    expect(d.irqInfo('msi').count).toBe(0);
    expect(d.irqInfo('intx').count).toBe(0);
    expect(d.canReset).toBe(true);
  });

  it("STATUS is the PF's: link up at 1000 Mb/s full duplex, SR-IOV mode; setLink takes LU away and back", () => {
    const model = new IgbvfModel({ numVfs: 2, vfIndex: 1 });
    const d = open(model);
    const status = d.bar(0).read32(R.STATUS);
    expect(status & (R.STATUS_LU | R.STATUS_FD | R.STATUS_SPEED_MASK | R.STATUS_IOV_MODE)).toBe(R.STATUS_LU | R.STATUS_FD | R.STATUS_SPEED_1000 | R.STATUS_IOV_MODE);
    expect((status >>> R.STATUS_NUM_VFS_SHIFT) & 0xf).toBe(2);
    model.setLink(false);
    expect(d.bar(0).read32(R.STATUS) & R.STATUS_LU).toBe(0);
    model.setLink(true);
    expect(d.bar(0).read32(R.STATUS) & R.STATUS_LU).toBe(R.STATUS_LU);
  });

  it('the reset handshake as Linux igb answers it: RSTD once, PFACK then PFSTS, RESET|ACK with the assigned MAC, then CTS on every reply', () => {
    const model = new IgbvfModel({ mac: '52:54:00:ab:cd:ef' });
    const d = open(model);
    const bar = d.bar(0);
    expect(bar.read32(R.V2PMAILBOX) & R.V2P_RSTD).toBe(R.V2P_RSTD); // the PF driver signalled PFRSTD
    expect(bar.read32(R.V2PMAILBOX) & R.V2P_RSTD).toBe(0); // read to clear
    // Before a reset the PF takes no request: NACK without CTS.
    expect(post(d, [VF_SET_MAC_ADDR, 0x00005402, 0x0100]) & (R.V2P_PFACK | R.V2P_PFSTS)).toBe(R.V2P_PFACK | R.V2P_PFSTS);
    expect(reply(d, 1)).toEqual([(VF_SET_MAC_ADDR | MSG_NACK) >>> 0]);
    bar.write32(R.CTRL, R.CTRL_RST);
    expect(bar.read32(R.V2PMAILBOX) & (R.V2P_RSTD | R.V2P_RSTI)).toBe(0); // QEMU: no RSTD after a VF reset
    expect(post(d, [VF_RESET]) & (R.V2P_PFACK | R.V2P_PFSTS)).toBe(R.V2P_PFACK | R.V2P_PFSTS);
    const [w0, w1, w2] = reply(d, 3);
    expect(w0).toBe((VF_RESET | MSG_ACK) >>> 0);
    expect([w1! & 0xff, (w1! >>> 8) & 0xff, (w1! >>> 16) & 0xff, w1! >>> 24, w2! & 0xff, (w2! >>> 8) & 0xff]).toEqual([0x52, 0x54, 0, 0xab, 0xcd, 0xef]);
    expect(model.pf.cts && model.pf.rxEnabled && model.pf.txEnabled).toBe(true);
    // An administrator set the MAC: the VF may not change it.
    post(d, [VF_SET_MAC_ADDR, 0x00005402, 0x0100]);
    expect(reply(d, 1)).toEqual([(VF_SET_MAC_ADDR | MSG_CTS | MSG_NACK) >>> 0]);
    // igb has no API negotiation: ixgbe's API_NEGOTIATE (0x08) is an unknown message.
    post(d, [0x08, 0]);
    expect(reply(d, 1)).toEqual([(0x08 | MSG_CTS | MSG_NACK) >>> 0]);
    expect(model.errors).toEqual([]);
  });

  it('without an assigned MAC the reset is NACKed, the VF sets its own, and a VF reset makes the PF forget it', () => {
    const model = new IgbvfModel();
    const d = open(model);
    post(d, [VF_RESET]);
    expect(reply(d, 3)[0]).toBe((VF_RESET | MSG_NACK) >>> 0);
    post(d, [VF_SET_MAC_ADDR, 0x00000002, 0x0700]);
    expect(reply(d, 1)).toEqual([(VF_SET_MAC_ADDR | MSG_CTS | MSG_ACK) >>> 0]);
    expect(Array.from(model.pf.mac!)).toEqual([2, 0, 0, 0, 0, 7]);
    d.bar(0).write32(R.CTRL, R.CTRL_RST);
    expect(model.pf.mac).toBeNull();
    expect(model.pf.cts).toBe(false);
    d.reset(); // a function reset: the same
    expect(model.pf.rxEnabled).toBe(false);
  });

  it('a PF whose driver is down acknowledges nothing and shows RSTI; back up, RSTD', () => {
    const model = new IgbvfModel({ pfUp: false });
    const d = open(model);
    expect(post(d, [VF_RESET]) & (R.V2P_PFACK | R.V2P_PFSTS | R.V2P_RSTI)).toBe(R.V2P_RSTI);
    model.pfUp();
    expect(d.bar(0).read32(R.V2PMAILBOX) & (R.V2P_RSTI | R.V2P_RSTD)).toBe(R.V2P_RSTD);
  });

  it('routes the mailbox and queue causes to vectors through IVAR, auto-clears with EIAC, and reads EICR/EIMS the way QEMU does', async () => {
    const model = new IgbvfModel({ mac: '52:54:00:00:00:09' });
    const d = open(model);
    const bar = d.bar(0);
    d.config.setBusMaster(true); // MSI-X messages are writes: no bus mastering, no interrupts
    const set = d.enableInterrupts('msix', 3);
    const fired: number[] = [];
    set.vectors.forEach((v, i) => v.on('interrupt', () => fired.push(i)));
    bar.write32(R.IVAR_MISC, R.IVAR_VALID | 2);
    bar.write32(R.EIAC, R.EICR_VECTORS);
    bar.write32(R.EIMS, (1 << 2) | (1 << 1));
    // The PF's ACK and its reply: the mailbox cause. QEMU 10 takes IVAR_MISC's vector number
    // (2) as a cause mask: it raises vector 1's cause, never vector 2's (measured in the guest).
    post(d, [VF_RESET]);
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toContain(1);
    expect(fired).not.toContain(2);
    expect(model.interruptState).toEqual({ pending: 0, enabled: 6 }); // auto-cleared, still unmasked (QEMU: no auto-mask)
    bar.write32(R.EIMC, 1 << 1);
    bar.write32(R.EICR, 0x5);
    expect(bar.read32(R.EICR)).toBe(0x5); // the value last written, not the causes
    expect(bar.read32(R.EICR)).toBe(0);
    expect(bar.read32(R.EIMS)).toBe(6); // the value last written to EIMS (EIMC does not change it)
    // A cause raised while masked fires when unmasked.
    bar.write32(R.EICS, 1 << 1);
    expect(model.interruptState.pending).toBe(2);
    fired.length = 0;
    bar.write32(R.EIMS, 1 << 1);
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toEqual([1]);
    set.disable();
  });

  it("filters receive as the PF programs it: the VF's address, broadcast, registered multicast hashes; queues must be on and the PF must have enabled them", () => {
    const model = new IgbvfModel({ mac: '52:54:00:00:00:09' });
    const tap = new FrameTap();
    wire(model, tap);
    const d = open(model);
    const bar = d.bar(0);
    d.config.setBusMaster(true);
    expect(model.canReceive()).toBe(false); // no reset handshake yet: VFRE off
    post(d, [VF_RESET]);
    reply(d, 3);
    const mc = Uint8Array.of(0x01, 0x00, 0x5e, 0x01, 0x02, 0x03);
    post(d, [VF_SET_MULTICAST | (1 << 16), multicastHash(mc)]);
    expect(reply(d, 1)).toEqual([(VF_SET_MULTICAST | (1 << 16) | MSG_CTS | MSG_ACK) >>> 0]); // word 0 comes back with the verdict
    const frame = (dst: number[]) => Uint8Array.from([...dst, 0x52, 0x54, 0, 0, 0, 1, 0x08, 0x00, ...new Array(50).fill(0)]);
    expect(model.pf.accepts(frame([0x52, 0x54, 0, 0, 0, 9]))).toBe(true);
    expect(model.pf.accepts(frame([0x52, 0x54, 0, 0, 0, 8]))).toBe(false);
    expect(model.pf.accepts(frame([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]))).toBe(true);
    expect(model.pf.accepts(frame([...mc]))).toBe(true);
    expect(model.pf.accepts(frame([0x01, 0x00, 0x5e, 0x7f, 0, 1]))).toBe(false);
    expect(model.canReceive()).toBe(false); // the queue is off
    bar.write32(R.RDLEN, 8 * R.DESC_SIZE);
    bar.write32(R.RXDCTL, R.XDCTL_QUEUE_ENABLE);
    bar.write32(R.RDT, 7);
    expect(model.canReceive()).toBe(true);
    bar.write32(R.RDLEN, 100);
    expect(model.errors).toEqual(['RDLEN = 100: not a multiple of 128 bytes']);
  });

  it('keeps the statistics as 32-bit counters the driver cannot write; PF_CONTROL_MSG pings carry CTS after a reset', () => {
    const model = new IgbvfModel({ mac: '52:54:00:00:00:09' });
    const d = open(model);
    const bar = d.bar(0);
    model.setCounter(R.VFGPTC, 0xffffffff);
    bar.write32(R.VFGPTC, 5);
    expect(bar.read32(R.VFGPTC)).toBe(0xffffffff);
    expect(() => model.setCounter(R.CTRL, 1)).toThrow(RangeError);
    post(d, [VF_RESET]);
    reply(d, 3);
    model.setLink(false);
    expect(bar.read32(R.V2PMAILBOX) & R.V2P_PFSTS).toBe(R.V2P_PFSTS);
    expect(reply(d, 1)).toEqual([(PF_CONTROL_MSG | MSG_CTS) >>> 0]);
  });
});
