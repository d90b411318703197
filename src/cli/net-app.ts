// What `vfio net pktgen|capture|fwd` share: the port options, opening the ports (openPorts:
// several in one DMA context with one pool), the start line, the live lines and the
// summary, Ctrl-C.
import { VfioError } from '../errors.js';
import { normalizePciAddress } from '../host/pci.js';
import { formatMac, openPorts, type AppProgress, type AppRunOptions, type AppSummary, type InterruptChoice, type OpenPortsOptions, type PortBase, type RxMode } from '../net/index.js';
import type { OpenOptions } from '../open.js';
import { UsageError, type CliContext, type OptionSpec, type ParsedArgs } from './command.js';
import { formatLiveLine } from './net-format.js';
import { toJson } from './output.js';

/** The options every net app takes. */
export const PORT_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  ring: {
    type: 'string',
    value: 'N',
    help: "descriptors per ring, 1-32768; each driver has its rule and default: e1000e a multiple of 8 up to 4096 (default 512), virtio-net a power of two up to the device's queue size (default that size), igbvf a multiple of 8 up to 4096 (default 512)",
  },
  interrupts: { type: 'string', value: 'KIND', help: 'auto (MSI-X, then MSI), msix, msi or none (default auto)' },
  mode: { type: 'string', value: 'MODE', help: 'wait for frames by sleeping on the interrupt or by polling: interrupt|poll (default interrupt, poll with --interrupts none)' },
  iommu: { type: 'string', value: 'API', help: 'the kernel interface: auto, iommufd or container (default auto)' },
  'unsafe-noiommu': { type: 'boolean', help: "allow a device in vfio's no-IOMMU mode: its DMA is unconfined (root only)" },
  interval: { type: 'string', value: 'SEC', help: 'seconds between live lines (default 1 on a terminal, none otherwise; 0: none)' },
};

/** A whole number in [min, max], or a UsageError naming the flag. */
export function intOption(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  return n;
}

/** Positive seconds as milliseconds, or a UsageError. */
export function secondsOption(name: string, text: string): number {
  const n = Number(text);
  if (!(n > 0) || !Number.isFinite(n)) throw new UsageError(`--${name} must be a positive number of seconds, got ${JSON.stringify(text)}`);
  return n * 1000;
}

/** The string value of a flag, if given. */
export const str = (values: ParsedArgs['values'], name: string): string | undefined => {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
};

/** The port and open options from the shared flags (checked before any device is touched). */
export function portOptions(ctx: CliContext, values: ParsedArgs['values']): OpenPortsOptions {
  const interrupts = str(values, 'interrupts') ?? 'auto';
  if (!['auto', 'msix', 'msi', 'none'].includes(interrupts)) throw new UsageError(`--interrupts must be auto, msix, msi or none, got ${interrupts}`);
  const mode = str(values, 'mode') ?? (interrupts === 'none' ? 'poll' : 'interrupt');
  if (mode !== 'interrupt' && mode !== 'poll') throw new UsageError(`--mode must be interrupt or poll, got ${mode}`);
  if (mode === 'interrupt' && interrupts === 'none') throw new UsageError('--mode interrupt needs interrupts (not --interrupts none)');
  // The driver checks its own rule (e1000e: multiples of 8; virtio-net: powers of two within the device's offer).
  const ringText = str(values, 'ring');
  const ring = ringText === undefined ? undefined : intOption('ring', ringText, 1, 32768);
  const iommu = str(values, 'iommu') ?? 'auto';
  if (iommu !== 'auto' && iommu !== 'iommufd' && iommu !== 'container') throw new UsageError(`--iommu must be auto, iommufd or container, got ${iommu}`);
  const open: OpenOptions = {
    iommu,
    ...(values['unsafe-noiommu'] === true && { unsafeNoIommu: true }),
    ...(ctx.root !== undefined && { root: ctx.root }),
    ...(ctx.overrides.backend && { backend: ctx.overrides.backend }),
  };
  return { ...open, interrupts: interrupts as InterruptChoice, rxMode: mode as RxMode, ...(ring !== undefined && { rxDescriptors: ring, txDescriptors: ring }) };
}

/** The PCI addresses, normalised (a bad one is ERR_VFIO_BAD_ADDRESS: a usage error), all different. */
export function addresses(positionals: readonly string[]): string[] {
  const list = positionals.map(normalizePciAddress);
  if (new Set(list).size !== list.length) throw new UsageError(`the ports must be different devices, got ${list.join(' ')}`);
  return list;
}

/** One app run by the CLI: what runApp needs from pktgen, capture or fwd. */
export interface AppSpec<S extends AppSummary> {
  /** 'pktgen', 'capture' or 'fwd'. */
  readonly name: string;
  readonly addresses: readonly string[];
  readonly options: OpenPortsOptions;
  /** The link must come up (pktgen cannot send without it); else the app starts anyway. */
  readonly needsLink: boolean;
  /** Checks that need the open ports (a size against the port's largest frame): UsageErrors. */
  check?(ports: readonly PortBase[]): void;
  /** What the start line says after the ports. */
  readonly describe: string;
  run(ports: readonly PortBase[], hooks: AppRunOptions): Promise<S>;
  text(summary: S): string[];
  /** The app's fields of the JSON object (the summary, and a file name, …). */
  json(summary: S): object;
}

const describePort = (p: PortBase): string => `${p.address} (${p.driver}, ${formatMac(p.mac)}, ${p.interruptKind}, ${p.rxMode})`;

/**
 * Opens the ports, says on stderr that the app started, runs it with live lines on stdout
 * (a terminal, or --interval) unless --json, prints the summary (text, or one JSON object),
 * and closes the ports whatever happens. Ctrl-C stops the app, which still reports.
 */
export async function runApp<S extends AppSummary>(ctx: CliContext, values: ParsedArgs['values'], app: AppSpec<S>): Promise<number> {
  const interval = str(values, 'interval');
  const intervalMs = interval === undefined ? (ctx.isTTY ? 1000 : 0) : Number(interval) * 1000;
  if (!(intervalMs >= 0) || !Number.isFinite(intervalMs)) throw new UsageError(`--interval must be a number of seconds (0: no live lines), got ${JSON.stringify(interval)}`);
  const opened = openPorts(app.addresses, app.options);
  try {
    const { ports } = opened;
    app.check?.(ports);
    const up = await Promise.all(ports.map((p) => p.waitForLink(5000)));
    const down = ports.filter((_, i) => !up[i]);
    if (app.needsLink && down.length > 0)
      throw new VfioError({
        code: 'ERR_VFIO_NET_LINK_DOWN',
        op: `vfio net ${app.name}`,
        device: down[0]!.address,
        message: 'the link did not come up within 5 s',
        hint: 'check the cable or the peer; `vfio net capture` listens with the link down, pktgen cannot send',
      });
    for (const p of down) ctx.err(`vfio net ${app.name}: ${p.address}: the link is down; waiting for frames anyway`);
    ctx.err(`${app.name} ${ports.map(describePort).join(' <-> ')}${app.describe}`);
    const live = !ctx.json && intervalMs > 0;
    const summary = await app.run(ports, {
      signal: ctx.signal,
      ...(live && { intervalMs, onProgress: (p: AppProgress) => ctx.out(formatLiveLine(p, ctx.style)) }),
    });
    if (ctx.json) {
      const info = ports.map((p) => ({ address: p.address, driver: p.driver, mac: formatMac(p.mac), interrupts: p.interruptKind, rxMode: p.rxMode }));
      ctx.out(toJson({ command: `net ${app.name}`, ports: info, ...app.json(summary) }));
    } else for (const l of app.text(summary)) ctx.out(l);
    return 0;
  } finally {
    opened.close();
  }
}
