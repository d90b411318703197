/**
 * The seam between Device and the interface it was opened through: a Device answers
 * group, container, context and hot reset from its DeviceHost alone. Here a host that is
 * neither a group nor an iommufd context (a stand-in for a third interface) drives a
 * device the fake kernel handed out, and Device needs no change for it.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EduModel, FakeKernel } from '../../src/backend/fake/index.js';
import { IommufdContext, VfioError, type FdHandle } from '../../src/index.js';
import { Device } from '../../src/model/device.js';
import type { DeviceHost } from '../../src/model/device-host.js';
import {
  VFIO_DEVICE_ATTACH_IOMMUFD_PT,
  vfioDeviceAttachIommufdPt,
} from '../../src/uapi/iommufd.js';

const EDU = '0000:00:02.0';
/** Opened through the context itself, so the IOAS has its ranges (and `api`) before the test's device. */
const EDU2 = '0000:00:03.0';

let kernel: FakeKernel;
let ctx: IommufdContext;

beforeEach(() => {
  kernel = new FakeKernel({ iommufd: true });
  kernel.addDevice(EDU, new EduModel());
  kernel.addDevice(EDU2, new EduModel());
  ctx = IommufdContext.open(kernel.options);
  ctx.openDevice(EDU2);
});

afterEach(() => {
  ctx.close();
  kernel.dispose();
});

/** A device fd bound and attached to `ctx`'s IOAS by hand, as another interface would hand one out. */
function deviceFd(): FdHandle {
  const cdev = readdirSync(join(kernel.root, 'sys/bus/pci/devices', EDU, 'vfio-dev'))[0]!;
  const fd = kernel.open(join(kernel.root, 'dev/vfio/devices', cdev));
  kernel.bindIommufd(fd, ctx.file);
  kernel.ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, vfioDeviceAttachIommufdPt.encode({ argsz: vfioDeviceAttachIommufdPt.size, pt_id: ctx.ioasId }));
  return fd;
}

class TestHost implements DeviceHost {
  readonly group = { name: 'a group of the test host' };
  readonly hotResetScope = 'the test host';
  /** The devices it was asked to prove a hot reset for. */
  readonly proofAsked: string[] = [];
  proof: number[] | Error = [];
  constructor(readonly context: IommufdContext) {}
  get backend() {
    return this.context.backend;
  }
  container(device: string): { device: string } {
    return { device };
  }
  // Like iommufd's host, it proves nothing with group fds (the fake models no hot reset
  // info to ask for them).
  hotResetGroupFds(device: string): number[] {
    this.proofAsked.push(device);
    if (this.proof instanceof Error) throw this.proof;
    return this.proof;
  }
}

describe('Device over a DeviceHost it knows only through the seam', () => {
  it('answers group, container and context from the host', () => {
    const host = new TestHost(ctx);
    const dev = new Device(host, EDU, deviceFd(), () => {});
    try {
      expect(dev.group).toBe(host.group);
      expect(dev.container).toEqual({ device: EDU });
      expect(dev.context).toBe(ctx);
      expect(dev.iommuApi).toBe('iommufd');
      expect(dev.bar(0).read32(0x00)).toBe(0x010000ed);
    } finally {
      dev.close();
    }
  });

  it('asks the host for the hot reset proof before the ioctl', () => {
    const host = new TestHost(ctx);
    const dev = new Device(host, EDU, deviceFd(), () => {});
    try {
      host.proof = new VfioError({ code: 'ERR_TEST_PROOF', op: 'proof', message: 'the host refuses' });
      expect(() => dev.hotReset()).toThrow(expect.objectContaining({ code: 'ERR_TEST_PROOF' }));
      host.proof = [];
      // The host's proof was given; the fake then refuses as the kernel does for a device with no slot or bus reset.
      expect(() => dev.hotReset()).toThrow(expect.objectContaining({ code: 'ENODEV', op: 'VFIO_DEVICE_PCI_HOT_RESET' }));
      expect(host.proofAsked).toEqual([EDU, EDU]);
    } finally {
      dev.close();
    }
  });

  it('tells the host once when it closes, and closes its fd', () => {
    const host = new TestHost(ctx);
    const fd = deviceFd();
    let closed = 0;
    const dev = new Device(host, EDU, fd, () => closed++);
    dev.close();
    dev.close();
    expect(closed).toBe(1);
    expect(dev.closed).toBe(true);
    expect(fd.closed).toBe(true);
    expect(() => kernel.bindIommufd(fd, ctx.file)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});
