/** The fake kernel as a conformance target: the guest's topology, emulated. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FakeKernel, EduModel, type DeviceModel } from '../../src/backend/fake/index.js';
import { ConfigBuilder } from '../../src/backend/fake/config.js';
import type { Target } from './target.js';

/** A legacy virtio-net standing in for the guest's bridged NIC: only its ids matter here. */
function virtioNet(): DeviceModel {
  return {
    config: new ConfigBuilder({ vendor: 0x1af4, device: 0x1000, classCode: 0x020000 }).build(),
    bars: [{ size: 32, kind: 'io' }, { size: 4096 }],
    attach() {},
    read: () => 0,
    write() {},
  };
}

export interface FakeTargetOptions {
  /** Emulate Linux 6.12 with iommufd and the VFIO device cdev (default: 6.1, legacy API only). */
  iommufd?: boolean;
  /** Open devices through iommufd (needs `iommufd`); default: the container. */
  mode?: 'container' | 'iommufd' | 'noiommu';
}

export function fakeTarget(opts: FakeTargetOptions = {}): { target: Target; kernel: FakeKernel } {
  const mode = opts.mode ?? 'container';
  // No-IOMMU: 6.12 with vfio's no-IOMMU mode and hugepages for physically contiguous buffers, as
  // many as the guest reserves (test/vm/commands/test.sh): freed ones stay parked while the device is open.
  const noIommu = mode === 'noiommu';
  const kernel = new FakeKernel({ iommufd: opts.iommufd ?? false, ...(noIommu && { noIommu: true, hugepages: 64 }) });
  // As in the no-IOMMU guest (qemu.sh): edu with a 64-bit DMA mask, since addresses are physical.
  const edu = () => new EduModel(noIommu ? { dmaBits: 64 } : {});
  kernel.addDevice('0000:00:02.0', edu(), { group: 2 });
  kernel.addDevice('0000:01:01.0', edu(), { group: 5 });
  kernel.addDevice('0000:01:02.0', virtioNet(), { group: 5, driver: 'virtio-pci' });
  const target: Target = {
    name: 'fake',
    kernel: opts.iommufd || noIommu ? [6, 12] : [6, 1],
    backend: kernel,
    options: { ...kernel.options, ...(noIommu ? { iommu: 'container', unsafeNoIommu: true } : { iommu: mode }) },
    mode,
    eduDmaBits: noIommu ? 64 : 28,
    eduAddress: '0000:00:02.0',
    eduGroup: 2,
    bridgedEduAddress: '0000:01:01.0',
    bridgedEduGroup: 5,
    groupPath: (g) => join(kernel.root, 'dev/vfio', noIommu ? `noiommu-${g}` : String(g)),
    containerPath: join(kernel.root, 'dev/vfio/vfio'),
    openFds: () => kernel.openFds,
    writeFaults: (iova) => kernel.faults.filter((f) => f.write && f.iova === iova).map((f) => `${f.device} ${f.reason}`),
    unbind: (address) => kernel.unbind(address),
    rebind: (address) => kernel.bindDriver(address, 'vfio-pci'),
    ...(opts.iommufd && {
      iommufdPath: join(kernel.root, 'dev/iommu'),
      cdevPath: (address: string) => {
        const [name] = readdirSync(join(kernel.root, 'sys/bus/pci/devices', address, 'vfio-dev'));
        return join(kernel.root, 'dev/vfio/devices', name!);
      },
    }),
  };
  return { target, kernel };
}
