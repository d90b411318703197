// The `vfio` command line: finds the command (or, in a group such as `vfio net`,
// the subcommand), parses its options with node:util parseArgs, runs it, and turns
// errors into messages and exit statuses (0 ok, 1 a check or command failed, 2 bad
// usage). In-process and injectable, so tests run it without spawning.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { VfioError } from '../errors.js';
import { bindCommand, unbindCommand } from './bind.js';
import { COMMON_OPTIONS, UsageError, commandHelp, groupHelp, type CliContext, type CliOverrides, type Command, type ParsedArgs } from './command.js';
import { doctorCommand } from './doctor.js';
import { infoCommand } from './info.js';
import { lsCommand } from './ls.js';
import { netCommand } from './net.js';
import { sriovCommand } from './sriov.js';
import { makeStyle, toJson, wantColor } from './output.js';

export const COMMANDS: readonly Command[] = [lsCommand, infoCommand, bindCommand, unbindCommand, sriovCommand, doctorCommand, netCommand];

export interface CliStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface CliIo {
  stdout: CliStream;
  stderr: CliStream;
  env: Readonly<Record<string, string | undefined>>;
  /** Ctrl-C: main.ts fires it on SIGINT/SIGTERM; the net apps stop and print their summary. */
  signal?: AbortSignal;
}

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

function version(): string {
  try {
    // src/cli/ and dist/cli/ both sit two levels below the package root.
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: vfio <command> [options]',
    '',
    'Discovery and setup for user-level PCI drivers through Linux VFIO.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `vfio <command> --help` for a command\'s options. Every command takes --json.',
    '`vfio net pktgen|capture|fwd ADDR…` run the packet apps on a NIC bound to vfio-pci.',
    'Start with `vfio doctor` (or `vfio doctor 0000:03:00.0` for one device).',
    '',
    'Options:',
    '  -h, --help     show this help',
    '  -V, --version  print the version',
  ].join('\n');
}

function parse(cmd: Command, args: readonly string[]): ParsedArgs {
  const options = Object.fromEntries(
    Object.entries({ ...cmd.options, ...COMMON_OPTIONS }).map(([name, o]) => [
      name,
      { type: o.type, ...(o.short && { short: o.short }), ...(o.multiple && { multiple: true }) },
    ]),
  );
  try {
    const { values, positionals } = parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
    return { values: values as ParsedArgs['values'], positionals };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    if (typeof err.code === 'string' && err.code.startsWith('ERR_PARSE_ARGS')) {
      // parseArgs' messages end with advice about '--' that does not apply here.
      throw new UsageError(String(err.message).replace(/\. To specify a positional argument.*$/s, '').replace(/\s+$/, ''));
    }
    throw e;
  }
}

/** Finds `name` (and in a group the next word) in COMMANDS: the command and the words after it, or a message. */
function findCommand(name: string, rest: readonly string[]): { cmd: Command; rest: readonly string[] } | { group: Command; problem: string | null } | null {
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) return null;
  if (!cmd.subcommands) return { cmd, rest };
  const [word, ...after] = rest;
  if (word === undefined) return { group: cmd, problem: `expects a command: ${cmd.subcommands.map((c) => c.name.split(' ').pop()).join(', ')}` };
  if (word === '-h' || word === '--help') return { group: cmd, problem: null };
  const sub = cmd.subcommands.find((c) => c.name === `${cmd.name} ${word}`);
  if (!sub) return { group: cmd, problem: `unknown command '${word}'` };
  return { cmd: sub, rest: after };
}

/**
 * Runs `vfio <argv…>`; returns the exit status, or a Promise of it for the commands that run
 * for a while (`vfio net …`). Never throws (nor rejects) for bad input.
 */
export function run(argv: readonly string[], io: CliIo, overrides: CliOverrides = {}): number | Promise<number> {
  const line = (stream: CliStream) => (text = '') => void stream.write(`${text}\n`);
  const out = line(io.stdout);
  const err = line(io.stderr);
  const [name, ...words] = argv;

  if (name === undefined) {
    err(mainHelp());
    return EXIT_USAGE;
  }
  if (name === '-h' || name === '--help') {
    out(mainHelp());
    return EXIT_OK;
  }
  if (name === '-V' || name === '--version') {
    out(version());
    return EXIT_OK;
  }
  if (name === 'help') {
    const topic = words[0];
    if (topic === undefined) {
      out(mainHelp());
      return EXIT_OK;
    }
    const found = findCommand(topic, words.slice(1));
    if (!found) {
      err(`vfio: unknown command '${topic}'\n\n${mainHelp()}`);
      return EXIT_USAGE;
    }
    if ('group' in found) {
      if (found.problem && words.length > 1) {
        err(`vfio ${found.group.name}: ${found.problem}\n\n${groupHelp(found.group)}`);
        return EXIT_USAGE;
      }
      out(groupHelp(found.group));
      return EXIT_OK;
    }
    out(commandHelp(found.cmd));
    return EXIT_OK;
  }
  const found = findCommand(name, words);
  if (!found) {
    const what = name.startsWith('-') ? `unknown option '${name}' (options go after the command)` : `unknown command '${name}'`;
    err(`vfio: ${what}\n\n${mainHelp()}`);
    return EXIT_USAGE;
  }
  if ('group' in found) {
    if (found.problem === null) {
      out(groupHelp(found.group));
      return EXIT_OK;
    }
    err(`vfio ${found.group.name}: ${found.problem}\n\n${groupHelp(found.group)}`);
    return EXIT_USAGE;
  }
  const { cmd, rest } = found;

  const usage = (message: string) => {
    err(`vfio ${cmd.name}: ${message}`);
    err(`Usage: ${cmd.usage}`);
    err(`Run 'vfio ${cmd.name} --help' for more.`);
    return EXIT_USAGE;
  };

  let args: ParsedArgs;
  try {
    args = parse(cmd, rest);
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    throw e;
  }
  if (args.values.help === true) {
    out(commandHelp(cmd));
    return EXIT_OK;
  }
  const n = args.positionals.length;
  if (n < cmd.positionals.min) {
    const { min, max } = cmd.positionals;
    return usage(min === 1 && max === 1 ? 'expects one PCI address' : min === max ? `expects ${min} PCI addresses, got ${n}` : 'expects at least one PCI address');
  }
  if (n > cmd.positionals.max) {
    return usage(cmd.positionals.max === 0 ? `takes no arguments, got '${args.positionals[0]}'` : `takes at most ${cmd.positionals.max} argument(s), got ${n}`);
  }
  const root = typeof args.values.root === 'string' ? args.values.root : undefined;
  const json = args.values.json === true;
  const ctx: CliContext = {
    out,
    err,
    style: makeStyle(!json && wantColor(io.stdout.isTTY, io.env)),
    root,
    json,
    isTTY: io.stdout.isTTY === true,
    signal: io.signal ?? new AbortController().signal,
    overrides,
  };
  const failed = (e: unknown): number => {
    if (e instanceof UsageError) return usage(e.message);
    if (e instanceof VfioError && e.code === 'ERR_VFIO_BAD_ADDRESS') return usage(e.hint ? `${e.message}; ${e.hint}` : e.message);
    if (e instanceof VfioError) {
      if (json) out(toJson({ error: { code: e.code, op: e.op, message: e.message, device: e.device, group: e.group, hint: e.hint } }));
      err(`vfio ${cmd.name}: ${e.message}` + (e.hint ? `\n  hint: ${e.hint}` : ''));
      return EXIT_FAILED;
    }
    const error = e as Error;
    err(`vfio ${cmd.name}: ${error?.message ?? String(e)}`);
    if (io.env.VFIO_DEBUG && error?.stack) err(error.stack);
    return EXIT_FAILED;
  };
  try {
    const status = cmd.run(ctx, args);
    return typeof status === 'number' ? status : status.catch(failed);
  } catch (e) {
    return failed(e);
  }
}
