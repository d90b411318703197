/**
 * Setup mistakes on the real kernel, each a VfioError naming the step with a hint:
 * unknown address, device not bound to vfio-pci, group not viable, group already
 * open, no permission on /dev/vfio/N. Also the shim's argument checks on real fds.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { openDevice, readPciDevice, VfioError, Container } from '../../src/index.js';
import { nativeBackend } from '../../src/backend/native.js';
import { VFIO_GROUP_GET_STATUS, VFIO_GET_API_VERSION, VFIO_DEVICE_PCI_HOT_RESET } from '../../src/uapi/ioctl.js';
import { findPciDevices } from '../../src/host/pci.js';
import { E1000E, bridgedEdu, soloEdu, vmMode, vmOpenOptions } from './guest.js';

const mode = vmMode();
const opts = vmOpenOptions();

function vfioError(fn: () => unknown): VfioError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(VfioError);
    return e as VfioError;
  }
  throw new Error('expected a VfioError');
}

const nic = () => findPciDevices(E1000E)[0]!;

describe('setup mistakes', () => {
  it('unknown PCI address', () => {
    const e = vfioError(() => openDevice('0000:00:1f.7', opts));
    expect(e.code).toBe('ERR_VFIO_NO_DEVICE');
    expect(e.hint).toMatch(/lspci/);
  });

  it('device not bound to vfio-pci, then bound again', () => {
    const { address } = nic();
    const sys = `/sys/bus/pci/devices/${address}`;
    writeFileSync(`${sys}/driver/unbind`, address);
    try {
      expect(readPciDevice(address).driver).toBeNull();
      const e = vfioError(() => openDevice(address, opts));
      expect(e.code).toBe('ERR_VFIO_NOT_BOUND');
      expect(e.op).toBe('check driver');
      expect(e.hint).toContain(`${address}/driver_override`);
    } finally {
      writeFileSync('/sys/bus/pci/drivers/vfio-pci/bind', address);
    }
    expect(readPciDevice(address).driver).toBe('vfio-pci');
    openDevice(address, opts).close();
  });

  // No-IOMMU mode gives every device a group of its own: no group is shared.
  if (mode !== 'noiommu')
  it('group not viable: a sibling is bound to a kernel driver', () => {
    const edu = bridgedEdu();
    const e = vfioError(() => openDevice(edu.address, opts));
    expect(e.code).toBe('ERR_VFIO_GROUP_NOT_VIABLE');
    expect(e.group).toBe(edu.iommuGroup);
    expect(e.hint).toMatch(/virtio-pci/);
  });

  it('group (or, through iommufd, device) already open', () => {
    const { address, iommuGroup } = soloEdu();
    const first = openDevice(address, opts);
    try {
      const e = vfioError(() => openDevice(address, opts));
      if (mode === 'iommufd') {
        // The cdev opens a second time, but only one open may bind it.
        expect(e).toMatchObject({ op: 'VFIO_DEVICE_BIND_IOMMUFD', hint: expect.stringMatching(/already bound/) });
      } else {
        expect(e.code).toBe('EBUSY');
        expect(e.op).toBe(`open /dev/vfio/${mode === 'noiommu' ? 'noiommu-' : ''}${iommuGroup}`);
        expect(e.hint).toMatch(/already open/);
      }
    } finally {
      first.close();
    }
  });

  if (process.env.VFIO_VM_KERNEL !== 'custom')
    it('asking for iommufd on a kernel without it is a named error', () => {
      const e = vfioError(() => openDevice(soloEdu().address, { iommu: 'iommufd' }));
      expect(e).toMatchObject({ code: 'ERR_VFIO_NO_CDEV', hint: expect.stringMatching(/CONFIG_VFIO_DEVICE_CDEV/) });
    });

  if (process.env.VFIO_VM_KERNEL === 'custom' && mode !== 'noiommu')
    it('the legacy group and the iommufd cdev exclude each other', () => {
      const { address } = soloEdu();
      const other: typeof opts = { iommu: mode === 'iommufd' ? 'container' : 'iommufd' };
      const first = openDevice(address, opts);
      try {
        const e = vfioError(() => openDevice(address, other));
        expect(e.code).toBe('EBUSY');
      } finally {
        first.close();
      }
    });

  it('no permission on /dev/vfio/N for an unprivileged user', () => {
    const { address, iommuGroup } = soloEdu();
    const dist = join(process.cwd(), 'dist/index.js');
    expect(existsSync(dist), 'dist/ is built before the guest runs (npm run build:ts)').toBe(true);
    const script = `
      import(${JSON.stringify(dist)}).then(({ openDevice }) => {
        try { openDevice(${JSON.stringify(address)}, ${JSON.stringify(opts)}); console.log(JSON.stringify({ ok: true })); }
        catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, op: e.op, hint: e.hint })); }
      });`;
    const r = spawnSync(process.execPath, ['-e', script], { uid: 1000, gid: 1000, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    if (mode === 'iommufd') {
      expect(out).toMatchObject({ name: 'VfioError', code: 'EACCES', op: 'open /dev/iommu' });
      expect(out.hint).toMatch(/grant it|root/);
    } else if (mode === 'noiommu') {
      expect(out).toMatchObject({ name: 'VfioError', code: expect.stringMatching(/EACCES|EPERM/), op: `open /dev/vfio/noiommu-${iommuGroup}` });
      expect(out.hint).toMatch(/root|CAP_SYS_RAWIO/);
    } else {
      expect(out).toMatchObject({ name: 'VfioError', code: 'EACCES', op: `open /dev/vfio/${iommuGroup}` });
      expect(out.hint).toMatch(/chown/);
    }
  });
});

describe('the shim on real VFIO fds', () => {
  const b = nativeBackend();

  it('checks struct sizes and argsz against the buffer on a group fd', () => {
    const { iommuGroup } = nic();
    const fd = b.open(`/dev/vfio/${mode === 'noiommu' ? 'noiommu-' : ''}${iommuGroup}`);
    try {
      expect(() => b.ioctl(fd, VFIO_GROUP_GET_STATUS, new Uint8Array(4))).toThrow(/smaller than the 8/);
      const lying = new Uint8Array(8);
      new DataView(lying.buffer).setUint32(0, 4096, true);
      expect(() => b.ioctl(fd, VFIO_GROUP_GET_STATUS, lying)).toThrow(/argsz 4096 exceeds/);
      const ok = new Uint8Array(8);
      new DataView(ok.buffer).setUint32(0, 8, true);
      b.ioctl(fd, VFIO_GROUP_GET_STATUS, ok);
      expect(new DataView(ok.buffer).getUint32(4, true) & 1).toBe(1); // viable
      // A container request on a group fd never reaches the kernel as something else.
      expect(() => b.ioctl(fd, VFIO_GET_API_VERSION)).toThrow(/request not valid on a VFIO group/);
    } finally {
      b.close(fd);
    }
  });

  it('refuses MAP_DMA-numbered structs on a container (they carry a vaddr)', () => {
    const c = Container.open();
    try {
      expect(() => b.ioctl(c.file, VFIO_DEVICE_PCI_HOT_RESET, new Uint8Array(32))).toThrow(/request not valid on a VFIO container/);
      expect(b.ioctl(c.file, VFIO_GET_API_VERSION)).toBe(0);
    } finally {
      c.close();
    }
  });
});
