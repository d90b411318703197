/**
 * An I/O-port BAR on the real kernel: the 82574's IOADDR/IODATA window (BAR2),
 * which vfio-pci does not let us mmap, so Region goes through pread/pwrite.
 */
import { describe, expect, it } from 'vitest';
import { openDevice, findPciDevices } from '../../src/index.js';
import { VFIO_REGION_INFO_FLAG_MMAP } from '../../src/uapi/vfio-region.js';
import { E1000E, vmOpenOptions } from './guest.js';

const IOADDR = 0x00;
const IODATA = 0x04;
const STATUS = 0x08;

describe('I/O-port BAR through pread/pwrite', () => {
  it('reads a register indirectly through IOADDR/IODATA, matching the MMIO view', () => {
    const nic = findPciDevices(E1000E)[0]!;
    const dev = openDevice(nic.address, vmOpenOptions());
    try {
      const io = dev.bar(2);
      expect(io.size).toBe(32);
      expect(io.info.flags & VFIO_REGION_INFO_FLAG_MMAP).toBe(0);
      expect(io.mappedAreas).toEqual([]);
      io.write32(IOADDR, STATUS);
      expect(io.read32(IOADDR)).toBe(STATUS);
      expect(io.read32(IODATA)).toBe(dev.bar(0).read32(STATUS));
      expect(() => io.read32(32)).toThrow(RangeError);
    } finally {
      dev.close();
    }
  });
});
