/**
 * The chart `npm run bench` writes: one bar per figure, JS cost ÷ C cost on a log2 axis, so
 * "2× slower" and "2× faster" are the same length either side of C (1). A bar's colour says
 * whether it meets the target, where there is one; the target is a tick on the bar.
 * Plain SVG text, so the results folder needs no plotting library.
 */
import type { Ratio } from './section.js';

export interface ChartGroup {
  name: string;
  bars: Ratio[];
}

const LABEL_W = 230;
const PLOT_W = 520;
const ROW_H = 20;
const HEAD_H = 24;
const TOP = 64;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function chartSvg(title: string, subtitle: string, groups: ChartGroup[]): string {
  const all = groups.flatMap((g) => g.bars.map((b) => b.ratio)).filter((r) => r > 0 && Number.isFinite(r));
  // Whole powers of two around every bar, never narrower than 1/4 … 4.
  const lo = Math.min(-2, Math.floor(Math.log2(Math.min(...all, 1))));
  const hi = Math.max(2, Math.ceil(Math.log2(Math.max(...all, 1))));
  const x = (ratio: number) => LABEL_W + ((Math.log2(ratio) - lo) / (hi - lo)) * PLOT_W;
  const rows = groups.reduce((n, g) => n + g.bars.length, 0);
  const height = TOP + groups.length * HEAD_H + rows * ROW_H + 40;
  const width = LABEL_W + PLOT_W + 70;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="38" fill="#555">${esc(subtitle)}</text>`,
  ];
  const bottom = height - 30;
  for (let e = lo; e <= hi; e++) {
    const px = x(2 ** e).toFixed(1);
    out.push(`<line x1="${px}" y1="${TOP - 8}" x2="${px}" y2="${bottom}" stroke="${e === 0 ? '#000' : '#ddd'}"/>`);
    const label = e >= 0 ? `${2 ** e}×` : `1/${2 ** -e}`;
    out.push(`<text x="${px}" y="${bottom + 14}" text-anchor="middle" fill="#555">${label}</text>`);
  }
  out.push(`<text x="${x(1)}" y="${TOP - 12}" text-anchor="middle" fill="#555">C = 1 (left: JS faster, right: JS slower)</text>`);
  let y = TOP;
  for (const g of groups) {
    out.push(`<text x="10" y="${y + 16}" font-weight="bold">${esc(g.name)}</text>`);
    y += HEAD_H;
    for (const b of g.bars) {
      const met = b.target === undefined ? undefined : b.ratio <= b.target;
      const fill = met === undefined ? '#7a8ca3' : met ? '#4c9a5b' : '#c8553d';
      const x0 = Math.min(x(1), x(b.ratio));
      const w = Math.max(1, Math.abs(x(b.ratio) - x(1)));
      out.push(`<text x="${LABEL_W - 8}" y="${y + 14}" text-anchor="end">${esc(b.figure)}</text>`);
      out.push(`<rect x="${x0.toFixed(1)}" y="${y + 3}" width="${w.toFixed(1)}" height="${ROW_H - 6}" fill="${fill}"/>`);
      if (b.target !== undefined) {
        const tx = x(b.target).toFixed(1);
        out.push(`<line x1="${tx}" y1="${y + 1}" x2="${tx}" y2="${y + ROW_H - 1}" stroke="#000" stroke-dasharray="2,2"/>`);
      }
      out.push(`<text x="${(Math.max(x(1), x(b.ratio)) + 4).toFixed(1)}" y="${y + 14}" fill="#333">${b.ratio.toFixed(2)}</text>`);
      y += ROW_H;
    }
  }
  out.push(
    `<text x="10" y="${height - 8}" fill="#555">green: meets the issue's target (dashed tick); red: misses it; grey: no ratio target</text>`,
    '</svg>',
  );
  return out.join('\n') + '\n';
}
