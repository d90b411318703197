/**
 * The layer rule: each file belongs to exactly one layer, and imports only from
 * its own layer or the ones below. Pure: works on the import map and a table.
 */
import type { ImportGraph } from './imports.js';

/**
 * A layer and the files in it, relative to src/: `'open.ts'` is that file,
 * `'uapi/**'` is everything under uapi/.
 */
export interface Layer {
  name: string;
  files: readonly string[];
}

export type LayerProblem =
  | { kind: 'unassigned'; file: string }
  | { kind: 'upward'; from: string; fromLayer: string; to: string; toLayer: string };

/**
 * Unassigned files and imports that point up. `layers` is ordered bottom first:
 * a file may import from its own index or lower.
 */
export function checkLayers(graph: ImportGraph, layers: readonly Layer[]): LayerProblem[] {
  const rank = (file: string): number => layers.findIndex((l) => l.files.some((p) => matches(p, file)));
  const problems: LayerProblem[] = [];
  for (const from of Object.keys(graph).sort()) {
    const fromRank = rank(from);
    if (fromRank < 0) {
      problems.push({ kind: 'unassigned', file: from });
      continue;
    }
    for (const to of graph[from]!) {
      const toRank = rank(to);
      // An unassigned target is already reported as such; its imports are judged once it has a layer.
      if (toRank > fromRank) {
        problems.push({ kind: 'upward', from, fromLayer: layers[fromRank]!.name, to, toLayer: layers[toRank]!.name });
      }
    }
  }
  return problems;
}

/** What is wrong and what to do about it, naming files as `src/…`. */
export function explainLayerProblem(p: LayerProblem): string {
  if (p.kind === 'unassigned') {
    return `unassigned file: put it in a layer: src/${p.file} matches no layer; move it under one of the layer paths in the table (or give the table a layer for it)`;
  }
  return (
    `src/${p.from} (layer '${p.fromLayer}') imports src/${p.to} (layer '${p.toLayer}', above it): ` +
    `move src/${p.to} (or the part used) into layer '${p.fromLayer}' or lower, ` +
    `or invert the dependency through an interface in layer '${p.fromLayer}'`
  );
}

function matches(pattern: string, file: string): boolean {
  if (pattern.endsWith('/**')) return file.startsWith(pattern.slice(0, -2));
  // Anything else glob-like would silently match nothing here.
  if (pattern.includes('*')) throw new Error(`layer pattern '${pattern}': only 'dir/**' and exact file names are supported`);
  return file === pattern;
}
