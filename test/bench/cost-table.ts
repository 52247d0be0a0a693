/**
 * The cost benchmark's figures and how they print: one row per figure, this operator beside the
 * plain controller measured in the same run, and their ratio. Pure, so the smoke test can check
 * the very figures the table shows.
 */
export type Unit = 'ms' | 's' | 'count' | 'MiB' | 'x';

export interface Figure {
  label: string;
  unit: Unit;
  operator: number;
  /** Undefined where the plain controller has no such thing (Temporal actions). */
  peer?: number;
  /**
   * Which sides must be above zero (every figure must be a finite number ≥ 0): e.g. a peer's CPU
   * for a handful of Databases may round to 0 at the kernel's 10 ms tick, an idle window may see
   * no action.
   */
  positive: 'both' | 'operator' | 'none';
}

export interface CostReport {
  /** What was run: counts, engine, nodes, window, start time. */
  setup: Record<string, string | number>;
  figures: Figure[];
  /** Free-form lines printed under the table (breakdowns, what was measured how). */
  notes: string[];
}

function format(value: number | undefined, unit: Unit): string {
  if (value === undefined) return '—';
  if (!Number.isFinite(value)) return String(value);
  switch (unit) {
    case 'ms':
      return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${value.toFixed(value < 10 ? 1 : 0)} ms`;
    case 's':
      return `${value.toFixed(value < 10 ? 2 : 1)} s`;
    case 'MiB':
      return `${value.toFixed(0)} MiB`;
    case 'x':
      return `${value.toFixed(2)}×`;
    case 'count':
      return Number.isInteger(value) ? String(value) : value.toFixed(1);
  }
}

function ratio(f: Figure): string {
  if (f.peer === undefined) return '—';
  if (f.peer === 0) return f.operator === 0 ? '1×' : '∞';
  const r = f.operator / f.peer;
  return `${r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
}

export function renderTable(report: CostReport): string {
  const rows = [
    ['figure', 'this operator', 'plain controller', 'ratio'],
    ...report.figures.map((f) => [f.label, format(f.operator, f.unit), format(f.peer, f.unit), ratio(f)]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    Object.entries(report.setup)
      .map(([k, v]) => `${k}: ${v}`)
      .join(', '),
    '',
    line(rows[0]!),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...rows.slice(1).map(line),
    '',
    ...report.notes,
    '',
  ].join('\n');
}

/** Figures that must be above zero but are not (or are not numbers at all): for the smoke test. */
export function badFigures(report: CostReport): string[] {
  const bad: string[] = [];
  for (const f of report.figures) {
    const sides: [string, number | undefined, boolean][] = [
      ['operator', f.operator, f.positive !== 'none'],
      ['peer', f.peer, f.positive === 'both'],
    ];
    for (const [side, v, positive] of sides) {
      if (v === undefined) continue;
      if (!Number.isFinite(v) || v < 0 || (positive && v <= 0)) bad.push(`${f.label} (${side}): ${v}`);
    }
  }
  return bad;
}
