/**
 * The architecture's import rules, checked in `npm run lint` (eslint cannot see a cycle that goes
 * through several files, and its path patterns cannot say "this folder and everything below").
 *
 *   - no import cycle anywhere in the project's own code, type-only imports included: a cycle of
 *     types today is a cycle of values after the next edit, and it blurs which module is below;
 *   - the layers, lowest first: crds (the API types) → contracts (names and shapes that
 *     workflows, activities and the watcher share) → common → engines → activities → workflows →
 *     watcher → plugin (the kubectl plugin) → cmd. A folder imports only from the folders below it, with two exceptions that
 *     are the architecture itself: workflows may import activity *types* (to type their proxies,
 *     never activity code, which does I/O), and the watcher may import workflow definitions
 *     (signals, search attributes, workflow types) it uses as a Temporal client.
 *
 * Prints every violation and exits non-zero if there is one.
 */
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(__dirname, '../..');
const LAYERS = [
  'crds',
  'contracts',
  'common',
  'engines',
  'activities',
  'workflows',
  'watcher',
  'plugin',
  'cmd',
] as const;
type Layer = (typeof LAYERS)[number];
/** Folders outside the layering (their own code is still checked for cycles). */
const FREE = ['test', 'tools'];

interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.') || entry.name === 'dist') continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (/\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

function resolve(fromFile: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined; // a package: not ours
  const base = path.resolve(path.dirname(fromFile), spec);
  for (const candidate of [`${base}.ts`, path.join(base, 'index.ts'), base]) {
    if (candidate.endsWith('.ts') && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Every relative import and re-export of a file, and whether it brings types only. */
export function importsOf(file: string): Edge[] {
  const text = fs.readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, false);
  const edges: Edge[] = [];
  const add = (spec: string, typeOnly: boolean) => {
    const to = resolve(file, spec);
    if (to) edges.push({ from: file, to, typeOnly });
  };
  for (const node of source.statements) {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        !!clause &&
        (clause.isTypeOnly ||
          (!clause.name &&
            !!clause.namedBindings &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier.text, typeOnly);
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      add(node.moduleSpecifier.text, node.isTypeOnly);
    }
  }
  return edges;
}

function layerOf(file: string): Layer | undefined {
  const top = path.relative(root, file).split(path.sep)[0];
  return (LAYERS as readonly string[]).includes(top ?? '') ? (top as Layer) : undefined;
}

function allowed(edge: Edge): boolean {
  const from = layerOf(edge.from);
  const to = layerOf(edge.to);
  if (!from || !to || from === to) return true;
  if (LAYERS.indexOf(to) < LAYERS.indexOf(from)) return true;
  if (from === 'workflows' && to === 'activities') return edge.typeOnly;
  if (from === 'watcher' && to === 'workflows') return true;
  return false;
}

/** Cycles found by a depth-first search (each reported once, from its first file in path order). */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const seen = new Set<string>();
  const keys = new Set<string>();
  const onStack: string[] = [];
  const visit = (node: string) => {
    const at = onStack.indexOf(node);
    if (at >= 0) {
      const cycle = onStack.slice(at);
      const start = cycle.indexOf([...cycle].sort()[0]!);
      const norm = [...cycle.slice(start), ...cycle.slice(0, start)];
      const key = norm.join('>');
      if (!keys.has(key)) {
        keys.add(key);
        found.push(norm);
      }
      return;
    }
    if (seen.has(node)) return;
    onStack.push(node);
    for (const next of graph.get(node) ?? []) visit(next);
    onStack.pop();
    seen.add(node);
  };
  for (const node of [...graph.keys()].sort()) visit(node);
  return found;
}

export interface ImportReport {
  cycles: string[][];
  violations: Edge[];
  files: number;
}

export function checkImports(): ImportReport {
  const files = [...LAYERS, ...FREE]
    .map((d) => path.join(root, d))
    .filter((d) => fs.existsSync(d))
    .flatMap(sourceFiles);
  const edges = files.flatMap(importsOf);
  const graph = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) graph.get(e.from)?.push(e.to);
  return { cycles: cycles(graph), violations: edges.filter((e) => !allowed(e)), files: files.length };
}

function main(): void {
  const rel = (f: string) => path.relative(root, f);
  const report = checkImports();
  for (const c of report.cycles) {
    process.stderr.write(`import cycle: ${[...c, c[0]!].map(rel).join(' → ')}\n`);
  }
  for (const v of report.violations) {
    process.stderr.write(
      `layering: ${rel(v.from)} imports ${rel(v.to)}${v.typeOnly ? ' (types)' : ''}: ` +
        `${layerOf(v.from)} may not import from ${layerOf(v.to)} (see tools/lint/import-graph.ts)\n`,
    );
  }
  if (report.cycles.length > 0 || report.violations.length > 0) process.exit(1);
  process.stdout.write(`imports: ${report.files} files, no cycle, layers respected\n`);
}

if (require.main === module) main();
