/**
 * The virtio PCI transport against the fake virtio-net model (laid out as QEMU 7.2's
 * virtio-net-pci): the structures found through the vendor capabilities, the status
 * handshake, feature negotiation (kept, refused, required and missing), queue setup with its
 * notify address and MSI-X vector, device configuration reads, the ISR, DEVICE_NEEDS_RESET,
 * and the names for display. Also what it says about a device that is not virtio.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openDevice, type Device } from '../../src/index.js';
import { EduModel, FakeKernel, VirtioNetModel, type VirtioNetModelOptions } from '../../src/backend/fake/index.js';
import { SplitQueue, VirtioPciTransport, featureNames, findVirtioCaps, statusNames, virtioDeviceName, virtioDeviceType } from '../../src/virtio/index.js';
import {
  VIRTIO_CONFIG_S_ACKNOWLEDGE,
  VIRTIO_CONFIG_S_DRIVER,
  VIRTIO_CONFIG_S_DRIVER_OK,
  VIRTIO_CONFIG_S_FAILED,
  VIRTIO_CONFIG_S_FEATURES_OK,
  VIRTIO_F_ACCESS_PLATFORM,
  VIRTIO_F_VERSION_1,
  VIRTIO_MSI_NO_VECTOR,
  VIRTIO_NET_F_MAC,
  VIRTIO_NET_F_MRG_RXBUF,
  VIRTIO_NET_F_STATUS,
  VIRTIO_RING_F_EVENT_IDX,
} from '../../src/uapi/virtio.js';

const ADDR = '0000:00:04.0';
const bit = (n: number): bigint => 1n << BigInt(n);
let kernel: FakeKernel | null = null;
let device: Device | null = null;

afterEach(() => {
  device?.close();
  if (kernel) {
    expect(kernel.faults).toEqual([]);
    expect(kernel.openFds).toBe(0);
    kernel.dispose();
  }
  kernel = null;
  device = null;
});

function open(options: VirtioNetModelOptions = {}): { t: VirtioPciTransport; model: VirtioNetModel; dev: Device } {
  kernel = new FakeKernel();
  const model = new VirtioNetModel(options);
  kernel.addDevice(ADDR, model);
  device = openDevice(ADDR, kernel.options);
  return { t: VirtioPciTransport.open(device), model, dev: device };
}

describe('VirtioPciTransport', () => {
  it("finds the four structures where QEMU puts them (BAR4, a page each) and writes nothing to the device", () => {
    const { t, model, dev } = open();
    expect(t.caps).toEqual({
      common: { bar: 4, offset: 0x0000, length: 0x1000, capOffset: expect.any(Number) },
      isr: { bar: 4, offset: 0x1000, length: 0x1000, capOffset: expect.any(Number) },
      device: { bar: 4, offset: 0x2000, length: 0x1000, capOffset: expect.any(Number) },
      notify: { bar: 4, offset: 0x3000, length: 0x1000, capOffset: expect.any(Number) },
      notifyOffMultiplier: 4,
    });
    expect(findVirtioCaps(dev)).toEqual(t.caps);
    expect(t.deviceType).toBe(1);
    expect(t.deviceName).toBe('net');
    expect(model.status).toBe(0);
    expect(t.deviceFeatures()).toBe(model.deviceFeatures);
    expect(t.numQueues).toBe(3); // one pair and the control queue
  });

  it('runs the handshake: reset, ACKNOWLEDGE, DRIVER, features kept with FEATURES_OK, queues, DRIVER_OK', () => {
    const { t, model, dev } = open();
    dev.config.setBusMaster(true);
    t.reset();
    t.addStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE);
    t.addStatus(VIRTIO_CONFIG_S_DRIVER);
    expect(statusNames(t.status)).toBe('ACKNOWLEDGE|DRIVER');
    const wanted = bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_ACCESS_PLATFORM) | bit(VIRTIO_RING_F_EVENT_IDX) | bit(VIRTIO_NET_F_MAC) | bit(40 + 20); // a bit nobody offers
    const got = t.negotiate(wanted, bit(VIRTIO_F_VERSION_1));
    expect(got).toBe(wanted & model.deviceFeatures);
    expect(got & bit(60)).toBe(0n);
    expect(model.driverFeatures).toBe(got);
    expect(t.driverFeatures).toBe(got);
    expect(t.hasFeature(VIRTIO_RING_F_EVENT_IDX)).toBe(true);
    expect(t.hasFeature(VIRTIO_NET_F_MRG_RXBUF)).toBe(false);
    expect(t.status & VIRTIO_CONFIG_S_FEATURES_OK).toBe(VIRTIO_CONFIG_S_FEATURES_OK);
    expect(t.queueMaxSize(0)).toBe(256);
    expect(t.queueMaxSize(7)).toBe(0);
    const irq = dev.enableInterrupts('msix', 2);
    t.setConfigVector(0);
    const q = SplitQueue.allocate(dev, 64, true);
    const n = t.setupQueue(1, { size: 64, desc: q.descIova, avail: q.availIova, used: q.usedIova, vector: 1 });
    expect(n.offset).toBe(0x3000 + 4 * 1);
    expect(n.index).toBe(1);
    t.addStatus(VIRTIO_CONFIG_S_DRIVER_OK);
    expect(model.status).toBe(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
    t.notify(n); // nothing on the queue: the device finds it empty
    expect(t.readIsr()).toBe(0);
    t.reset();
    expect(model.status).toBe(0);
    expect(t.driverFeatures).toBe(0n);
    irq.disable();
    q.free();
    expect(model.errors).toEqual([]);
  });

  it('reads the device configuration consistently: the MAC, the link status', () => {
    const { t } = open({ mac: '02:00:00:aa:bb:cc', link: false });
    expect(t.configLength).toBe(0x1000);
    expect(t.readConfig((r) => Array.from({ length: 6 }, (_, i) => r.u8(i)))).toEqual([2, 0, 0, 0xaa, 0xbb, 0xcc]);
    expect(t.readConfig((r) => r.u16(6)) & 1).toBe(0);
    expect(() => t.readConfig((r) => r.u32(0x1000))).toThrow(RangeError);
  });

  it('refuses when a required feature is missing, and when the device drops FEATURES_OK: ERR_VFIO_VIRTIO_FEATURES, status FAILED', () => {
    const { t, model } = open({ features: new VirtioNetModel().deviceFeatures & ~bit(VIRTIO_F_ACCESS_PLATFORM) });
    t.reset();
    t.addStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    expect(() => t.negotiate(bit(VIRTIO_F_VERSION_1), bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_ACCESS_PLATFORM))).toThrow(
      expect.objectContaining({ code: 'ERR_VFIO_VIRTIO_FEATURES', message: expect.stringContaining('does not offer ACCESS_PLATFORM') }),
    );
    expect(model.status & VIRTIO_CONFIG_S_FAILED).toBe(VIRTIO_CONFIG_S_FAILED);
    device!.close();
    kernel!.dispose();
    const again = open({ refuseFeatures: bit(VIRTIO_NET_F_STATUS) });
    again.t.reset();
    again.t.addStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    expect(() => again.t.negotiate(bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_NET_F_STATUS), bit(VIRTIO_F_VERSION_1))).toThrow(
      expect.objectContaining({ code: 'ERR_VFIO_VIRTIO_FEATURES', message: expect.stringMatching(/did not keep FEATURES_OK \(status ACKNOWLEDGE\|DRIVER\): it refuses the features STATUS, VERSION_1/) }),
    );
    expect(again.model.status & VIRTIO_CONFIG_S_FAILED).toBe(VIRTIO_CONFIG_S_FAILED);
  });

  it('refuses a queue size the device does not offer, and a vector it refuses', () => {
    const { t, dev } = open({ queueSize: 128, msixVectors: 2 });
    t.reset();
    t.addStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    t.negotiate(bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_ACCESS_PLATFORM), bit(VIRTIO_F_VERSION_1));
    const ring = { desc: 0x10000, avail: 0x11000, used: 0x12000 };
    expect(() => t.setupQueue(0, { size: 256, ...ring })).toThrow(expect.objectContaining({ code: 'ERR_VFIO_VIRTIO_QUEUE_SIZE', message: expect.stringContaining('offers at most 128') }));
    expect(() => t.setupQueue(9, { size: 64, ...ring })).toThrow(expect.objectContaining({ code: 'ERR_VFIO_VIRTIO_QUEUE_SIZE', message: expect.stringContaining('no queue 9') }));
    const irq = dev.enableInterrupts('msix', 2);
    expect(() => t.setConfigVector(5)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_VIRTIO_NO_VECTOR' }));
    t.setConfigVector(VIRTIO_MSI_NO_VECTOR);
    irq.disable();
    t.reset();
  });

  it('sees DEVICE_NEEDS_RESET', () => {
    const { t, model, dev } = open();
    dev.config.setBusMaster(true);
    t.reset();
    t.addStatus(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
    t.negotiate(bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_F_ACCESS_PLATFORM), bit(VIRTIO_F_VERSION_1));
    t.addStatus(VIRTIO_CONFIG_S_DRIVER_OK);
    expect(t.needsReset).toBe(false);
    model.raiseNeedsReset();
    expect(t.needsReset).toBe(true);
    expect(statusNames(t.status)).toBe('ACKNOWLEDGE|DRIVER|FEATURES_OK|DRIVER_OK|DEVICE_NEEDS_RESET');
    expect(t.readIsr() & 2).toBe(2); // a configuration change
    t.reset();
    expect(t.needsReset).toBe(false);
    t.close();
    expect(() => t.status).toThrow(expect.objectContaining({ code: 'ERR_VFIO_CLOSED' }));
  });

  it('says a device that is not virtio is not one (ERR_VFIO_VIRTIO_NOT_MODERN)', () => {
    kernel = new FakeKernel();
    kernel.addDevice('0000:00:02.0', new EduModel());
    device = openDevice('0000:00:02.0', kernel.options);
    expect(() => VirtioPciTransport.open(device!)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_VIRTIO_NOT_MODERN', message: expect.stringContaining('not a virtio PCI function') }));
    expect(() => findVirtioCaps(device!)).toThrow(expect.objectContaining({ code: 'ERR_VFIO_VIRTIO_NOT_MODERN', message: expect.stringContaining('common, notify, ISR') }));
  });
});

describe('virtio names', () => {
  it('names device types, ids, features and status bits', () => {
    expect(virtioDeviceName(1)).toBe('net');
    expect(virtioDeviceName(2)).toBe('block');
    expect(virtioDeviceName(99)).toBe('type 99');
    expect(virtioDeviceType(0x1af4, 0x1041)).toBe(1);
    expect(virtioDeviceType(0x1af4, 0x1000)).toBe(1);
    expect(virtioDeviceType(0x1af4, 0x1001)).toBe(2);
    expect(virtioDeviceType(0x8086, 0x1041)).toBeUndefined();
    expect(featureNames(bit(VIRTIO_F_VERSION_1) | bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_RING_F_EVENT_IDX), 1)).toEqual(['MAC', 'RING_EVENT_IDX', 'VERSION_1']);
    expect(featureNames(bit(VIRTIO_NET_F_MAC) | bit(VIRTIO_F_ACCESS_PLATFORM))).toEqual(['bit 5', 'ACCESS_PLATFORM']);
    expect(statusNames(0)).toBe('0');
    expect(statusNames(VIRTIO_CONFIG_S_ACKNOWLEDGE | 0x20)).toBe('ACKNOWLEDGE|0x20');
  });
});
