/**
 * The split virtqueue's driver side over plain memory, with a few lines of device side in
 * the test: what lands in the descriptor table and the available ring, the used ring read
 * back (tokens and lengths), notification and interrupt suppression with and without
 * EVENT_IDX, the 16-bit indices wrapping, and used entries the driver must not trust.
 */
import { describe, expect, it } from 'vitest';
import { SplitQueue, splitQueueLayout } from '../../src/virtio/index.js';
import { VRING_AVAIL_F_NO_INTERRUPT, VRING_DESC_F_WRITE, VRING_USED_F_NO_NOTIFY, vringNeedEvent } from '../../src/uapi/virtio.js';

const IOVA = 0x1_2345_0000;

/** A queue over fresh memory, and the device's view of it (the spec's layout, read with DataView). */
function queue(size: number, eventIdx: boolean) {
  const layout = splitQueueLayout(size);
  const mem = new ArrayBuffer(layout.bytes);
  const q = new SplitQueue(mem, IOVA, size, eventIdx);
  const v = new DataView(mem);
  let kicks = 0;
  q.setNotifier(() => kicks++);
  let devUsed = 0; // the device's used idx
  let devAvail = 0; // how far the device has read the avail ring
  const dev = {
    desc: (i: number) => ({
      addr: v.getBigUint64(16 * i, true),
      len: v.getUint32(16 * i + 8, true),
      flags: v.getUint16(16 * i + 12, true),
      next: v.getUint16(16 * i + 14, true),
    }),
    availFlags: () => v.getUint16(layout.avail, true),
    availIdx: () => v.getUint16(layout.avail + 2, true),
    availRing: (slot: number) => v.getUint16(layout.avail + 4 + 2 * slot, true),
    usedEvent: () => v.getUint16(layout.avail + 4 + 2 * size, true),
    setAvailEvent: (x: number) => v.setUint16(layout.used + 4 + 8 * size, x, true),
    setUsedFlags: (x: number) => v.setUint16(layout.used, x, true),
    /** Takes the next available head. */
    pop(): number {
      const head = dev.availRing(devAvail % size);
      devAvail = (devAvail + 1) & 0xffff;
      return head;
    },
    /** Returns a used entry; true if the driver asked for an interrupt for it. */
    push(id: number, len: number): boolean {
      const old = devUsed;
      v.setUint32(layout.used + 4 + 8 * (devUsed % size), id, true);
      v.setUint32(layout.used + 8 + 8 * (devUsed % size), len, true);
      devUsed = (devUsed + 1) & 0xffff;
      v.setUint16(layout.used + 2, devUsed, true);
      return eventIdx ? vringNeedEvent(dev.usedEvent(), devUsed, old) : (dev.availFlags() & VRING_AVAIL_F_NO_INTERRUPT) === 0;
    },
    get kicks() {
      return kicks;
    },
  };
  return { q, dev, layout };
}

describe('SplitQueue', () => {
  it('lays out the three parts as the spec does, the used ring on its own cache line', () => {
    expect(splitQueueLayout(256)).toEqual({ bytes: 4672 + 4 + 8 * 256 + 2, desc: 0, avail: 4096, used: 4672 });
    const l = splitQueueLayout(256);
    expect(l.used % 64).toBe(0);
    expect(l.used).toBeGreaterThanOrEqual(l.avail + 4 + 2 * 256 + 2);
    expect(l.bytes).toBe(l.used + 4 + 8 * 256 + 2);
    const { q } = queue(8, true);
    expect([q.descIova, q.availIova, q.usedIova]).toEqual([IOVA, IOVA + 128, IOVA + 192]);
  });

  it('refuses sizes that are not a power of two up to 32768, and memory too small', () => {
    for (const n of [0, 3, 100, 65536, 1.5]) expect(() => new SplitQueue(new ArrayBuffer(1 << 20), 0, n, true)).toThrow(/power of two in \[1, 32768\]/);
    expect(() => new SplitQueue(new ArrayBuffer(100), 0, 8, true)).toThrow(/bytes needed for 8 entries/);
  });

  it('writes one descriptor per buffer and its head into the avail ring; the idx only on publish()', () => {
    const { q, dev } = queue(8, true);
    q.add(0x1000, 0x2, 1526, VRING_DESC_F_WRITE, 77);
    q.add(0xfffffff4, 0, 60, 0, 78);
    expect(dev.desc(0)).toEqual({ addr: 0x2_0000_1000n, len: 1526, flags: VRING_DESC_F_WRITE, next: 0 });
    expect(dev.desc(1)).toEqual({ addr: 0xfffffff4n, len: 60, flags: 0, next: 0 });
    expect([dev.availRing(0), dev.availRing(1)]).toEqual([0, 1]);
    expect(dev.availIdx()).toBe(0);
    expect(q.freeCount).toBe(6);
    expect(q.inFlight).toBe(2);
    q.publish();
    expect(dev.availIdx()).toBe(2);
    expect(dev.availFlags()).toBe(0); // with EVENT_IDX the driver must leave flags 0
  });

  it('unadd() takes back unpublished buffers', () => {
    const { q, dev } = queue(8, true);
    q.add(1, 0, 10, 0, 1);
    q.add(2, 0, 10, 0, 2);
    q.add(3, 0, 10, 0, 3);
    q.unadd(2);
    q.publish();
    expect(dev.availIdx()).toBe(1);
    expect(q.freeCount).toBe(7);
    q.add(4, 0, 10, 0, 4);
    expect(dev.desc(dev.availRing(1)).addr).toBe(4n);
  });

  it('hands back tokens and lengths in used order; descriptors are reused', () => {
    const { q, dev } = queue(4, true);
    for (let t = 0; t < 4; t++) q.add(0x1000 * t, 0, 100, VRING_DESC_F_WRITE, 100 + t);
    q.publish();
    expect(q.freeCount).toBe(0);
    const heads = [dev.pop(), dev.pop(), dev.pop()];
    dev.push(heads[2]!, 70);
    dev.push(heads[0]!, 80);
    expect(q.hasUsed()).toBe(true);
    const out = new Uint32Array(8);
    const lens = new Uint32Array(8);
    expect(q.takeUsed(out, lens, 8, 1)).toBe(2);
    expect([...out.subarray(1, 3)]).toEqual([102, 100]);
    expect([...lens.subarray(0, 2)]).toEqual([70, 80]);
    expect(q.hasUsed()).toBe(false);
    expect(q.freeCount).toBe(2);
    dev.push(heads[1]!, 90);
    expect(q.takeUsed(out, null, 8)).toBe(1);
    expect(out[0]).toBe(101);
    expect(q.inFlight).toBe(1);
    expect(q.badUsed).toBe(0);
  });

  it('takes no more than max, leaving the rest for the next call', () => {
    const { q, dev } = queue(8, true);
    for (let t = 0; t < 5; t++) q.add(t, 0, 1, 0, t);
    q.publish();
    for (let t = 0; t < 5; t++) dev.push(dev.pop(), 1);
    const out = new Uint32Array(8);
    expect(q.takeUsed(out, null, 3)).toBe(3);
    expect(q.takeUsed(out, null, 3, 3)).toBe(2);
    expect([...out.subarray(0, 5)]).toEqual([0, 1, 2, 3, 4]);
  });

  it('refuses and counts used entries naming a descriptor it does not own: out of range, never added, or twice', () => {
    const { q, dev } = queue(4, true);
    q.add(0x10, 0, 1, 0, 7);
    q.publish();
    const head = dev.pop();
    dev.push(9, 1); // out of range
    dev.push(2, 1); // a free descriptor
    dev.push(head, 5); // the real one
    dev.push(head, 5); // the same again
    const out = new Uint32Array(4);
    const lens = new Uint32Array(4);
    expect(q.takeUsed(out, lens, 4)).toBe(1);
    expect([out[0], lens[0]]).toEqual([7, 5]);
    expect(q.badUsed).toBe(3);
    expect(q.freeCount).toBe(4);
    expect(q.hasUsed()).toBe(false);
  });

  it('with EVENT_IDX, notifies only when the avail idx crosses avail_event, at most once per kick', () => {
    const { q, dev } = queue(8, true);
    expect(q.kick()).toBe(false); // nothing new
    q.add(1, 0, 1, 0, 1);
    q.publish();
    expect(q.kick()).toBe(true); // avail_event 0: the device wants to hear of entry 0
    expect(dev.kicks).toBe(1);
    dev.pop();
    dev.setAvailEvent(5); // the device: tell me when entry 5 is there
    for (let i = 0; i < 3; i++) q.add(1, 0, 1, 0, 1);
    q.publish();
    expect(q.kick()).toBe(false); // idx 1 -> 4 does not cross 5
    for (let i = 0; i < 3; i++) q.add(1, 0, 1, 0, 1);
    q.publish();
    expect(q.kick()).toBe(true); // 4 -> 7 crosses 5
    expect(dev.kicks).toBe(2);
    expect(q.notifications).toBe(2);
  });

  it('without EVENT_IDX, notifies unless the device set VRING_USED_F_NO_NOTIFY', () => {
    const { q, dev } = queue(8, false);
    q.add(1, 0, 1, 0, 1);
    q.publish();
    expect(q.kick()).toBe(true);
    dev.setUsedFlags(VRING_USED_F_NO_NOTIFY);
    q.add(1, 0, 1, 0, 1);
    q.publish();
    expect(q.kick()).toBe(false);
    dev.setUsedFlags(0);
    q.add(1, 0, 1, 0, 1);
    q.publish();
    expect(q.kick()).toBe(true);
    expect(dev.kicks).toBe(2);
  });

  it('with EVENT_IDX, asks for an interrupt only while enabled: used_event at the next entry, else out of reach', () => {
    const { q, dev } = queue(8, true);
    const out = new Uint32Array(8);
    for (let i = 0; i < 8; i++) q.add(i, 0, 1, 0, i);
    q.publish();
    // Disabled (the start): a full ring of used entries raises nothing.
    for (let i = 0; i < 8; i++) expect(dev.push(dev.pop(), 1)).toBe(false);
    expect(q.takeUsed(out, null, 8)).toBe(8);
    expect(dev.usedEvent()).toBe((8 + 0x8000) & 0xffff);
    // Enabled: the next used entry interrupts, once.
    for (let i = 0; i < 8; i++) q.add(i, 0, 1, 0, i);
    q.publish();
    expect(q.enableInterrupts()).toBe(false);
    expect(dev.usedEvent()).toBe(8);
    expect(dev.push(dev.pop(), 1)).toBe(true);
    expect(dev.push(dev.pop(), 1)).toBe(false);
    // enableInterrupts reports entries that came before it (no interrupt will come for them).
    q.disableInterrupts();
    expect(q.enableInterrupts()).toBe(true);
    q.disableInterrupts();
    expect(q.takeUsed(out, null, 8)).toBe(2);
    expect(dev.usedEvent()).toBe((10 + 0x8000) & 0xffff);
  });

  it('without EVENT_IDX, suppresses interrupts with VRING_AVAIL_F_NO_INTERRUPT', () => {
    const { q, dev } = queue(8, false);
    expect(dev.availFlags()).toBe(VRING_AVAIL_F_NO_INTERRUPT);
    q.enableInterrupts();
    expect(dev.availFlags()).toBe(0);
    q.disableInterrupts();
    expect(dev.availFlags()).toBe(VRING_AVAIL_F_NO_INTERRUPT);
  });

  it('runs across the 16-bit wrap of avail and used idx: 70,000 buffers through an 8-entry queue, in order', () => {
    const { q, dev } = queue(8, true);
    const out = new Uint32Array(8);
    const lens = new Uint32Array(8);
    let next = 0;
    let expected = 0;
    let interrupts = 0;
    let wrappedAvail = false;
    while (expected < 70_000) {
      while (q.freeCount > 0 && next < 70_000) {
        q.add(next & 0xffff, 0, 64, VRING_DESC_F_WRITE, next);
        next++;
      }
      q.publish();
      const before = dev.kicks;
      q.kick();
      if (dev.availIdx() < 8 && next > 8) wrappedAvail = true;
      // The device: takes what is available, and (EVENT_IDX) asks to hear again only when it ran dry.
      let got = 0;
      while (((dev.availIdx() - (next - q.inFlight + got)) & 0xffff) !== 0 && got < q.inFlight) {
        const head = dev.pop();
        if (dev.push(head, 64 + (got % 3))) interrupts++;
        got++;
      }
      dev.setAvailEvent(dev.availIdx());
      expect(dev.kicks - before).toBeLessThanOrEqual(1);
      let n = q.takeUsed(out, lens, 8);
      for (let i = 0; i < n; i++) expect(out[i]).toBe(expected++);
      while ((n = q.takeUsed(out, lens, 8)) > 0) for (let i = 0; i < n; i++) expect(out[i]).toBe(expected++);
    }
    expect(wrappedAvail).toBe(true);
    expect(q.lastUsed).toBe(70_000 & 0xffff);
    expect(q.badUsed).toBe(0);
    expect(interrupts).toBe(0); // never enabled
  });

  it('drain() hands back every token the device still holds and frees every descriptor', () => {
    const { q, dev } = queue(4, true);
    for (let t = 0; t < 3; t++) q.add(t, 0, 1, 0, 50 + t);
    q.publish();
    dev.push(dev.pop(), 1);
    const out = new Uint32Array(4);
    q.takeUsed(out, null, 4);
    expect(q.drain(out)).toBe(2);
    expect([...out.subarray(0, 2)].sort()).toEqual([51, 52]);
    expect(q.freeCount).toBe(4);
  });
});
