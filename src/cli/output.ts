/** Text output for people: colours (only when asked for), aligned columns. */

export type Paint = (text: string) => string;

export interface Style {
  readonly color: boolean;
  bold: Paint;
  dim: Paint;
  red: Paint;
  green: Paint;
  yellow: Paint;
  cyan: Paint;
}

const sgr = (open: number, close: number): Paint => (text) => `\x1b[${open}m${text}\x1b[${close}m`;
const plain: Paint = (text) => text;

export function makeStyle(color: boolean): Style {
  return color
    ? { color, bold: sgr(1, 22), dim: sgr(2, 22), red: sgr(31, 39), green: sgr(32, 39), yellow: sgr(33, 39), cyan: sgr(36, 39) }
    : { color, bold: plain, dim: plain, red: plain, green: plain, yellow: plain, cyan: plain };
}

/**
 * Colour only on a terminal, and never when NO_COLOR is set to anything
 * non-empty (no-color.org); FORCE_COLOR (non-empty, not '0') turns it on anyway.
 */
export function wantColor(isTTY: boolean | undefined, env: Readonly<Record<string, string | undefined>>): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return isTTY === true && env.TERM !== 'dumb';
}

const ANSI = /\x1b\[[0-9;]*m/g;
export const stripAnsi = (text: string): string => text.replace(ANSI, '');

/** A cell: its text, and optionally how to paint it once padded. */
export type Cell = string | readonly [text: string, paint: Paint];

/**
 * Rows of cells as aligned columns separated by two spaces; the last column is
 * not padded. Widths are measured on the text before painting.
 */
export function table(rows: readonly (readonly Cell[])[]): string[] {
  const text = (c: Cell) => (typeof c === 'string' ? c : c[0]);
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, text(c).length)));
  return rows.map((row) =>
    row
      .map((c, i) => {
        const t = text(c);
        const padded = i === row.length - 1 ? t : t.padEnd(widths[i] ?? 0);
        return typeof c === 'string' ? padded : c[1](padded);
      })
      .join('  ')
      .trimEnd(),
  );
}

/** JSON for scripts: bigints as decimal strings, two-space indent. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2);
}
