// Placeholder guest test: checks the world test/vm/harness/guest-init.sh promises to set up.
// Runs only in the QEMU guest (test/vm/vitest.config.ts); on a host without that topology it
// fails, as it should.
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';

interface PciDevice {
  addr: string;
  id: string; // vendor:device, lowercase hex without 0x
  driver: string | null;
  group: string | null;
  behindBridge: boolean;
}

const PCI_DEVICES = '/sys/bus/pci/devices';

function attr(dir: string, name: string): string {
  return readFileSync(join(dir, name), 'utf8').trim().replace(/^0x/, '');
}

function linkName(path: string): string | null {
  return existsSync(path) ? basename(readlinkSync(path)) : null;
}

function pciDevices(): PciDevice[] {
  return readdirSync(PCI_DEVICES).map((addr) => {
    const dir = join(PCI_DEVICES, addr);
    // /sys/devices/pci0000:00/0000:00:05.0/0000:01:01.0: the parent is a bridge when it is
    // itself a PCI address rather than the root bus (pci0000:00).
    const parent = basename(dirname(realpathSync(dir)));
    return {
      addr,
      id: `${attr(dir, 'vendor')}:${attr(dir, 'device')}`,
      driver: linkName(join(dir, 'driver')),
      group: linkName(join(dir, 'iommu_group')),
      behindBridge: /^[0-9a-f]{4}:[0-9a-f]{2}:/.test(parent),
    };
  });
}

const EDU = '1234:11e8';

describe('guest VFIO topology', () => {
  const devices = pciDevices();
  const byAddr = new Map(devices.map((d) => [d.addr, d]));

  it('has the VFIO container node', () => {
    expect(statSync('/dev/vfio/vfio').isCharacterDevice()).toBe(true);
  });

  it('binds every edu, e1000e and modern virtio-net to vfio-pci, with a group node', () => {
    const edus = devices.filter((d) => d.id === EDU);
    expect(edus.length).toBeGreaterThanOrEqual(2);
    const taken = devices.filter((d) => [EDU, '8086:10d3', '1af4:1041'].includes(d.id));
    expect(taken.length).toBeGreaterThanOrEqual(4);
    for (const d of taken) {
      expect(d.driver, `${d.addr} ${d.id}`).toBe('vfio-pci');
      expect(d.group, `${d.addr} ${d.id}`).not.toBeNull();
      expect(statSync(`/dev/vfio/${d.group}`).isCharacterDevice()).toBe(true);
    }
  });

  it('puts the bridged edu in a group with a virtio-net bound to virtio-pci', () => {
    const bridged = devices.filter((d) => d.id === EDU && d.behindBridge);
    expect(bridged).toHaveLength(1);
    const group = bridged[0]!.group;
    expect(group).not.toBeNull();
    const members = readdirSync(`/sys/kernel/iommu_groups/${group}/devices`).map((a) => byAddr.get(a)!);
    const kernelBound = members.filter((d) => d.id.startsWith('1af4:') && d.driver === 'virtio-pci');
    expect(kernelBound.map((d) => d.id)).toEqual(['1af4:1000']);
  });

  it('gives the root-bus edu a group of its own', () => {
    const rootEdu = devices.filter((d) => d.id === EDU && !d.behindBridge);
    expect(rootEdu).toHaveLength(1);
    expect(readdirSync(`/sys/kernel/iommu_groups/${rootEdu[0]!.group}/devices`)).toEqual([rootEdu[0]!.addr]);
  });
});
