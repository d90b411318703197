// `vfio sriov`: a PF's SR-IOV state, and enabling or disabling its VFs.
import { bindVfioPci, type BindOptions } from '../host/bind.js';
import { VFIO_PCI_DRIVER, normalizePciAddress, readPciDevice } from '../host/pci.js';
import { enableSriov, type SriovOptions } from '../host/sriov-enable.js';
import { sriovInfo, type SriovInfo } from '../host/sriov.js';
import { VfioError } from '../errors.js';
import { formatBindReport } from './bind.js';
import { UsageError, type CliContext, type Command, type ParsedArgs } from './command.js';
import { table, toJson, type Cell, type Style } from './output.js';

function formatSriov(info: SriovInfo, tokenPf: boolean, style: Style): string[] {
  const head = `${info.address}: ${info.numVfs} of ${info.totalVfs} VFs enabled` + (info.driversAutoprobe === false ? ' (drivers_autoprobe off)' : '');
  const rows: Cell[][] = info.vfs.map((v) => [`VF ${v.index}`, v.address, v.driver ?? '-', v.iommuGroup === null ? 'no group' : `group ${v.iommuGroup}`]);
  const lines = [style.bold(head), ...table(rows).map((l) => `  ${l}`)];
  if (tokenPf && info.numVfs > 0) lines.push(`${style.yellow('note:')} the PF is bound to vfio-pci: opening a VF needs the VF token its owner sets (setVfToken)`);
  return lines;
}

function parseCount(text: string): number {
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`--vfs ${JSON.stringify(text)}: give a number of VFs (0 disables them)`);
  return Number(text);
}

function runSriov(ctx: CliContext, { values, positionals }: ParsedArgs): number {
  const pf = normalizePciAddress(positionals[0]!);
  const o = ctx.overrides;
  const sysfs = { root: ctx.root, ...(o.write && { write: o.write }) };
  if (values.bind === true && typeof values.vfs !== 'string') throw new UsageError('--bind goes with --vfs N');
  let info: SriovInfo | null;
  if (typeof values.vfs === 'string') {
    const count = parseCount(values.vfs);
    const opts: SriovOptions = { ...sysfs, ...(values['no-autoprobe'] === true && { autoprobe: false }) };
    info = enableSriov(pf, count, opts);
  } else {
    info = sriovInfo(pf, { root: ctx.root });
    if (!info) {
      throw new VfioError({
        code: 'ERR_VFIO_NOT_SRIOV',
        op: 'read sriov_totalvfs',
        device: pf,
        message: 'the device is not SR-IOV capable (sysfs has no sriov_totalvfs)',
        hint: '`vfio ls` marks the PFs; a VF cannot have VFs',
      });
    }
  }
  const tokenPf = readPciDevice(pf, { root: ctx.root }).driver === VFIO_PCI_DRIVER;
  let ok = true;
  let bindReport;
  if (values.bind === true && info.vfs.length > 0) {
    const opts: BindOptions = { ...sysfs, ...(o.modprobe && { modprobe: o.modprobe }), ...(o.stateDir && { stateDir: o.stateDir }) };
    bindReport = bindVfioPci(info.vfs.map((v) => v.address), opts);
    ok = bindReport.ok;
    info = sriovInfo(pf, { root: ctx.root }) ?? info;
  }
  if (ctx.json) {
    ctx.out(toJson({ ...info, vfTokenNeeded: tokenPf, ...(bindReport && { bind: bindReport }) }));
    return ok ? 0 : 1;
  }
  for (const line of formatSriov(info, tokenPf, ctx.style)) ctx.out(line);
  if (bindReport) for (const line of formatBindReport(bindReport, ctx.style)) ctx.out(line);
  return ok ? 0 : 1;
}

export const sriovCommand: Command = {
  name: 'sriov',
  summary: 'show or set a PF\'s SR-IOV virtual functions (sriov_numvfs)',
  usage: 'vfio sriov PF [--vfs N [--no-autoprobe] [--bind]] [--json]',
  description: [
    'Without --vfs, shows the PF\'s VFs: how many are enabled of how many it offers, and each',
    'VF\'s address, driver and IOMMU group. --vfs N writes N to sriov_numvfs (0 removes the VFs;',
    'the kernel changes the number only from 0, so disable before choosing another). The PF\'s',
    'driver makes the VFs: its own (igb for an 82576), or vfio-pci when loaded with',
    'enable_sriov=1 (then the VFs bind to vfio-pci and opening one needs the VF token the PF\'s',
    'owner sets). --no-autoprobe leaves the new VFs without a driver; --bind then hands them to',
    'vfio-pci (as `vfio bind`). Needs root.',
    '',
    'Examples:',
    '  vfio sriov 0000:01:00.0 --vfs 2 --no-autoprobe --bind   two VFs for VFIO, PF kept by igb',
    '  vfio sriov 0000:01:00.0 --vfs 0                         remove them',
  ].join('\n'),
  options: {
    vfs: { type: 'string', value: 'N', help: 'enable N VFs (0: disable them)' },
    'no-autoprobe': { type: 'boolean', help: 'leave new VFs without a driver (sriov_drivers_autoprobe=0)' },
    bind: { type: 'boolean', help: 'bind the VFs to vfio-pci afterwards' },
  },
  positionals: { min: 1, max: 1 },
  run: (ctx, args) => runSriov(ctx, args),
};
