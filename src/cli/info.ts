// `vfio info ADDR`: the VFIO view of one device.
import { formatBytes } from '../host/limits.js';
import { normalizePciAddress } from '../host/pci.js';
import type { Command } from './command.js';
import { describeDevice, type DeviceDescription, type RegionDescription } from '../admin/describe.js';
import { table, toJson, type Cell, type Style } from './output.js';

const hex = (n: number): string => `0x${n.toString(16)}`;

function size(n: number): string {
  return formatBytes(n).replace(/^(\d+) bytes$/, (_, b: string) => (b === '1' ? '1 byte' : `${b} bytes`));
}

function mmapText(r: RegionDescription): string {
  if (!r.mmap) return '-';
  if (!r.sparse) return 'whole';
  if (r.mmapAreas.length === 0) return 'none (sparse, no areas)';
  return r.mmapAreas.map((a) => `${hex(a.offset)}-${hex(a.offset + a.size)}`).join(' ');
}

export function formatDeviceDescription(d: DeviceDescription, style: Style): string[] {
  const lines: string[] = [];
  const head = (t: string) => {
    lines.push('', style.bold(t));
  };
  lines.push(`${style.bold(d.address)}  ${d.id}  ${d.className}`);
  const group =
    d.iommuGroup === null
      ? 'no IOMMU group'
      : `IOMMU group ${d.iommuGroup} (${d.groupViable ? style.green('viable') : style.red('not viable')})${d.vfioNode ? `, ${d.vfioNode}` : ''}`;
  lines.push(`  driver ${d.driver ?? 'none'}; ${group}`);
  if (d.groupMembers.length) {
    lines.push(`  group members: ${d.groupMembers.map((m) => `${m.address} ${m.id} (${m.driver ?? 'no driver'})`).join(', ')}`);
  } else if (d.iommuGroup !== null) {
    lines.push('  group members: this device alone');
  }
  const methods = d.resetMethods === null ? '' : d.resetMethods.length ? `; kernel reset methods: ${d.resetMethods.join(' ')}` : '; no kernel reset method';
  lines.push(`  reset: ${d.canReset ? style.green('yes') : 'no'} (VFIO_DEVICE_RESET${d.canReset ? '' : ' not offered'})${methods}`);
  lines.push(`  VFIO device flags: ${d.deviceFlags.join(' ') || 'none'}`);

  head('Regions');
  const present = d.regions.filter((r) => r.size > 0);
  const absent = d.regions.filter((r) => r.size === 0).map((r) => r.name);
  if (present.length) {
    const rows: Cell[][] = [['INDEX', 'NAME', 'SIZE', 'ACCESS', 'MMAP', 'NOTES'].map((h) => [h, style.dim] as const)];
    for (const r of present) {
      const access = `${r.read ? 'r' : '-'}${r.write ? 'w' : '-'}`;
      const notes = [r.msixMappable && 'MSI-X table mappable', r.type && `type ${hex(r.type.type)}/${r.type.subtype}`].filter(Boolean).join(', ');
      rows.push([String(r.index), r.name, size(r.size), access, mmapText(r), notes]);
    }
    for (const l of table(rows)) lines.push(`  ${l}`);
  }
  if (absent.length) lines.push(`  not implemented: ${absent.join(', ')}`);

  head('Interrupts');
  const irqRows: Cell[][] = [['INDEX', 'NAME', 'COUNT', 'FLAGS'].map((h) => [h, style.dim] as const)];
  for (const i of d.irqs) {
    const flags = i.error
      ? `(${i.error})`
      : [i.eventfd && 'eventfd', i.maskable && 'maskable', i.automasked && 'automasked', i.noresize && 'noresize'].filter(Boolean).join(' ');
    irqRows.push([String(i.index), i.name, String(i.count), flags]);
  }
  for (const l of table(irqRows)) lines.push(`  ${l}`);

  head('PCI capabilities');
  if (d.capabilities.length === 0) lines.push('  none');
  for (const l of table(d.capabilities.map((c) => [hex(c.offset), c.name, c.detail ?? '']))) lines.push(`  ${l}`);
  if (d.extendedCapabilities.length) {
    head('PCIe extended capabilities');
    for (const l of table(d.extendedCapabilities.map((c) => [hex(c.offset), `${c.name} v${c.version ?? 0}`, c.detail ?? '']))) lines.push(`  ${l}`);
  }
  if (d.virtio) {
    const v = d.virtio;
    head('Virtio');
    lines.push(`  device type ${v.type} (${v.name}), ${v.id} PCI id`);
    if (v.error) lines.push(`  modern interface: ${style.red(v.error)}`);
    else {
      lines.push(`  queues ${v.numQueues}; device status ${v.status}`);
      lines.push(`  features offered ${v.features}:`);
      // Wrapped at ~90 columns: a device offers two dozen names.
      let line = '';
      for (const n of v.featureNames ?? []) {
        if (line && line.length + n.length + 1 > 86) {
          lines.push(`    ${line}`);
          line = '';
        }
        line = line ? `${line} ${n}` : n;
      }
      if (line) lines.push(`    ${line}`);
    }
  }
  return lines;
}

export const infoCommand: Command = {
  name: 'info',
  summary: 'the VFIO view of one device: regions, IRQs, capabilities, reset, group',
  usage: 'vfio info ADDR [--json]',
  description: [
    'Opens the device through VFIO (it must be bound to vfio-pci, its group viable and not',
    'open elsewhere) and shows its regions (size, access, mmap areas, capabilities), its',
    'interrupts (counts, flags), its PCI capabilities (MSI, MSI-X table size, PCIe, SR-IOV),',
    'whether VFIO can reset it, and the other members of its IOMMU group; for a virtio',
    'device, its type and the features it offers (read without resetting it); then closes it.',
    '',
    'ADDR is a PCI address: 0000:03:00.0 (or 03:00.0).',
  ].join('\n'),
  options: {},
  positionals: { min: 1, max: 1 },
  run(ctx, { positionals }) {
    const address = normalizePciAddress(positionals[0] as string);
    const desc = describeDevice(address, { root: ctx.root, ...(ctx.overrides.backend && { backend: ctx.overrides.backend }) });
    if (ctx.json) ctx.out(toJson(desc));
    else for (const line of formatDeviceDescription(desc, ctx.style)) ctx.out(line);
    return 0;
  },
};
