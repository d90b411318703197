// `vfio ls`: PCI devices with their driver, IOMMU group, viability and /dev/vfio node.
import { listPciDeviceStatus, parseClassFilter, parsePciIdFilter, type PciDeviceFilter, type PciDeviceStatus } from '../host/status.js';
import { UsageError, type Command } from './command.js';
import { table, toJson, type Cell, type Style } from './output.js';

/** The JSON shape of one `vfio ls` entry. */
export function lsEntry(d: PciDeviceStatus) {
  return {
    address: d.address,
    id: d.id,
    vendor: d.vendor,
    device: d.device,
    classCode: d.classCode,
    className: d.className,
    driver: d.driver,
    driverOverride: d.driverOverride,
    iommuGroup: d.iommuGroup,
    groupViable: d.groupViable,
    groupPeers: d.groupPeers.map((p) => ({ address: p.address, driver: p.driver })),
    vfioNode: d.vfioNode,
    sriov: d.sriov,
    physfn: d.physfn,
  };
}

/** The SR-IOV column: 'PF 2/7 VFs' or 'VF 1 of 0000:01:00.0'; '-' for other devices. */
function sriovCell(d: PciDeviceStatus): string {
  if (d.sriov) return `PF ${d.sriov.numVfs}/${d.sriov.totalVfs} VFs`;
  if (d.physfn) return `VF ${d.physfn.index} of ${d.physfn.address}`;
  return '-';
}

export function formatLs(devices: readonly PciDeviceStatus[], style: Style): string[] {
  // The SR-IOV column only where there is SR-IOV to show.
  const sriov = devices.some((d) => d.sriov || d.physfn);
  const head = ['ADDRESS', 'ID', 'CLASS', 'DRIVER', 'GROUP', 'VIABLE', 'NODE', ...(sriov ? ['SR-IOV'] : [])];
  const rows: Cell[][] = [head.map((h) => [h, style.bold] as const)];
  for (const d of devices) {
    const viable: Cell = d.groupViable === null ? '-' : d.groupViable ? ['yes', style.green] : ['no', style.red];
    const driver: Cell = d.driver === 'vfio-pci' ? [d.driver, style.cyan] : d.driver ?? '-';
    rows.push([d.address, d.id, d.className, driver, d.iommuGroup === null ? '-' : String(d.iommuGroup), viable, d.vfioNode ?? '-', ...(sriov ? [sriovCell(d)] : [])]);
  }
  return table(rows);
}

export const lsCommand: Command = {
  name: 'ls',
  summary: 'list PCI devices: driver, IOMMU group, viability, /dev/vfio node',
  usage: 'vfio ls [--class CLASS] [--id VENDOR:DEVICE] [--driver NAME] [--json]',
  description: [
    'Lists the PCI devices with their vendor:device id, class, current driver, IOMMU group,',
    'whether that group is viable for VFIO (every member bound to vfio-pci, a bridge driver',
    'or to no driver) and the group\'s /dev/vfio node (present once a member is bound to vfio-pci);',
    'with SR-IOV, which devices are PFs (VFs enabled of total) and which are VFs of which PF.',
    '',
    'Examples:',
    '  vfio ls --class network        NICs only',
    '  vfio ls --id 8086:10d3         one vendor:device pair (8086: or :10d3 also work)',
    '  vfio ls --driver vfio-pci      what VFIO already owns',
  ].join('\n'),
  options: {
    class: { type: 'string', value: 'CLASS', help: 'only this class: a name (network, ethernet, storage, nvme …) or hex code (02, 0108)' },
    id: { type: 'string', value: 'VENDOR:DEVICE', help: 'only this vendor:device id, as lspci -d (8086:10d3, 8086:, :10d3)' },
    driver: { type: 'string', value: 'NAME', help: "only devices bound to this driver ('none' for unbound ones)" },
  },
  positionals: { min: 0, max: 0 },
  run(ctx, { values }) {
    const filter: PciDeviceFilter = {};
    try {
      if (typeof values.class === 'string') {
        parseClassFilter(values.class);
        filter.class = values.class;
      }
      if (typeof values.id === 'string') {
        parsePciIdFilter(values.id);
        filter.id = values.id;
      }
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    if (typeof values.driver === 'string') filter.driver = values.driver;
    const devices = listPciDeviceStatus(filter, { root: ctx.root });
    if (ctx.json) {
      ctx.out(toJson(devices.map(lsEntry)));
      return 0;
    }
    if (devices.length === 0) {
      const any = Object.keys(filter).length > 0;
      ctx.out(any ? 'no PCI device matches' : 'no PCI devices (is sysfs mounted on /sys?)');
      return 0;
    }
    for (const line of formatLs(devices, ctx.style)) ctx.out(line);
    return 0;
  },
};
