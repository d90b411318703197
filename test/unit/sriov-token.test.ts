/**
 * The SR-IOV VF token on the fake kernel, case by case as vfio_pci_validate_vf_token decides
 * (and as the library names each refusal): a PF bound to vfio-pci has its owner set a token
 * (Device.setVfToken) that every VF opener presents (openDevice(vf, { vfToken })); missing or
 * wrong is EACCES, a token nobody uses is EINVAL. Also the device-name format the shim lets
 * through, VFIO_DEVICE_FEATURE's checks, and the cdev bind as 6.12, 6.17 and 6.19 take a token.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Container, openDevice, readPciDevice, type Device } from '../../src/index.js';
import { EduModel } from '../../src/backend/fake/index.js';
import { VFIO_DEVICE_FEATURE } from '../../src/uapi/ioctl.js';
import { VFIO_DEVICE_FEATURE_GET, VFIO_DEVICE_FEATURE_PROBE, VFIO_DEVICE_FEATURE_SET, encodeSetVfToken, uuidBytes, vfioDeviceFeature } from '../../src/uapi/vfio-feature.js';
import { PCI_EXT_CAP_ID_SRIOV, PCI_SRIOV_NUM_VF } from '../../src/uapi/pci-regs.js';
import { IommufdContext } from '../../src/iommu/iommufd.js';
import { PF, VF0, VF1, sriovBench, type SriovBench } from '../helpers/sriov.js';
import { refused } from '../helpers/vfio-refusal.js';

let bench: SriovBench | undefined;
const opened: Device[] = [];
afterEach(() => {
  for (const d of opened.splice(0)) d.close();
  bench?.dispose();
  bench = undefined;
});

const T = 'bd8d9d2b-5a5f-4f5a-a211-f591514ba1f3';
const OTHER = '00000000-0000-4000-8000-000000000001';

function open(b: SriovBench, address: string, vfToken?: string, iommu?: 'container' | 'iommufd'): Device {
  const d = openDevice(address, { ...b.kernel.options, ...(vfToken !== undefined && { vfToken }), ...(iommu && { iommu }) });
  opened.push(d);
  return d;
}


/** Flow 2: the PF on vfio-pci (enable_sriov), opened by its owner, two VFs. */
function flow2(): { b: SriovBench; pf: Device } {
  const b = (bench = sriovBench('vfio-pci'));
  const pf = open(b, PF);
  b.write('sriov_numvfs', '2');
  return { b, pf };
}

describe('VF token: PF bound to vfio-pci', () => {
  it('a VF opens with the token the PF owner set; without it or with another: named EACCES errors with hints', () => {
    const { b, pf } = flow2();
    const none = refused(() => open(b, VF0), 'ERR_VFIO_VF_TOKEN_REQUIRED', 13);
    expect(none.message).toContain(`its PF ${PF} is bound to vfio-pci`);
    expect(none.hint).toContain('setVfToken');
    // vfio-pci's own token is random: nobody can guess it before the owner sets one.
    refused(() => open(b, VF0, T), 'ERR_VFIO_VF_TOKEN_MISMATCH', 13);
    pf.setVfToken(T);
    const wrong = refused(() => open(b, VF0, OTHER), 'ERR_VFIO_VF_TOKEN_MISMATCH', 13);
    expect(wrong.hint).toContain("PF's owner");
    const vf = open(b, VF0, T.toUpperCase());
    expect(vf.address).toBe(VF0);
    expect(vf.iommuApi).toBe('container');
    // The token changes for later opens only.
    pf.setVfToken(OTHER);
    open(b, VF1, OTHER);
  });

  it('the PF itself needs the token while its VFs are in use; with none in use, opening the PF with a token sets it', () => {
    const { b, pf } = flow2();
    pf.close();
    const pf2 = open(b, PF, T); // no VF in use: the token given becomes the PF's
    pf2.close();
    const vf = open(b, VF0, T);
    refused(() => open(b, PF), 'ERR_VFIO_VF_TOKEN_REQUIRED', 13);
    refused(() => open(b, PF, OTHER), 'ERR_VFIO_VF_TOKEN_MISMATCH', 13);
    open(b, PF, T).close();
    vf.close();
    open(b, PF); // no VF in use any more: no token needed
  });

  it('setVfToken: only on a PF (ERR_VFIO_NOT_SRIOV on a VF or another device), a UUID string only', () => {
    const { b, pf } = flow2();
    pf.setVfToken(T);
    const vf = open(b, VF0, T);
    refused(() => vf.setVfToken(T), 'ERR_VFIO_NOT_SRIOV', 25);
    b.kernel.addDevice('0000:00:02.0', new EduModel());
    refused(() => open(b, '0000:00:02.0').setVfToken(T), 'ERR_VFIO_NOT_SRIOV');
    for (const bad of ['not-a-uuid', `${T} `, T.replace(/-/g, ''), 42]) expect(() => pf.setVfToken(bad as string)).toThrow(TypeError);
  });

  it("the PF's config space counts the VFs (NumVFs in its SR-IOV capability)", () => {
    const { pf } = flow2();
    const cap = pf.config.extendedCapabilities().find((c) => c.id === PCI_EXT_CAP_ID_SRIOV)?.offset;
    expect(cap).toBeDefined();
    expect(pf.config.read16(cap! + PCI_SRIOV_NUM_VF)).toBe(2);
  });
});

describe('VF token: given where none is used', () => {
  it('PF on another driver (igb): a VF opens without a token; with one: ERR_VFIO_VF_TOKEN_UNUSED (EINVAL)', () => {
    const b = (bench = sriovBench('igb'));
    b.write('sriov_drivers_autoprobe', '0');
    b.write('sriov_numvfs', '1');
    b.kernel.bindDriver(VF0, 'vfio-pci');
    const e = refused(() => open(b, VF0, T), 'ERR_VFIO_VF_TOKEN_UNUSED', 22);
    expect(e.message).toContain(`PF ${PF} is bound to igb`);
    open(b, VF0);
  });

  it('a device that is neither PF nor VF: ERR_VFIO_VF_TOKEN_UNUSED', () => {
    const b = (bench = sriovBench('igb'));
    b.kernel.addDevice('0000:00:02.0', new EduModel());
    refused(() => open(b, '0000:00:02.0', T), 'ERR_VFIO_VF_TOKEN_UNUSED', 22);
  });
});

describe('VF token: the option and the interfaces', () => {
  it('a vfToken that is not a UUID string is a TypeError naming the call', () => {
    const b = (bench = sriovBench('vfio-pci'));
    for (const bad of ['', 'bd8d9d2b', `${T}x`, `${T} vf_token=${T}`, 7]) {
      expect(() => openDevice(PF, { ...b.kernel.options, vfToken: bad as string })).toThrow(/openDevice: options.vfToken must be a UUID/);
    }
    const c = Container.open(b.kernel.options);
    expect(() => c.openDevice(PF, { vfToken: 'x' })).toThrow(/Container.openDevice: options.vfToken/);
    c.close();
  });
});

describe('VF token through the device cdev (iommufd), as each kernel binds', () => {
  /** Flow 2 under iommufd with the cdev bind of `cdevBind`: the PF open through its cdev, token T set, two VFs. */
  function cdevFlow2(cdevBind?: '6.12' | '6.17' | '6.19'): { b: SriovBench; pf: Device } {
    const b = (bench = sriovBench('vfio-pci', { iommufd: true, ...(cdevBind && { cdevBind }) }));
    const pf = open(b, PF);
    expect(pf.iommuApi).toBe('iommufd');
    pf.setVfToken(T);
    b.write('sriov_numvfs', '2');
    return { b, pf };
  }

  it("6.12: the bind refuses the token flag (EINVAL), told as ERR_VFIO_VF_TOKEN_IOMMUFD; it checks no token; 'auto' takes the container", () => {
    const { b } = cdevFlow2();
    const fds = b.kernel.openFds;
    const e = refused(() => open(b, VF0, T, 'iommufd'), 'ERR_VFIO_VF_TOKEN_IOMMUFD', 22);
    expect(e.message).toContain('no VFIO_DEVICE_BIND_FLAG_TOKEN (Linux 6.17+)');
    expect(e.hint).toContain("iommu: 'container'");
    // Told by what the kernel answered, not assumed.
    expect(e.cause).toMatchObject({ code: 'EINVAL', op: 'VFIO_DEVICE_BIND_IOMMUFD' });
    expect(b.kernel.openFds).toBe(fds);
    expect(open(b, VF0, T).iommuApi).toBe('container');
    const ctx = IommufdContext.open(b.kernel.options);
    refused(() => ctx.openDevice(VF1, { vfToken: T }), 'ERR_VFIO_VF_TOKEN_IOMMUFD', 22);
    expect(() => ctx.openDevice(VF1, { vfToken: 'x' })).toThrow(/IommufdContext.openDevice: options.vfToken must be a UUID/);
    expect(ctx.openDevice(VF1).address).toBe(VF1);
    ctx.close();
  });

  it('6.17: the bind refuses the token pointer (E2BIG), told as ERR_VFIO_VF_TOKEN_IOMMUFD; a bind without one is checked', () => {
    const { b } = cdevFlow2('6.17');
    const e = refused(() => open(b, VF0, T, 'iommufd'), 'ERR_VFIO_VF_TOKEN_IOMMUFD', 7);
    expect(e.message).toContain('(E2BIG)');
    expect(e.message).toContain('6.19 (and 6.18.3)');
    refused(() => open(b, VF0, undefined, 'iommufd'), 'ERR_VFIO_VF_TOKEN_REQUIRED', 13);
    expect(open(b, VF0, T).iommuApi).toBe('container');
  });

  it('6.19: a VF opens through its cdev with the right token; none is ERR_VFIO_VF_TOKEN_REQUIRED, another ERR_VFIO_VF_TOKEN_MISMATCH', () => {
    const { b } = cdevFlow2('6.19');
    const fds = b.kernel.openFds;
    refused(() => open(b, VF0, undefined, 'iommufd'), 'ERR_VFIO_VF_TOKEN_REQUIRED', 13);
    refused(() => open(b, VF0, OTHER, 'iommufd'), 'ERR_VFIO_VF_TOKEN_MISMATCH', 13);
    expect(b.kernel.openFds).toBe(fds);
    expect(open(b, VF0, T.toUpperCase(), 'iommufd').iommuApi).toBe('iommufd');
    const ctx = IommufdContext.open(b.kernel.options);
    expect(ctx.openDevice(VF1, { vfToken: T }).address).toBe(VF1);
    ctx.close();
  });

  it('6.19: the PF needs the token through its cdev while its VFs are in use, and takes one given while none is', () => {
    const { b, pf } = cdevFlow2('6.19');
    pf.close();
    open(b, PF, OTHER, 'iommufd').close();
    refused(() => open(b, VF0, T, 'iommufd'), 'ERR_VFIO_VF_TOKEN_MISMATCH', 13);
    open(b, VF0, OTHER, 'iommufd');
    refused(() => open(b, PF, undefined, 'iommufd'), 'ERR_VFIO_VF_TOKEN_REQUIRED', 13);
    expect(open(b, PF, OTHER, 'iommufd').iommuApi).toBe('iommufd');
  });

  it.each([
    ['6.12', 22],
    ['6.17', 7],
    ['6.19', 22],
  ] as const)('%s: a token where none is used is ERR_VFIO_VF_TOKEN_UNUSED through the cdev too', (cdevBind, errno) => {
    const b = (bench = sriovBench('igb', { iommufd: true, cdevBind }));
    b.write('sriov_drivers_autoprobe', '0');
    b.write('sriov_numvfs', '1');
    b.kernel.bindDriver(VF0, 'vfio-pci');
    const e = refused(() => open(b, VF0, T, 'iommufd'), 'ERR_VFIO_VF_TOKEN_UNUSED', errno);
    expect(e.message).toContain(`PF ${PF} is bound to igb`);
    b.kernel.addDevice('0000:00:02.0', new EduModel());
    refused(() => open(b, '0000:00:02.0', T, 'iommufd'), 'ERR_VFIO_VF_TOKEN_UNUSED', errno);
    expect(open(b, VF0, undefined, 'iommufd').iommuApi).toBe('iommufd');
  });
});

describe('VF token: what reaches the kernel', () => {
  it("groupDeviceFd passes '<name>' or '<name> vf_token=<uuid>' only; the match parses as vfio_pci_core_match", () => {
    const b = (bench = sriovBench('vfio-pci'));
    const k = b.kernel;
    const c = Container.open(k.options);
    const g = c.attachGroup(readPciDevice(PF, k.options).iommuGroup!);
    for (const bad of [`${PF}  vf_token=${T}`, `${PF} vf_token=${T} `, `${PF} vf_token=${T.slice(1)}`, `${PF} foo=1`, `${PF} vf_token=${T} vf_token=${T}`, 'x'.repeat(65), '']) {
      expect(() => k.groupDeviceFd(g.file, bad), JSON.stringify(bad)).toThrow(TypeError);
    }
    // The kernel's prefix match: a longer name without a space names no device.
    expect(() => k.groupDeviceFd(g.file, `${PF}0`)).toThrow(expect.objectContaining({ code: 'ENODEV' }));
    const f = k.groupDeviceFd(g.file, `${PF} vf_token=${T.toUpperCase()}`);
    k.close(f);
    c.close();
  });

  it('VFIO_DEVICE_FEATURE: PCI_VF_TOKEN only (others are refused before the kernel), set-only, PROBE answers', () => {
    const { b, pf } = flow2();
    const k = b.kernel;
    const feature = (flags: number, data = 16) => {
      const bytes = new Uint8Array(vfioDeviceFeature.size + data);
      vfioDeviceFeature.encode({ argsz: bytes.length, flags }, { bytes });
      return bytes;
    };
    expect(k.ioctl(pf.file, VFIO_DEVICE_FEATURE, feature(VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET))).toBe(0);
    expect(() => k.ioctl(pf.file, VFIO_DEVICE_FEATURE, feature(VFIO_DEVICE_FEATURE_GET))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => k.ioctl(pf.file, VFIO_DEVICE_FEATURE, feature(VFIO_DEVICE_FEATURE_SET, 8))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => k.ioctl(pf.file, VFIO_DEVICE_FEATURE, feature(VFIO_DEVICE_FEATURE_SET | 1))).toThrow(RangeError);
    expect(k.ioctl(pf.file, VFIO_DEVICE_FEATURE, encodeSetVfToken(uuidBytes(T)!))).toBe(0);
    open(b, VF0, T);
  });

  it('random tokens from crypto.randomUUID() work end to end', () => {
    const { b, pf } = flow2();
    const token = randomUUID();
    pf.setVfToken(token);
    open(b, VF0, token);
  });
});
