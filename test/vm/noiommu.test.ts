/**
 * A guest without an IOMMU, vfio in no-IOMMU mode (VFIO_VM_IOMMU=none): what `vfio doctor`
 * says about it, and the kernel's answer to "is DMA translated?" (VFIO_NOIOMMU_IOMMU).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Container, openDevice, runDoctor, type DoctorCheck } from '../../src/index.js';
import { VFIO_NOIOMMU_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../src/uapi/ioctl.js';
import { soloEdu, vmOpenOptions } from './guest.js';

const check = (checks: DoctorCheck[], id: string) => checks.find((c) => c.id === id)!;
/** Free 2 MiB hugepages of the guest (no-IOMMU DMA memory is made of them). */
const hugepagesFree = () => Number(/HugePages_Free:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))![1]);

describe('no-IOMMU mode', () => {
  it('vfio doctor: no IOMMU (the groups are vfio no-IOMMU groups), no-IOMMU mode on, the device usable only with the opt-in', () => {
    const { address, iommuGroup } = soloEdu();
    const checks = runDoctor({ address });
    console.log(checks.map((c) => `${c.status.padEnd(5)} ${c.id.padEnd(20)} ${c.summary}`).join('\n'));
    expect(check(checks, 'iommu')).toMatchObject({ status: 'fail', summary: expect.stringMatching(/vfio no-IOMMU groups/) });
    expect(check(checks, 'noiommu')).toMatchObject({ status: 'warn', summary: expect.stringMatching(/NO-IOMMU MODE IS ON/) });
    expect(check(checks, 'access')).toMatchObject({ status: 'pass', summary: expect.stringContaining(`/dev/vfio/noiommu-${iommuGroup}`) });
    expect(check(checks, 'interface')).toMatchObject({ status: 'warn', summary: expect.stringMatching(/DMA is not translated; openDevice needs \{ unsafeNoIommu: true \}/) });
  });

  it('the container offers only the no-IOMMU model once a no-IOMMU group joined', () => {
    const c = Container.open(vmOpenOptions());
    try {
      expect(c.checkExtension(VFIO_NOIOMMU_IOMMU)).toBe(true);
      c.attachGroup(soloEdu().iommuGroup!);
      expect(c.iommuType).toBe('NoIommu');
      expect(c.dmaTranslated).toBe(false);
      expect(c.checkExtension(VFIO_NOIOMMU_IOMMU)).toBe(true);
      expect(c.checkExtension(VFIO_TYPE1v2_IOMMU)).toBe(false);
    } finally {
      c.close();
    }
  });

  it('a freed buffer whose physical address a device was given stays reserved until the device closes', () => {
    // Nothing confines a no-IOMMU device: it may still DMA to an address it was told, so the
    // pages must not go back to the kernel while it is open (backend.ts, dmaFree).
    const dev = openDevice(soloEdu().address, { ...vmOpenOptions(), unsafeNoIommu: true });
    let closed = false;
    try {
      const before = hugepagesFree();
      const buf = dev.allocDma(2 ** 21);
      expect(hugepagesFree()).toBe(before - 1);
      buf.free();
      expect(buf.freed).toBe(true);
      expect(hugepagesFree(), 'parked while the device is open').toBe(before - 1);
      dev.close();
      closed = true;
      expect(hugepagesFree(), 'released once no no-IOMMU device is open').toBe(before);
    } finally {
      if (!closed) dev.close();
    }
  });
});
