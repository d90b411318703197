/**
 * Import cycles in an import graph, grouped by strongly connected component.
 * Pure: works on the map alone, so a synthetic graph can prove it fires.
 */
import type { ImportGraph } from './imports.js';

/** One tangle of files that all reach each other, and the loops that tie it. */
export interface Tangle {
  /** The component's files, sorted. */
  files: string[];
  /**
   * For every import inside the component, the shortest loop through it, as
   * `[a, b, …, a]`; one entry per distinct loop. Every import listed here is
   * a candidate to cut, which is why each gets its own loop.
   */
  cycles: string[][];
}

/** All tangles (components with a loop, self-imports included), in file order. */
export function findCycles(graph: ImportGraph): Tangle[] {
  return components(graph)
    .filter((c) => c.length > 1 || importsOf(graph, c[0]!).includes(c[0]!))
    .map((files) => ({ files, cycles: loopsWithin(graph, new Set(files)) }))
    .sort((a, b) => a.files[0]!.localeCompare(b.files[0]!));
}

/** `a.ts → b.ts → a.ts` */
export function formatCycle(cycle: readonly string[]): string {
  return cycle.join(' → ');
}

function importsOf(graph: ImportGraph, file: string): readonly string[] {
  return graph[file] ?? [];
}

/** Tarjan's strongly connected components; each component sorted. */
function components(graph: ImportGraph): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of importsOf(graph, v)) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    out.push(component.sort());
  };
  for (const v of Object.keys(graph).sort()) if (!index.has(v)) visit(v);
  return out;
}

/** The shortest loop through each import between members, deduplicated by rotation. */
function loopsWithin(graph: ImportGraph, members: ReadonlySet<string>): string[][] {
  const seen = new Set<string>();
  const loops: string[][] = [];
  for (const from of [...members].sort()) {
    for (const to of importsOf(graph, from)) {
      if (!members.has(to)) continue;
      const back = shortestPath(graph, members, to, from);
      const loop = [from, ...back.slice(0, -1)];
      const key = rotateToSmallest(loop).join('\0');
      if (seen.has(key)) continue;
      seen.add(key);
      loops.push([...loop, from]);
    }
  }
  return loops;
}

/** Breadth-first path `[from, …, to]` inside the component (one always exists there). */
function shortestPath(graph: ImportGraph, members: ReadonlySet<string>, from: string, to: string): string[] {
  const parent = new Map<string, string | null>([[from, null]]);
  const queue = [from];
  while (queue.length > 0) {
    const v = queue.shift()!;
    if (v === to) break;
    for (const w of importsOf(graph, v)) {
      if (!members.has(w) || parent.has(w)) continue;
      parent.set(w, v);
      queue.push(w);
    }
  }
  const path: string[] = [];
  for (let v: string | null = to; v !== null; v = parent.get(v)!) path.unshift(v);
  return path;
}

function rotateToSmallest(loop: readonly string[]): string[] {
  const start = loop.indexOf([...loop].sort()[0]!);
  return [...loop.slice(start), ...loop.slice(0, start)];
}
