// What every `vfio` command shares: its option table, help text, and context.
import type { Backend } from '../backend/backend.js';
import type { DoctorUser } from '../admin/doctor.js';
import type { Style } from './output.js';

export interface OptionSpec {
  readonly type: 'boolean' | 'string';
  readonly short?: string;
  /** Shown in the help after the option: `--class CLASS`. */
  readonly value?: string;
  readonly help: string;
  readonly multiple?: boolean;
}

export interface ParsedArgs {
  readonly values: Readonly<Record<string, string | boolean | string[] | undefined>>;
  readonly positionals: readonly string[];
}

/** Hooks that tests (and embedders) pass down to the library. */
export interface CliOverrides {
  /** Sysfs attribute writes for bind/unbind (default: writeFileSync). */
  write?: (path: string, data: string) => void;
  modprobe?: (module: string) => boolean;
  stateDir?: string;
  /** Judge /dev/vfio access for this user instead of the current process. */
  user?: DoctorUser;
  /** The backend `info` opens devices with. */
  backend?: Backend;
  /** procfs location (default <root>/proc). */
  proc?: string;
}

export interface CliContext {
  /** Writes to stdout; a newline is added. */
  out(text?: string): void;
  /** Writes to stderr; a newline is added. */
  err(text?: string): void;
  readonly style: Style;
  /** --root: where /sys, /dev and /proc are (default '/'). */
  readonly root: string | undefined;
  readonly json: boolean;
  /** stdout is a terminal (the net apps print live lines there only). */
  readonly isTTY: boolean;
  /** Fires on Ctrl-C (SIGINT/SIGTERM): the commands that run for a while stop and report. */
  readonly signal: AbortSignal;
  readonly overrides: CliOverrides;
}

export interface Command {
  readonly name: string;
  /** One line for `vfio --help`. */
  readonly summary: string;
  /** The synopsis after 'Usage: '. */
  readonly usage: string;
  /** Paragraphs after the synopsis. */
  readonly description: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  readonly positionals: { readonly min: number; readonly max: number };
  /**
   * A group (`vfio net`): the word after the group's name picks one of these, and `run` is
   * not called. Their `name` is the full name ('net pktgen').
   */
  readonly subcommands?: readonly Command[];
  /** Returns the exit status; a Promise for the commands that run for a while (`vfio net …`). */
  run(ctx: CliContext, args: ParsedArgs): number | Promise<number>;
}

/** Bad input: printed with the command's usage, exit status 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Options every command takes. */
export const COMMON_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  json: { type: 'boolean', help: 'print JSON for scripts instead of text' },
  root: { type: 'string', value: 'DIR', help: 'read /sys, /dev and /proc under DIR instead of / (containers, tests)' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
};

/** The help of a group: its description and its subcommands. */
export function groupHelp(group: Command): string {
  const subs = group.subcommands ?? [];
  const width = Math.max(...subs.map((c) => c.name.length));
  return [
    `Usage: ${group.usage}`,
    '',
    group.description,
    '',
    'Commands:',
    ...subs.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Run \`vfio ${group.name} <command> --help\` for a command's options.`,
  ].join('\n');
}

export function commandHelp(cmd: Command): string {
  if (cmd.subcommands) return groupHelp(cmd);
  const all = { ...cmd.options, ...COMMON_OPTIONS };
  const rows = Object.entries(all).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`;
    return [flag, o.help] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length));
  return [
    `Usage: ${cmd.usage}`,
    '',
    cmd.description,
    '',
    'Options:',
    ...rows.map(([f, h]) => `  ${f.padEnd(width)}  ${h}`),
  ].join('\n');
}

/** '64M', '1G', '512K', '65536' → bytes (K, M, G, T are powers of 1024). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!m) throw new UsageError(`${JSON.stringify(text)} is not a size; write e.g. 64M, 1G or 65536`);
  const power = ' kmgt'.indexOf((m[2] || ' ').toLowerCase());
  return Math.round(Number(m[1]) * 1024 ** power);
}
