/** Finding the guest's test devices, and what the NIC suites share (frame sizes, the artifact share). */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { findPciDevices, groupMembers, type OpenOptions, type PciDeviceInfo } from '../../src/index.js';

export const EDU = { vendor: 0x1234, device: 0x11e8 };
export const E1000E = { vendor: 0x8086, device: 0x10d3 };
/** The modern (1.x-only) virtio-net on the root bus; the transitional one sits in the bridge's non-viable group. */
export const VIRTIO_NET = { vendor: 0x1af4, device: 0x1041 };

/** The edu alone in its group (the other one sits behind a bridge with a virtio-net). */
export function soloEdu(): PciDeviceInfo {
  const d = findPciDevices(EDU).find((e) => e.iommuGroup !== null && groupMembers(e.iommuGroup).length === 1);
  if (!d) throw new Error('guest: no edu device alone in its IOMMU group');
  return d;
}

export function bridgedEdu(): PciDeviceInfo {
  const d = findPciDevices(EDU).find((e) => e.iommuGroup !== null && groupMembers(e.iommuGroup).length > 1);
  if (!d) throw new Error('guest: no edu device sharing its IOMMU group');
  return d;
}

/** The kernel interface this guest run tests (run.sh's VFIO_VM_API / VFIO_VM_IOMMU). */
export type VmMode = 'container' | 'iommufd' | 'noiommu';

export function vmMode(): VmMode {
  if (process.env.VFIO_VM_IOMMU === 'none') return 'noiommu';
  return process.env.VFIO_VM_API === 'iommufd' ? 'iommufd' : 'container';
}

/** openDevice options that open devices through this run's interface (never 'auto': each run pins one). */
export function vmOpenOptions(): OpenOptions {
  const mode = vmMode();
  return mode === 'noiommu' ? { iommu: 'container', unsafeNoIommu: true } : { iommu: mode };
}

/**
 * What this guest kernel's cdev bind (VFIO_DEVICE_BIND_IOMMUFD) does with VF tokens, from its
 * version (src/uapi/iommufd.ts has the facts): 'none' before 6.17 (no flag, no check), 'broken'
 * in 6.17 and 6.18 before 6.18.3 (checks, but refuses a token with E2BIG), 'works' after.
 */
export function cdevVfTokens(): 'none' | 'broken' | 'works' {
  const [major = 0, minor = 0, patch = 0] = (/^(\d+)\.(\d+)(?:\.(\d+))?/.exec(release()) ?? []).slice(1).map((x) => Number(x ?? 0));
  const v = major * 1_000_000 + minor * 1000 + patch;
  if (v < 6_017_000) return 'none';
  return v < 6_018_003 ? 'broken' : 'works';
}

/** Sizes 60-1514 in a fixed pseudo-random walk. */
export function mixedSizes(n: number, seed: number): number[] {
  let x = seed;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return 60 + (x % (1514 - 60 + 1));
  });
}

const ARTIFACT_TAG = 'out0';
const ARTIFACTS = '/tmp/vfio-artifacts';

/**
 * The harness's writable share for files the host checks after the run (qemu.sh's mount tag
 * out0), mounted on first use; null when there is none (older harnesses).
 */
export function artifactDir(): string | null {
  if (!existsSync(ARTIFACTS)) mkdirSync(ARTIFACTS, { recursive: true });
  const mounted = readFileSync('/proc/mounts', 'utf8').includes(` ${ARTIFACTS} `);
  if (!mounted) {
    try {
      execFileSync('mount', ['-t', '9p', '-o', 'trans=virtio,version=9p2000.L', ARTIFACT_TAG, ARTIFACTS], { stdio: 'pipe' });
    } catch {
      return null;
    }
  }
  return ARTIFACTS;
}
