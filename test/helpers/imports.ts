/**
 * Reads which source files each `.ts` file under a directory imports, as a map
 * from file to imported files (paths relative to that directory, `/`-separated).
 * The TypeScript parser finds the specifiers, so multi-line, type-only and
 * re-export forms count the same as plain imports.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, isAbsolute, join, relative, sep } from 'node:path';
import ts from 'typescript';

/** File → the files it imports, both relative to the scanned directory. */
export type ImportGraph = Readonly<Record<string, readonly string[]>>;

/**
 * Every module specifier written in `text`: import and export declarations
 * (type-only included), `import x = require()`, `import()` calls, and
 * `import('…')` types such as `typeof import('./x.js')`.
 */
export function importSpecifiers(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    const spec = specifierOf(node, fileName);
    if (spec !== undefined) found.push(spec);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function specifierOf(node: ts.Node, fileName: string): string | undefined {
  if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
    return node.moduleSpecifier && literal(node.moduleSpecifier);
  }
  if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
    return literal(node.moduleReference.expression);
  }
  if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
    return literal(node.argument.literal);
  }
  if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
    const arg = node.arguments[0];
    // A computed import() could reach anything, so the check would be blind to it.
    if (arg === undefined || literal(arg) === undefined) {
      throw new Error(`${fileName}: import() with a computed specifier cannot be checked; use a string literal`);
    }
    return literal(arg);
  }
  return undefined;
}

function literal(node: ts.Node): string | undefined {
  return ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) ? node.text : undefined;
}

/** The import graph of every `.ts` file under `root`, keyed relative to `root`. */
export function readImportGraph(root: string): ImportGraph {
  const files = (readdirSync(root, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.ts') && statSync(join(root, f)).isFile())
    .sort();
  const graph: Record<string, string[]> = {};
  for (const file of files) {
    const abs = join(root, file);
    const targets = importSpecifiers(abs, readFileSync(abs, 'utf8'))
      .map((spec) => resolveInside(root, abs, spec))
      .filter((t): t is string => t !== undefined);
    graph[posix(file)] = [...new Set(targets)].sort();
  }
  return graph;
}

/**
 * The `.ts` file a relative specifier names, relative to `root`, or undefined
 * for builtins, packages, and files outside `root` or not TypeScript (JSON):
 * those are not part of the layering.
 */
function resolveInside(root: string, fromFile: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const target = join(dirname(fromFile), spec);
  const rel = relative(root, target);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  const hit = tsCandidates(target).find((c) => existsSync(c) && statSync(c).isFile());
  if (hit !== undefined) return posix(relative(root, hit));
  if (existsSync(target) && statSync(target).isFile()) return undefined;
  // tsc would reject this too; failing here keeps a typo from hiding an edge.
  throw new Error(`${fromFile}: cannot resolve '${spec}' to a .ts file`);
}

/**
 * NodeNext: the source of `./x.js` is `./x.ts` (so `./dir/index.js` is
 * `./dir/index.ts`); `.ts` specifiers are allowed here (allowImportingTsExtensions);
 * extensionless and directory forms are tried in case a bundler-style one slips in.
 */
function tsCandidates(target: string): string[] {
  const ext = extname(target);
  if (ext === '.js') return [`${target.slice(0, -ext.length)}.ts`];
  if (ext === '.ts') return [target];
  return [`${target}.ts`, join(target, 'index.ts')];
}

function posix(path: string): string {
  return path.split(sep).join('/');
}
