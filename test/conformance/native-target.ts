/** The real kernel in the QEMU guest as a conformance target. */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { nativeBackend } from '../../src/backend/native.js';
import { vfioCdevName } from '../../src/host/groups.js';
import { bridgedEdu, soloEdu, vmMode, vmOpenOptions } from '../vm/guest.js';
import type { Target } from './target.js';

export function nativeTarget(): Target {
  const mode = vmMode();
  const solo = soloEdu();
  // No-IOMMU mode gives every device a group of its own: there is no shared group.
  const bridged = mode === 'noiommu' ? solo : bridgedEdu();
  return {
    name: 'native',
    kernel: release().split('.', 2).slice(0, 2).map(Number) as [number, number],
    backend: nativeBackend(),
    options: vmOpenOptions(),
    mode,
    eduDmaBits: mode === 'noiommu' ? 64 : 28,
    eduAddress: solo.address,
    eduGroup: solo.iommuGroup!,
    bridgedEduAddress: bridged.address,
    bridgedEduGroup: bridged.iommuGroup!,
    ...(mode === 'iommufd' && {
      iommufdPath: '/dev/iommu',
      cdevPath: (address: string) => {
        const name = vfioCdevName(address);
        if (name === null) throw new Error(`guest: ${address} has no VFIO cdev`);
        return `/dev/vfio/devices/${name}`;
      },
    }),
    groupPath: (g) => (mode === 'noiommu' ? `/dev/vfio/noiommu-${g}` : `/dev/vfio/${g}`),
    containerPath: '/dev/vfio/vfio',
    openFds: () => readdirSync('/proc/self/fd').length,
    writeFaults: (iova) =>
      execFileSync('dmesg', { encoding: 'utf8' })
        .split('\n')
        .filter((l) => /DMAR: \[DMA Write/.test(l) && new RegExp(`fault addr 0x0*${iova.toString(16)}\\b`, 'i').test(l)),
    // The write blocks in the kernel until the device is released, so it runs in a child.
    unbind: (address) =>
      new Promise((resolve, reject) => {
        const child = spawn('sh', ['-c', `echo ${address} > /sys/bus/pci/devices/${address}/driver/unbind`], { stdio: 'inherit' });
        child.on('error', reject);
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`unbind ${address} exited ${code}`))));
      }),
    // driver_override still names vfio-pci (guest-init.sh set it), so a probe binds it back.
    rebind: (address) => writeFileSync('/sys/bus/pci/drivers_probe', address),
  };
}
