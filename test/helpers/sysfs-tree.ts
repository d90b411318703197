/**
 * Builds a synthetic sysfs (+ /dev) tree in a temp dir, shaped like the kernel's:
 * devices with vendor/device/class files, `driver` and `iommu_group` symlinks,
 * and /sys/kernel/iommu_groups/N/devices. Pass its `root` as the `root` option.
 */
import { mkdtempSync, mkdirSync, writeFileSync, symlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface FakePciDevice {
  address: string;
  vendor: number;
  device: number;
  classCode?: number;
  driver?: string | null;
  group?: number | null;
}

export interface SysfsTree {
  root: string;
  addDevice(d: FakePciDevice): void;
  addIommuUnit(name: string): void;
  /** Creates /dev/vfio/<name> as a plain file (enough for existence checks). */
  addDevNode(name: string): void;
  cleanup(): void;
}

const hex = (n: number, digits: number) => `0x${n.toString(16).padStart(digits, '0')}\n`;

export function makeSysfsTree(devices: FakePciDevice[] = []): SysfsTree {
  const root = mkdtempSync(join(tmpdir(), 'vfio-sysfs-'));
  const sys = join(root, 'sys');
  mkdirSync(join(sys, 'bus/pci/devices'), { recursive: true });
  mkdirSync(join(sys, 'devices/pci0000:00'), { recursive: true });
  const tree: SysfsTree = {
    root,
    addDevice(d) {
      const real = join(sys, 'devices/pci0000:00', d.address);
      mkdirSync(real, { recursive: true });
      writeFileSync(join(real, 'vendor'), hex(d.vendor, 4));
      writeFileSync(join(real, 'device'), hex(d.device, 4));
      writeFileSync(join(real, 'class'), hex(d.classCode ?? 0xff0000, 6));
      symlinkSync(`../../../devices/pci0000:00/${d.address}`, join(sys, 'bus/pci/devices', d.address));
      if (d.driver) {
        mkdirSync(join(sys, 'bus/pci/drivers', d.driver), { recursive: true });
        symlinkSync(`../../../bus/pci/drivers/${d.driver}`, join(real, 'driver'));
      }
      if (d.group !== null && d.group !== undefined) {
        const g = join(sys, 'kernel/iommu_groups', String(d.group), 'devices');
        mkdirSync(g, { recursive: true });
        symlinkSync(`../../../../devices/pci0000:00/${d.address}`, join(g, d.address));
        symlinkSync(`../../../kernel/iommu_groups/${d.group}`, join(real, 'iommu_group'));
      }
    },
    addIommuUnit(name) {
      mkdirSync(join(sys, 'class/iommu', name), { recursive: true });
    },
    addDevNode(name) {
      mkdirSync(join(root, 'dev/vfio'), { recursive: true });
      writeFileSync(join(root, 'dev/vfio', name), '');
    },
    cleanup() {
      rmSync(root, { recursive: true, force: true });
    },
  };
  for (const d of devices) tree.addDevice(d);
  return tree;
}
