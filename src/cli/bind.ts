// `vfio bind` and `vfio unbind`: hand devices to vfio-pci and back.
import { bindVfioPci, unbindVfioPci, type BindOptions, type BindReport } from '../host/bind.js';
import { describeMembers } from '../host/groups.js';
import { normalizePciAddress } from '../host/pci.js';
import type { CliContext, Command, ParsedArgs } from './command.js';
import { table, toJson, type Cell, type Style } from './output.js';

export function formatBindReport(report: BindReport, style: Style): string[] {
  const rows: Cell[][] = report.results.map((r) => [
    [r.ok ? 'ok' : 'FAILED', r.ok ? style.green : style.red],
    r.address,
    `${r.before ?? 'none'} -> ${r.after ?? 'none'}`,
    r.message,
  ]);
  const lines = table(rows);
  for (const g of report.groups) {
    const text = `group ${g.group}: ${g.viable ? 'viable' : 'NOT viable'} (${describeMembers(g.members)})`;
    lines.push(g.viable ? text : style.red(text));
  }
  for (const n of report.notes) lines.push(`${style.yellow('note:')} ${n}`);
  if (report.results.some((r) => /\b(EACCES|EPERM)\b/.test(r.message))) {
    lines.push(`${style.yellow('note:')} binding writes to /sys/bus/pci: run it as root (sudo)`);
  }
  return lines;
}

function runBind(which: 'bind' | 'unbind', ctx: CliContext, { values, positionals }: ParsedArgs): number {
  const addresses = positionals.map(normalizePciAddress);
  const o = ctx.overrides;
  const opts: BindOptions = {
    root: ctx.root,
    group: values.group === true,
    force: values.force === true,
    ...(o.write && { write: o.write }),
    ...(o.modprobe && { modprobe: o.modprobe }),
    ...(o.stateDir && { stateDir: o.stateDir }),
  };
  const report = which === 'bind' ? bindVfioPci(addresses, opts) : unbindVfioPci(addresses, opts);
  if (ctx.json) ctx.out(toJson(report));
  else for (const line of formatBindReport(report, ctx.style)) ctx.out(line);
  return report.ok ? 0 : 1;
}

export const bindCommand: Command = {
  name: 'bind',
  summary: 'bind devices to vfio-pci (driver_override), group-aware',
  usage: 'vfio bind ADDR... [--group] [--json]',
  description: [
    'Hands each device to vfio-pci: writes vfio-pci to its driver_override, unbinds it from',
    'its current driver and asks the kernel to probe it again (loading vfio-pci first if needed).',
    'Then checks its IOMMU group: a group is usable only when every member is bound to vfio-pci,',
    'a bridge driver or to no driver. Members that block it are named; --group binds every',
    'non-bridge member of the group as well. A device with no IOMMU group, or a NIC whose',
    'interface is up (without --force), is left alone; one vfio-pci does not take is given back',
    'to its driver. Exit status 1 when a device did not bind or its group is still not viable.',
    'Needs root.',
  ].join('\n'),
  options: {
    group: { type: 'boolean', short: 'g', help: 'bind every non-bridge member of each IOMMU group too' },
    force: { type: 'boolean', help: 'bind a NIC even while its network interface is up' },
  },
  positionals: { min: 1, max: Infinity },
  run: (ctx, args) => runBind('bind', ctx, args),
};

export const unbindCommand: Command = {
  name: 'unbind',
  summary: 'take devices from vfio-pci back to their previous driver',
  usage: 'vfio unbind ADDR... [--group] [--json]',
  description: [
    'Clears driver_override, unbinds each device from vfio-pci and asks the kernel to probe it',
    'again, so its default driver takes it back; if none does, the driver it had before',
    '`vfio bind` is bound again. --group does this for every member of the group bound to',
    'vfio-pci. A device whose group a process holds open is left alone unless --force (the',
    'kernel would then ask that process for it and wait until it lets go). Needs root.',
  ].join('\n'),
  options: {
    group: { type: 'boolean', short: 'g', help: 'unbind every vfio-pci member of each IOMMU group too' },
    force: { type: 'boolean', help: 'unbind even while a process holds the group open (the kernel waits for it)' },
  },
  positionals: { min: 1, max: Infinity },
  run: (ctx, args) => runBind('unbind', ctx, args),
};
