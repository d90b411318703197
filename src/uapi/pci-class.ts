// Human names for PCI class codes, for logs and device listings. Only the
// common classes are named; anything else falls back to its base class.

const BASE: ReadonlyMap<number, string> = new Map([
  [0x00, 'Unclassified device'],
  [0x01, 'Mass storage controller'],
  [0x02, 'Network controller'],
  [0x03, 'Display controller'],
  [0x04, 'Multimedia controller'],
  [0x05, 'Memory controller'],
  [0x06, 'Bridge'],
  [0x07, 'Communication controller'],
  [0x08, 'Generic system peripheral'],
  [0x09, 'Input device controller'],
  [0x0b, 'Processor'],
  [0x0c, 'Serial bus controller'],
  [0x0d, 'Wireless controller'],
  [0x10, 'Encryption controller'],
  [0x11, 'Signal processing controller'],
  [0x12, 'Processing accelerator'],
  [0x40, 'Coprocessor'],
]);

// Keyed by (base << 8) | subclass.
const SUB: ReadonlyMap<number, string> = new Map([
  [0x0100, 'SCSI storage controller'],
  [0x0101, 'IDE interface'],
  [0x0104, 'RAID bus controller'],
  [0x0106, 'SATA controller'],
  [0x0107, 'Serial Attached SCSI controller'],
  [0x0108, 'Non-volatile memory controller'],
  [0x0200, 'Ethernet controller'],
  [0x0207, 'InfiniBand controller'],
  [0x0280, 'Network controller'],
  [0x0300, 'VGA compatible controller'],
  [0x0302, '3D controller'],
  [0x0403, 'Audio device'],
  [0x0600, 'Host bridge'],
  [0x0601, 'ISA bridge'],
  [0x0604, 'PCI bridge'],
  [0x0c03, 'USB controller'],
  [0x0c05, 'SMBus'],
]);

// Keyed by the full 24-bit code, where the programming interface matters.
const PROG: ReadonlyMap<number, string> = new Map([
  [0x010601, 'SATA controller (AHCI)'],
  [0x010802, 'NVMe controller'],
  [0x0c0320, 'USB controller (EHCI)'],
  [0x0c0330, 'USB controller (xHCI)'],
]);

/** `classCode` is the 24-bit value from config offset 0x09 (base, subclass, programming interface). */
export function pciClassName(classCode: number): string {
  const code = classCode & 0xffffff;
  return (
    PROG.get(code) ??
    SUB.get(code >> 8) ??
    BASE.get(code >> 16) ??
    `Class ${code.toString(16).padStart(6, '0')}`
  );
}
