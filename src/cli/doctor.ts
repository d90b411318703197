// `vfio doctor [ADDR...]`: what stands between this machine and a working VFIO device.
import { DEFAULT_MEMLOCK_NEEDED, doctorFailed, runDoctor, type DoctorCheck } from '../admin/doctor.js';
import { formatBytes } from '../host/limits.js';
import { normalizePciAddress } from '../host/pci.js';
import { parseSize, type Command } from './command.js';
import { table, toJson, type Cell, type Style } from './output.js';

const LABEL = { pass: 'pass', warn: 'warn', fail: 'FAIL' } as const;

export function formatDoctor(checks: readonly DoctorCheck[], style: Style): string[] {
  const paint = { pass: style.green, warn: style.yellow, fail: style.red };
  const lines: string[] = [];
  const idWidth = Math.max(...checks.map((c) => c.id.length));
  let device: string | undefined;
  for (const c of checks) {
    if (c.device !== device) {
      device = c.device;
      lines.push('', style.bold(`device ${device}`));
    }
    const cells: Cell[] = [[LABEL[c.status], paint[c.status]], c.id.padEnd(idWidth), c.summary];
    lines.push(...table([cells]));
    const indent = ' '.repeat(4 + 2 + idWidth + 2);
    if (c.detail) lines.push(...c.detail.split('\n').map((l) => indent + style.dim(l)));
    if (c.fix && c.status !== 'pass') {
      c.fix.split('\n').forEach((l, i) => lines.push(`${indent}${i === 0 ? style.bold('fix: ') : '     '}${l}`));
    }
  }
  if (device === undefined) lines.push('', style.dim('add a PCI address to check a device as well: vfio doctor 0000:03:00.0'));
  const count = (s: DoctorCheck['status']) => checks.filter((c) => c.status === s).length;
  const fails = count('fail');
  lines.push('', `doctor: ${count('pass')} pass, ${count('warn')} warn, ${fails} fail` + (fails ? '' : ' -- ready for VFIO'));
  return lines;
}

export const doctorCommand: Command = {
  name: 'doctor',
  summary: 'check the IOMMU, modules, limits and devices; say how to fix what fails',
  usage: 'vfio doctor [ADDR...] [--memlock SIZE] [--json]',
  description: [
    'One line per check, pass / warn / fail, and the fix for each warning or failure:',
    'the IOMMU (and which: Intel VT-d, AMD-Vi, virtio-iommu), the vfio and vfio-pci modules,',
    'iommufd, no-IOMMU mode, interrupt remapping, RLIMIT_MEMLOCK against what a driver needs,',
    'and hugepages. For each ADDR also: the device exists, is bound to vfio-pci, its IOMMU',
    'group is viable (naming the members that block it) and this user may open /dev/vfio/N.',
    'Exit status 1 when a check fails.',
  ].join('\n'),
  options: {
    memlock: {
      type: 'string',
      value: 'SIZE',
      help: `locked memory your driver needs, e.g. 256M (default ${formatBytes(DEFAULT_MEMLOCK_NEEDED).replace(' ', '')})`,
    },
  },
  positionals: { min: 0, max: Infinity },
  run(ctx, { values, positionals }) {
    const memlock = typeof values.memlock === 'string' ? parseSize(values.memlock) : undefined;
    const o = ctx.overrides;
    const checks = runDoctor({
      root: ctx.root,
      address: positionals.map(normalizePciAddress),
      ...(memlock !== undefined && { memlock }),
      ...(o.proc && { proc: o.proc }),
      ...(o.user && { user: o.user }),
    });
    const failed = doctorFailed(checks);
    if (ctx.json) ctx.out(toJson({ ok: !failed, checks }));
    else for (const line of formatDoctor(checks, ctx.style)) ctx.out(line);
    return failed ? 1 : 0;
  },
};
