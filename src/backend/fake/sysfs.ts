// The on-disk sysfs/dev tree the fake kernel keeps in a temp dir, so the same
// discovery code (src/host/, with its `root` option) works against it.
import { mkdirSync, symlinkSync, writeFileSync, rmSync, existsSync, unlinkSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';

const isLink = (path: string): boolean => {
  try {
    readlinkSync(path);
    return true;
  } catch {
    return false;
  }
};

const hex = (n: number, digits: number) => `0x${n.toString(16).padStart(digits, '0')}\n`;

export interface SysfsDevice {
  address: string;
  vendor: number;
  device: number;
  classCode: number;
  driver: string | null;
  group: number | null;
}

export class SysfsTree {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
    mkdirSync(join(root, 'sys/bus/pci/devices'), { recursive: true });
    mkdirSync(join(root, 'sys/devices/pci0000:00'), { recursive: true });
    mkdirSync(join(root, 'dev/vfio'), { recursive: true });
    // vfio-pci is loaded: its driver directory exists before it binds anything.
    mkdirSync(join(root, 'sys/bus/pci/drivers/vfio-pci'), { recursive: true });
  }

  #real(address: string): string {
    return join(this.root, 'sys/devices/pci0000:00', address);
  }

  addDevice(d: SysfsDevice): void {
    const real = this.#real(d.address);
    mkdirSync(real, { recursive: true });
    writeFileSync(join(real, 'vendor'), hex(d.vendor, 4));
    writeFileSync(join(real, 'device'), hex(d.device, 4));
    writeFileSync(join(real, 'class'), hex(d.classCode, 6));
    writeFileSync(join(real, 'driver_override'), '(null)\n');
    symlinkSync(`../../../devices/pci0000:00/${d.address}`, join(this.root, 'sys/bus/pci/devices', d.address));
    this.setDriver(d.address, d.driver);
    if (d.group !== null) {
      const g = join(this.root, 'sys/kernel/iommu_groups', String(d.group), 'devices');
      mkdirSync(g, { recursive: true });
      symlinkSync(`../../../../devices/pci0000:00/${d.address}`, join(g, d.address));
      symlinkSync(`../../../kernel/iommu_groups/${d.group}`, join(real, 'iommu_group'));
    }
  }

  setDriver(address: string, driver: string | null): void {
    const link = join(this.#real(address), 'driver');
    if (existsSync(link)) unlinkSync(link);
    if (driver) {
      mkdirSync(join(this.root, 'sys/bus/pci/drivers', driver), { recursive: true });
      symlinkSync(`../../../bus/pci/drivers/${driver}`, link);
    }
  }

  /** Removes a device (a VF going away): its directory, links, and its IOMMU group's entry. */
  removeDevice(address: string, group: number | null): void {
    rmSync(this.#real(address), { recursive: true, force: true });
    rmSync(join(this.root, 'sys/bus/pci/devices', address), { force: true });
    if (group !== null) rmSync(join(this.root, 'sys/kernel/iommu_groups', String(group)), { recursive: true, force: true });
  }

  /** driver_override: the kernel shows '(null)' when none is set. */
  setOverride(address: string, driver: string | null): void {
    writeFileSync(join(this.#real(address), 'driver_override'), `${driver ?? '(null)'}\n`);
  }

  /** A PF's SR-IOV attributes (drivers/pci/iov.c's sriov_* files). */
  setSriov(address: string, s: { totalVfs: number; numVfs: number; autoprobe: boolean; offset: number; stride: number; vfDevice: number }): void {
    const real = this.#real(address);
    writeFileSync(join(real, 'sriov_totalvfs'), `${s.totalVfs}\n`);
    writeFileSync(join(real, 'sriov_numvfs'), `${s.numVfs}\n`);
    writeFileSync(join(real, 'sriov_drivers_autoprobe'), `${s.autoprobe ? 1 : 0}\n`);
    writeFileSync(join(real, 'sriov_offset'), `${s.offset}\n`);
    writeFileSync(join(real, 'sriov_stride'), `${s.stride}\n`);
    writeFileSync(join(real, 'sriov_vf_device'), `${s.vfDevice.toString(16).padStart(4, '0')}\n`);
  }

  /** PF <-> VF links: <pf>/virtfnN and <vf>/physfn; `vf` null removes virtfnN. */
  linkVf(pf: string, index: number, vf: string | null): void {
    const link = join(this.#real(pf), `virtfn${index}`);
    if (existsSync(link) || isLink(link)) unlinkSync(link);
    if (vf === null) return;
    symlinkSync(`../${vf}`, link);
    symlinkSync(`../${pf}`, join(this.#real(vf), 'physfn'));
  }

  addIommuUnit(name: string): void {
    mkdirSync(join(this.root, 'sys/class/iommu', name), { recursive: true });
  }

  /** /dev nodes are plain files here: existence is what discovery checks; open() is the kernel's. */
  setDevNode(name: string, present: boolean): void {
    this.setNode(join('dev/vfio', name), present);
  }

  /** A node anywhere under the root's dev/ (dev/iommu, dev/vfio/devices/vfio0). */
  setNode(path: string, present: boolean): void {
    const p = join(this.root, path);
    mkdirSync(dirname(p), { recursive: true });
    if (present && !existsSync(p)) writeFileSync(p, '');
    if (!present && existsSync(p)) unlinkSync(p);
  }

  /**
   * The vfio_device's own struct device (class vfio-dev, since Linux 6.1), a child
   * of the PCI device named for its index: <device>/vfio-dev/vfioN. It exists for
   * every device vfio-pci drives, whether or not the kernel has the cdev.
   */
  setVfioDev(address: string, index: number | null): void {
    const dir = join(this.#real(address), 'vfio-dev');
    rmSync(dir, { recursive: true, force: true });
    const cls = join(this.root, 'sys/class/vfio-dev');
    mkdirSync(cls, { recursive: true });
    for (const name of readdirSync(cls)) if (readlinkSync(join(cls, name)).endsWith(`/${address}/vfio-dev/${name}`)) unlinkSync(join(cls, name));
    if (index === null) return;
    mkdirSync(join(dir, `vfio${index}`), { recursive: true });
    symlinkSync(`../../devices/pci0000:00/${address}/vfio-dev/vfio${index}`, join(cls, `vfio${index}`));
  }

  /** /sys/kernel/iommu_groups/N/name: 'vfio-noiommu' for the groups vfio makes in no-IOMMU mode. */
  setGroupName(group: number, name: string): void {
    const dir = join(this.root, 'sys/kernel/iommu_groups', String(group));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'name'), `${name}\n`);
  }

  /** /sys/module/<module>/parameters/<name>. */
  setModuleParam(module: string, name: string, value: string): void {
    const dir = join(this.root, 'sys/module', module, 'parameters');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, name), `${value}\n`);
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}
