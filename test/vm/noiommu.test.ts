/**
 * A guest without an IOMMU, vfio in no-IOMMU mode (VFIO_VM_IOMMU=none): what `vfio doctor`
 * says about it, and the kernel's answer to "is DMA translated?" (VFIO_NOIOMMU_IOMMU).
 */
import { describe, expect, it } from 'vitest';
import { Container, runDoctor, type DoctorCheck } from '../../src/index.js';
import { VFIO_NOIOMMU_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../src/uapi/ioctl.js';
import { soloEdu, vmOpenOptions } from './guest.js';

const check = (checks: DoctorCheck[], id: string) => checks.find((c) => c.id === id)!;

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
});
