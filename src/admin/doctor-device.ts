// The doctor's checks of one device: found, bound to vfio-pci, its group viable, its nodes open to this user.
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { describeMembers, groupViability, isNoIommuGroup, vfioCdevName, vfioGroupNode } from '../host/groups.js';
import { VFIO_PCI_DRIVER, isBridgeClass, isVfioPciDriver, normalizePciAddress, pciId, readPciDevice } from '../host/pci.js';
import { isSriovPf, physfnOf, vfTokenNeeded } from '../host/sriov.js';
import { pciClassName } from '../uapi/pci-class.js';
import type { DoctorCheck, DoctorOptions, DoctorUser, Env } from './doctor-env.js';

function canReadWrite(path: string, user: DoctorUser | undefined): boolean {
  if (!user) {
    try {
      accessSync(path, constants.R_OK | constants.W_OK);
      return true;
    } catch {
      return false;
    }
  }
  let st;
  try {
    st = statSync(path);
  } catch {
    return false;
  }
  if (user.uid === 0) return true;
  const bits = st.uid === user.uid ? (st.mode >> 6) & 7 : user.gids.includes(st.gid) ? (st.mode >> 3) & 7 : st.mode & 7;
  return (bits & 6) === 6;
}

function ownerText(path: string): string {
  try {
    const st = statSync(path);
    return `owner ${st.uid}:${st.gid}, mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}`;
  } catch {
    return 'cannot stat it';
  }
}

export function deviceChecks(address: string, env: Env): DoctorCheck[] {
  const opts = env.opts;
  let addr: string;
  try {
    addr = normalizePciAddress(address);
  } catch {
    return [
      {
        id: 'device',
        status: 'fail',
        device: address,
        summary: `${JSON.stringify(address)} is not a PCI address`,
        fix: "write it as domain:bus:device.function, e.g. 0000:00:03.0 (see `lspci -D` or `vfio ls`)",
      },
    ];
  }
  if (!existsSync(env.sys('sys/bus/pci/devices', addr))) {
    return [
      {
        id: 'device',
        status: 'fail',
        device: addr,
        summary: `no PCI device at ${addr}`,
        fix: 'list the devices with `vfio ls` or `lspci -D`; a VF appears only after SR-IOV is enabled',
      },
    ];
  }
  const d = readPciDevice(addr, opts);
  const checks: DoctorCheck[] = [
    { id: 'device', status: 'pass', device: addr, summary: `${addr} is ${pciId(d.vendor, d.device)} (${pciClassName(d.classCode)})` },
  ];
  const byHand =
    `or by hand: modprobe vfio-pci; echo vfio-pci > /sys/bus/pci/devices/${addr}/driver_override; ` +
    (d.driver ? `echo ${addr} > /sys/bus/pci/devices/${addr}/driver/unbind; ` : '') +
    `echo ${addr} > /sys/bus/pci/drivers_probe`;
  if (d.driver === VFIO_PCI_DRIVER) {
    checks.push({ id: 'bound', status: 'pass', device: addr, summary: 'bound to vfio-pci' });
  } else if (isVfioPciDriver(d.driver)) {
    checks.push({ id: 'bound', status: 'pass', device: addr, summary: `bound to ${d.driver} (a vfio-pci variant driver)` });
  } else {
    checks.push({
      id: 'bound',
      status: 'fail',
      device: addr,
      summary: d.driver ? `bound to ${d.driver}, not vfio-pci` : 'bound to no driver, not vfio-pci',
      fix: `vfio bind ${addr}\n${byHand}`,
    });
  }
  const sriov = sriovCheck(addr, d.driver, opts);
  if (sriov) checks.push(sriov);
  if (d.iommuGroup === null) {
    checks.push({
      id: 'group',
      status: 'fail',
      device: addr,
      summary: env.units.length ? `no IOMMU group: ${env.units.map((u) => u.name).join(', ')} do not cover this device` : 'no IOMMU group: the IOMMU is off',
      fix: env.units.length ? "check the firmware's DMAR/IVRS tables (dmesg | grep -i -e DMAR -e IVRS)" : 'turn the IOMMU on (see the iommu check)',
    });
    return checks;
  }
  const g = groupViability(d.iommuGroup, opts);
  const others = g.members.filter((m) => m.address !== addr);
  if (g.viable) {
    checks.push({
      id: 'group',
      status: 'pass',
      device: addr,
      summary: `IOMMU group ${g.group} is viable` + (others.length ? ` (with ${describeMembers(others)})` : ' (this device alone)'),
    });
  } else {
    const fixes = [];
    const devs = g.blockers.filter((b) => !isBridgeClass(b.classCode));
    const bridges = g.blockers.filter((b) => isBridgeClass(b.classCode));
    if (devs.length) {
      fixes.push(`vfio bind --group ${addr}   (binds every device of the group to vfio-pci)`);
      fixes.push(`or unbind them: ${devs.map((b) => `echo ${b.address} > /sys/bus/pci/devices/${b.address}/driver/unbind`).join('; ')}`);
    }
    for (const b of bridges) fixes.push(`the bridge ${b.address} must not have a driver: echo ${b.address} > /sys/bus/pci/devices/${b.address}/driver/unbind`);
    checks.push({
      id: 'group',
      status: 'fail',
      device: addr,
      summary: `IOMMU group ${g.group} is not viable: ${describeMembers(g.blockers)} ${g.blockers.length === 1 ? 'is' : 'are'} bound to another driver`,
      detail: `the group holds ${describeMembers(g.members)}; every member must be bound to vfio-pci, a bridge driver (pcieport) or to no driver`,
      fix: fixes.join('\n'),
    });
  }
  const node = vfioGroupNode(g.group, opts);
  if (node === null) {
    checks.push({
      id: 'access',
      status: 'fail',
      device: addr,
      summary: `/dev/vfio/${g.group} does not exist`,
      fix: isVfioPciDriver(d.driver)
        ? 'the device is bound, so the node should exist: is devtmpfs mounted on /dev? (udevadm trigger -s vfio)'
        : `it appears once the device is bound to vfio-pci: vfio bind ${addr}`,
    });
    return checks;
  }
  const nodePath = env.sys(node.slice(1));
  const containerPath = env.sys('dev/vfio/vfio');
  const who = opts.user ? `uid ${opts.user.uid}` : `this user (uid ${process.getuid?.() ?? '?'})`;
  const bad = [nodePath, containerPath].filter((p) => existsSync(p) && !canReadWrite(p, opts.user));
  if (bad.length === 0) {
    checks.push({ id: 'access', status: 'pass', device: addr, summary: `${node} is readable and writable by ${who}` });
    checks.push(interfaceCheck(addr, g.group, node, who, env, opts));
  } else {
    const names = bad.map((p) => (p === nodePath ? node : '/dev/vfio/vfio'));
    checks.push({
      id: 'access',
      status: 'fail',
      device: addr,
      summary: `${who} cannot open ${names.join(' and ')} read-write (${ownerText(bad[0] as string)})`,
      fix: [
        `for now: sudo chown $(id -un) ${names.join(' ')}`,
        `for good, a udev rule and a group: echo 'SUBSYSTEM=="vfio", GROUP="vfio", MODE="0660"' | sudo tee /etc/udev/rules.d/90-vfio.rules; ` +
          'sudo groupadd -f vfio; sudo usermod -aG vfio $(id -un); sudo udevadm trigger (log in again)',
        'or run as root',
      ].join('\n'),
    });
  }
  return checks;
}

/**
 * SR-IOV: whether opening this VF needs a VF token (its PF is bound to vfio-pci), or, for a PF
 * on vfio-pci, that its owner hands out the token; null for other devices.
 */
function sriovCheck(addr: string, driver: string | null, opts: DoctorOptions): DoctorCheck | null {
  const pf = physfnOf(addr, opts);
  if (pf !== null) {
    const need = vfTokenNeeded(addr, opts);
    if (need === null) {
      let pfDriver: string | null = null;
      try {
        pfDriver = readPciDevice(pf, opts).driver;
      } catch {
        // the PF's directory is gone: nothing more to say
      }
      return { id: 'vf-token', status: 'pass', device: addr, summary: `VF of ${pf} (PF driver: ${pfDriver ?? 'none'}): no VF token needed (one given is refused)` };
    }
    return {
      id: 'vf-token',
      status: 'warn',
      device: addr,
      summary: `a VF token is needed: its PF ${pf} is bound to vfio-pci`,
      detail: "the PF's owner sets the token (pfDevice.setVfToken(uuid)); without it, or with another, the open fails (EACCES). openDevice takes the container path for a vfToken, which carries it on every kernel; the cdev bind (iommufd) carries it from Linux 6.19 (and 6.18.3) on, and checks it from 6.17 on",
      fix: `openDevice('${addr}', { vfToken: '<the uuid the PF's owner set>' })`,
    };
  }
  if (driver === VFIO_PCI_DRIVER && isSriovPf(addr, opts)) {
    return {
      id: 'vf-token',
      status: 'pass',
      device: addr,
      summary: 'SR-IOV PF bound to vfio-pci: its VFs open only with the VF token its owner sets (device.setVfToken(uuid))',
    };
  }
  return null;
}

/**
 * Which interface openDevice({ iommu: 'auto' }) takes for this device, as this user: the
 * iommufd cdev, the legacy container, or -- only with the opt-in -- no-IOMMU mode.
 */
function interfaceCheck(addr: string, group: number, node: string, who: string, env: Env, opts: DoctorOptions): DoctorCheck {
  if (isNoIommuGroup(group, opts)) {
    const root = (opts.user?.uid ?? process.getuid?.()) === 0;
    return {
      id: 'interface',
      status: root ? 'warn' : 'fail',
      device: addr,
      summary: `no-IOMMU group (${node}): DMA is not translated; openDevice needs { unsafeNoIommu: true }` + (root ? '' : `, and root: ${who} cannot use it`),
      detail: 'DMA addresses are physical (device.dmaTranslated is false); buffers must be physically contiguous (hugepages); the kernel is tainted',
      ...(!root && { fix: 'no-IOMMU devices open only with CAP_SYS_RAWIO: run as root, or enable the IOMMU' }),
    };
  }
  const cdev = vfioCdevName(addr, opts);
  const iommu = env.sys('dev/iommu');
  if (cdev !== null && existsSync(iommu)) {
    const cdevPath = `/dev/vfio/devices/${cdev}`;
    const blocked = [iommu, env.sys(cdevPath.slice(1))].filter((p) => !canReadWrite(p, opts.user));
    if (blocked.length === 0)
      return { id: 'interface', status: 'pass', device: addr, summary: `openDevice uses iommufd: /dev/iommu and ${cdevPath} (the container ${node} also works)` };
    return {
      id: 'interface',
      status: 'pass',
      device: addr,
      summary: `openDevice uses the legacy container (${node}): ${who} cannot open ${blocked.length === 2 ? `/dev/iommu and ${cdevPath}` : blocked[0] === iommu ? '/dev/iommu' : cdevPath}`,
      detail: `to use iommufd, grant ${who} /dev/iommu and ${cdevPath} as well`,
    };
  }
  return { id: 'interface', status: 'pass', device: addr, summary: `openDevice uses the legacy container (${node})${existsSync(iommu) ? '' : '; this kernel has no iommufd'}` };
}

/**
 * Runs every system check, then the device checks for each address given.
 * Never throws for what it finds; a failure is a check with status 'fail'.
 */
