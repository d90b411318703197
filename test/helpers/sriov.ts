/**
 * An SR-IOV bench on the fake kernel: an 82576 PF (8086:10c9) at 0000:01:00.0 on the driver
 * given ('igb' by default, or 'vfio-pci'), vfio_pci's enable_sriov on; VFs appear at
 * 0000:01:10.0, 0000:01:10.2, … once sriov_numvfs is written.
 */
import { join } from 'node:path';
import { FakeKernel, I82576Model, type FakeKernelOptions } from '../../src/backend/fake/index.js';

export const PF = '0000:01:00.0';
export const VF0 = '0000:01:10.0';
export const VF1 = '0000:01:10.2';

export interface SriovBench {
  kernel: FakeKernel;
  /** Writes `data` to the PF's (or another device's) sysfs attribute as root would. */
  write(attr: string, data: string, device?: string): void;
  dispose(): void;
}

export function sriovBench(pfDriver: string | null = 'igb', options: FakeKernelOptions & { vfDriver?: string | null } = {}): SriovBench {
  const { vfDriver, ...kopts } = options;
  const kernel = new FakeKernel({ vfioPciEnableSriov: true, ...kopts });
  kernel.addDevice(PF, new I82576Model(), { driver: pfDriver, vfDriver: vfDriver ?? null });
  return {
    kernel,
    write: (attr, data, device = PF) => kernel.writeSysfs(join(kernel.root, 'sys/bus/pci/devices', device, attr), data),
    dispose: () => kernel.dispose(),
  };
}
