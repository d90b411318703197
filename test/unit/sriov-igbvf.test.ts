/**
 * SR-IOV flow 1 on the fake kernel, end to end as a user runs it: the 82576 PF stays on the
 * kernel's igb, enableSriov makes two VFs without a driver (autoprobe off), bindVfioPci takes
 * one, and openPort drives it with the igbvf driver, trading frames with an 82574 on the same
 * hub. The guest runs the same flow on QEMU's igb (test/vm/sriov.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeKernel, E1000eModel, EthernetHub, I82576Model } from '../../src/backend/fake/index.js';
import { bindVfioPci, enableSriov, openContext, physfnOf } from '../../src/index.js';
import { IgbvfPort, PacketPool, openPort } from '../../src/net/index.js';
import { readTestFrame } from '../../src/net/apps/frames.js';
import { numbered, send } from '../helpers/port-traffic.js';

const PF = '0000:01:00.0';
const E = '0000:00:03.0';
let kernel: FakeKernel | undefined;
afterEach(() => {
  kernel?.dispose();
  kernel = undefined;
});

describe('SR-IOV flow 1 on the fake kernel: a VF of a PF on igb, driven by IgbvfPort', () => {
  it('enables VFs, binds one to vfio-pci, opens it by PCI id and trades frames with an e1000e both ways', async () => {
    const k = (kernel = new FakeKernel({ memlockLimit: 256 << 20 }));
    const hub = new EthernetHub();
    k.addDevice(PF, new I82576Model({ hub, vf: (i) => ({ mac: `52:54:00:00:10:0${i}` }) }), { driver: 'igb', vfDriver: 'igbvf' });
    const e1000e = new E1000eModel({ mac: '52:54:00:12:34:56' });
    hub.attach(e1000e);
    k.addDevice(E, e1000e);
    const o = k.options;
    const info = enableSriov(PF, 2, { ...o, autoprobe: false });
    expect(info.vfs.map((v) => v.driver)).toEqual([null, null]);
    const vf = info.vfs[0]!.address;
    expect(physfnOf(vf, o)).toBe(PF);
    bindVfioPci([vf], { ...o, write: (path: string, data: string) => k.writeSysfs(path, data) });

    const ctx = openContext(o);
    const [dv, de] = [ctx.openDevice(vf), ctx.openDevice(E)];
    const pool = PacketPool.create(ctx, { count: 4096 });
    const v = openPort(dv, { pool });
    const e = openPort(de, { pool, promiscuous: true });
    try {
      expect(v).toBeInstanceOf(IgbvfPort);
      expect(Array.from(v.mac, (b) => b.toString(16).padStart(2, '0')).join(':')).toBe('52:54:00:00:10:00');
      expect(await v.waitForLink(3000)).toBe(true);
      expect(await e.waitForLink(3000)).toBe(true);
      for (const [from, to] of [[v, e], [e, v]] as const) {
        const frames = [60, 1514, 700].map((size, seq) => numbered(1, size, to.mac, from.mac, seq)[0]!);
        expect(send(from, frames)).toBe(3);
        const ids = new Uint32Array(8);
        const got: number[] = [];
        for (let tries = 0; got.length < 3 && tries < 200; tries++) {
          const n = to.rxBurst(ids, 8);
          for (let i = 0; i < n; i++) {
            const t = readTestFrame(to.pool.data[ids[i]!]!, to.pool.length[ids[i]!]);
            expect(t?.intact).toBe(true);
            got.push(t!.seq);
          }
          to.pool.free(ids, n);
          if (n === 0) await to.waitRx(20);
        }
        expect(got).toEqual([0, 1, 2]);
      }
    } finally {
      v.close();
      e.close();
      pool.close();
      dv.close();
      de.close();
      ctx.close();
    }
    expect(k.openFds).toBe(0);
  });
});

describe("the README's SR-IOV fake-kernel snippet", () => {
  it('runs as written: a VF from enableSriov, bound with bindVfioPci(kernel.options), opened by openPort', () => {
    const k = (kernel = new FakeKernel());
    const hub = new EthernetHub();
    k.addDevice('0000:01:00.0', new I82576Model({ hub, vf: (i) => ({ mac: `52:54:00:00:10:0${i}` }) }), { driver: 'igb' });
    const [vf] = enableSriov('0000:01:00.0', 1, { ...k.options, autoprobe: false }).vfs;
    bindVfioPci([vf!.address], k.options);
    const port = openPort(vf!.address, k.options);
    try {
      expect(port).toBeInstanceOf(IgbvfPort);
      expect(Array.from(port.mac, (b) => b.toString(16).padStart(2, '0')).join(':')).toBe('52:54:00:00:10:00');
    } finally {
      port.close();
    }
    expect(k.openFds).toBe(0);
  });
});
