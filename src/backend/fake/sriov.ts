// SR-IOV as drivers/pci/iov.c keeps it: a PF's state from its SR-IOV capability, where its
// VFs sit (routing ID + offset + n * stride), and the sriov_numvfs store with its checks
// (sriov_numvfs_store) and the PF driver's sriov_configure (vfio-pci's needs enable_sriov).
import { errnoError } from './errno.js';
import type { VirtualConfig } from './config.js';
import type { KDevice, KSriov } from './objects.js';
import { PCI_EXT_CAP_ID_SRIOV, PCI_SRIOV_NUM_VF, PCI_SRIOV_TOTAL_VF, PCI_SRIOV_VF_OFFSET, PCI_SRIOV_VF_STRIDE } from '../../uapi/pci-regs.js';
import { findExtendedCapability } from '../../uapi/pci-walk.js';

/** pci_iov_init: a device with an SR-IOV capability is a PF (is_physfn). */
export function sriovOf(config: VirtualConfig, pf: { vfDriver?: string | null; sriovConfigure?: boolean }): KSriov | null {
  if (config.size < 4096) return null;
  const cap = findExtendedCapability((off, w) => config.read(off, w), PCI_EXT_CAP_ID_SRIOV);
  if (cap === undefined) return null;
  return {
    cap,
    totalVfs: config.read(cap + PCI_SRIOV_TOTAL_VF, 2),
    offset: config.read(cap + PCI_SRIOV_VF_OFFSET, 2),
    stride: config.read(cap + PCI_SRIOV_VF_STRIDE, 2),
    vfs: [],
    autoprobe: true,
    vfDriver: pf.vfDriver ?? null,
    configurable: pf.sriovConfigure ?? true,
    token: null,
  };
}

/** pci_iov_virtfn_bus/devfn: VF `index`'s address, its routing ID offset + index * stride past the PF's. */
export function vfAddress(pf: string, s: Pick<KSriov, 'offset' | 'stride'>, index: number): string {
  const m = /^([0-9a-f]{4}):([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/.exec(pf);
  if (!m) throw new RangeError(`vfAddress: ${pf} is not a PCI address`);
  const rid = (Number.parseInt(m[2]!, 16) << 8) + (Number.parseInt(m[3]!, 16) << 3) + Number(m[4]) + s.offset + index * s.stride;
  if (rid > 0xffff) throw new RangeError(`vfAddress: VF ${index} of ${pf} would be past bus ff`);
  const hex = (n: number) => n.toString(16).padStart(2, '0');
  return `${m[1]}:${hex(rid >> 8)}:${hex((rid >> 3) & 0x1f)}.${rid & 7}`;
}

/** kstrtou16(buf, 0, …): decimal, 0x hex or 0 octal, one trailing newline allowed; null otherwise. */
function kstrtou16(text: string): number | null {
  const t = text.endsWith('\n') ? text.slice(0, -1) : text;
  const n = /^0x[0-9a-f]+$/i.test(t) ? Number.parseInt(t.slice(2), 16) : /^0[0-7]*$/.test(t) ? Number.parseInt(t, 8) : /^[1-9][0-9]*$/.test(t) ? Number(t) : NaN;
  return Number.isInteger(n) && n <= 0xffff ? n : null;
}

/** What the sriov_numvfs store asks of the kernel once its checks passed. */
export interface SriovOps {
  /** pci_enable_sriov: makes `n` VFs. */
  enable(pf: KDevice, n: number): void;
  /** pci_disable_sriov: removes them. */
  disable(pf: KDevice): void;
}

/**
 * sriov_numvfs_store: EINVAL for text that is no u16, ERANGE above TotalVFs, nothing for the
 * current count, ENOENT without a driver or one without sriov_configure (vfio-pci without
 * enable_sriov), EBUSY when VFs exist and the count is not 0; then the driver's
 * sriov_configure. Removing VFs that are open through VFIO would block in the kernel until
 * their users let go; the fake refuses with EBUSY instead.
 */
export function storeNumVfs(pf: KDevice, text: string, enableSriov: boolean, ops: SriovOps): void {
  const s = pf.sriov;
  if (!s) throw errnoError('ENOENT', 'open', 'sriov_numvfs (not an SR-IOV PF)');
  const n = kstrtou16(text);
  if (n === null) throw errnoError('EINVAL', 'write', 'sriov_numvfs');
  if (n > s.totalVfs) throw errnoError('ERANGE', 'write', `sriov_numvfs (${n} > sriov_totalvfs ${s.totalVfs})`);
  if (n === s.vfs.length) return;
  if (pf.driver === null) throw errnoError('ENOENT', 'write', 'sriov_numvfs (no driver bound to device; cannot configure SR-IOV)');
  const configurable = pf.driver === 'vfio-pci' ? enableSriov : s.configurable;
  if (!configurable) throw errnoError('ENOENT', 'write', `sriov_numvfs (${pf.driver} does not support SR-IOV configuration via sysfs)`);
  if (n === 0) {
    if (s.vfs.some((v) => v.opens > 0)) throw errnoError('EBUSY', 'write', 'sriov_numvfs (a VF is open through VFIO; the kernel would wait for it)');
    ops.disable(pf);
    pf.config.bytes.fill(0, s.cap + PCI_SRIOV_NUM_VF, s.cap + PCI_SRIOV_NUM_VF + 2);
    return;
  }
  if (s.vfs.length) throw errnoError('EBUSY', 'write', `sriov_numvfs (${s.vfs.length} VFs already enabled. Disable before enabling ${n} VFs)`);
  ops.enable(pf, n);
  pf.config.bytes[s.cap + PCI_SRIOV_NUM_VF] = n & 0xff;
  pf.config.bytes[s.cap + PCI_SRIOV_NUM_VF + 1] = n >> 8;
}
