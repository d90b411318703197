/**
 * What the three apps share: opening ports from PCI addresses, the live one-line stats
 * display, option parsing helpers, and the main() wrapper (Ctrl-C stops cleanly, errors
 * print their message and exit 1).
 */
import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ParseArgsConfig } from 'node:util';
import type { OpenOptions } from 'vfio';
import type { InterruptChoice, PacketPool, Port, PortOptions, RxMode } from 'vfio/net';

/** Ports opened from PCI addresses, and how to close them all. */
export interface OpenedPorts {
  ports: Port[];
  close(): void;
}

/**
 * Opens a port on each address (openPort: the driver is chosen by PCI id). Two or more share
 * one DMA context (iommufd IOAS or container) and one packet pool, so frames go from one to
 * another without a copy. `vfio` and `vfio/net` are imported here, lazily, so the apps' run
 * functions can also be used with ports opened elsewhere (the tests pass ports on the fake kernel).
 */
export async function openPorts(addresses: string[], options: PortOptions = {}, open: OpenOptions = {}): Promise<OpenedPorts> {
  const { openContext } = await import('vfio');
  const net = await import('vfio/net');
  if (addresses.length === 1) {
    const port = net.openPort(addresses[0]!, { ...options, ...open });
    return { ports: [port], close: () => port.close() };
  }
  const ctx = openContext(open);
  const ports: Port[] = [];
  let pool: PacketPool | null = null;
  const close = () => {
    try {
      for (const p of ports.reverse()) p.close();
      pool?.close();
    } finally {
      ctx.close();
    }
  };
  try {
    const devices = addresses.map((a) => ctx.openDevice(a));
    const perPort = 2 * ((options.rxDescriptors ?? 512) + (options.txDescriptors ?? 512));
    pool = net.PacketPool.create(ctx, { count: addresses.length * perPort });
    for (const [i, d] of devices.entries()) ports.push(net.openPort(d, { ...options, pool, portId: i }));
  } catch (e) {
    close();
    throw e;
  }
  return { ports: [...ports], close };
}

/** One status line: redrawn in place (\r) on a terminal, a plain line per second otherwise. */
export class StatusLine {
  #out: NodeJS.WriteStream;
  #tty: boolean;
  #lastPlain = 0;
  #dirty = false;

  constructor(out: NodeJS.WriteStream = process.stderr) {
    this.#out = out;
    this.#tty = out.isTTY === true;
  }

  update(text: string): void {
    if (this.#tty) {
      this.#out.write(`\r${text}\x1b[K`);
      this.#dirty = true;
    } else if (Date.now() - this.#lastPlain >= 1000) {
      this.#lastPlain = Date.now();
      this.#out.write(`${text}\n`);
    }
  }

  /** Ends the line (on a terminal) so what follows starts on a fresh one. */
  done(): void {
    if (this.#tty && this.#dirty) this.#out.write('\n');
    this.#dirty = false;
  }
}

export function formatRate(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return `${Math.round(n)} `;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Options every app takes. */
export const PORT_OPTIONS = {
  interrupts: { type: 'string', default: 'auto' },
  mode: { type: 'string', default: 'interrupt' },
  ring: { type: 'string', default: '512' },
  iommu: { type: 'string', default: 'auto' },
  'unsafe-noiommu': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies ParseArgsConfig['options'];

export const PORT_OPTIONS_HELP = `  --interrupts KIND   auto (MSI-X, then MSI), msix, msi or none (default auto)
  --mode MODE         receive by sleeping on the interrupt or by polling: interrupt|poll (default interrupt)
  --ring N            descriptors per ring, a multiple of 8, 8-4096 (default 512)
  --iommu API         the kernel interface: auto, iommufd or container (default auto)
  --unsafe-noiommu    allow a device in vfio's no-IOMMU mode: its DMA is unconfined (root only)
  --json              print the final report as JSON
  -h, --help          this text`;

/** Runs an argument parser, turning its complaints into UsageErrors. */
export function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

export function intOption(name: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer between ${min} and ${max}, got ${JSON.stringify(text)}`);
  return n;
}

export function portOptions(values: { interrupts?: string; mode?: string; ring?: string }, extra: PortOptions = {}): PortOptions {
  const interrupts = values.interrupts ?? 'auto';
  if (!['auto', 'msix', 'msi', 'none'].includes(interrupts)) throw new UsageError(`--interrupts must be auto, msix, msi or none, got ${interrupts}`);
  const mode = values.mode ?? 'interrupt';
  if (mode !== 'interrupt' && mode !== 'poll') throw new UsageError(`--mode must be interrupt or poll, got ${mode}`);
  if (mode === 'interrupt' && interrupts === 'none') throw new UsageError('--mode interrupt needs interrupts (not --interrupts none)');
  const ring = intOption('ring', values.ring ?? '512', 8, 4096);
  if (ring % 8) throw new UsageError(`--ring must be a multiple of 8 (the ring is a multiple of 128 bytes), got ${ring}`);
  return { interrupts: interrupts as InterruptChoice, rxMode: mode as RxMode, rxDescriptors: ring, txDescriptors: ring, ...extra };
}

/** How to open the device: the kernel interface, and the no-IOMMU opt-in (never implied). */
export function openOptions(values: { iommu?: string; 'unsafe-noiommu'?: boolean }): OpenOptions {
  const iommu = values.iommu ?? 'auto';
  if (iommu !== 'auto' && iommu !== 'iommufd' && iommu !== 'container') throw new UsageError(`--iommu must be auto, iommufd or container, got ${iommu}`);
  return { iommu, ...(values['unsafe-noiommu'] && { unsafeNoIommu: true }) };
}

export function checkAddress(text: string | undefined, what = 'PCI address'): string {
  if (!text) throw new UsageError(`missing ${what}`);
  if (!/^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]$/.test(text)) throw new UsageError(`not a PCI address: ${text} (expected e.g. 0000:00:03.0)`);
  return text.length === 7 ? `0000:${text}` : text;
}

/**
 * Runs an app's main: an AbortSignal that Ctrl-C (SIGINT/SIGTERM) fires once, usage
 * errors with the usage text, other errors as one line with their code, exit status 1.
 */
export function runMain(usage: string, main: (argv: string[], signal: AbortSignal) => Promise<void>): void {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  main(process.argv.slice(2), controller.signal)
    .catch((e: unknown) => {
      if (e instanceof UsageError) {
        process.stderr.write(`error: ${e.message}\n\n${usage}\n`);
        process.exitCode = 2;
        return;
      }
      const code = (e as { code?: unknown } | null)?.code;
      const tag = typeof code === 'string' ? ` [${code}]` : '';
      process.stderr.write(`error${tag}: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exitCode = 1;
    })
    .finally(() => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    });
}

/** Sleeps, waking early when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Yields to the event loop (timers, signals, interrupt callbacks) without sleeping. */
export function yieldNow(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** True when this module is the program being run (node/tsx examples/e1000e/x.ts). */
export function isMain(url: string): boolean {
  const arg = process.argv[1];
  if (!arg) return false;
  try {
    return realpathSync(fileURLToPath(url)) === realpathSync(resolve(arg));
  } catch {
    return false;
  }
}
