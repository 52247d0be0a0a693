import YAML from 'yaml';

/**
 * How the plugin writes: tables that fit the terminal, colours only on a terminal (and never with
 * NO_COLOR), `-o json|yaml` for scripts. Pure functions of their inputs; the commands pass in what
 * they know about stdout.
 */

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Colours on: stdout is a terminal and NO_COLOR is not set. */
  tty: boolean;
  /** Width tables are cut to; 0 (not a terminal): never cut, as kubectl into a pipe. */
  columns: number;
}

export function processIo(): Io {
  const terminal = !!process.stdout.isTTY;
  return {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
    tty: terminal && !process.env.NO_COLOR,
    columns: terminal ? process.stdout.columns || 80 : 0,
  };
}

/** A problem the user can fix; `fix` says how (printed after the message). Exit code 1. */
export class UserError extends Error {
  constructor(
    message: string,
    readonly fix?: string,
  ) {
    super(message);
  }
}

export function parseFormat(value: unknown): OutputFormat {
  const v = typeof value === 'string' ? value : 'table';
  if ((OUTPUT_FORMATS as readonly string[]).includes(v)) return v as OutputFormat;
  throw new UserError(`unknown output format '${v}'`, `use -o table, -o json or -o yaml`);
}

/** The value as JSON or YAML text (for `-o`), ending with a newline. */
export function serialize(value: unknown, format: 'json' | 'yaml'): string {
  return format === 'json' ? `${JSON.stringify(value, null, 2)}\n` : YAML.stringify(value);
}

const CODES = { red: 31, green: 32, yellow: 33, blue: 34, dim: 2, bold: 1 } as const;
export type Colour = keyof typeof CODES;

export function paint(text: string, colour: Colour | undefined, on: boolean): string {
  return on && colour && text ? `\u001b[${CODES[colour]}m${text}\u001b[0m` : text;
}

/** The colour a phase or outcome word is shown in. */
export function colourOf(word: string | undefined): Colour | undefined {
  switch (word) {
    case 'Ready':
    case 'Succeeded':
    case 'Completed':
    case 'primary':
    case 'True':
    case 'Normal':
      return 'green';
    case 'Failed':
    case 'Terminated':
    case 'TimedOut':
    case 'Degraded':
    case 'Warning':
    case 'False':
      return 'red';
    case 'Running':
    case 'Pending':
    case 'Provisioning':
    case 'Updating':
    case 'Upgrading':
    case 'Deleting':
      return 'yellow';
    default:
      return undefined;
  }
}

export interface Column {
  header: string;
  /** Colours a cell's text (after padding is computed on the plain text). */
  colour?: (cell: string) => Colour | undefined;
}

const ELLIPSIS = '…';

/**
 * A table as kubectl prints one: upper-case headers, columns padded to their widest cell, three
 * spaces between. When the table is wider than `width`, the widest column is cut (with …) until
 * it fits or every column is down to its header's width: a narrow terminal keeps every column.
 */
export function renderTable(
  columns: readonly Column[],
  rows: readonly (readonly string[])[],
  opts: { width?: number; colour?: boolean } = {},
): string {
  const gap = '   ';
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  const min = columns.map((c) => Math.max(c.header.length, 3));
  const total = () => widths.reduce((a, b) => a + b, 0) + gap.length * (widths.length - 1);
  if (opts.width) {
    while (total() > opts.width) {
      let widest = -1;
      for (let i = 0; i < widths.length; i++) {
        if (widths[i]! > min[i]! && (widest < 0 || widths[i]! > widths[widest]!)) widest = i;
      }
      if (widest < 0) break;
      widths[widest] = Math.max(min[widest]!, widths[widest]! - (total() - opts.width));
    }
  }
  const cut = (text: string, w: number) => (text.length <= w ? text : `${text.slice(0, w - 1)}${ELLIPSIS}`);
  const line = (cells: readonly string[], header: boolean) =>
    cells
      .map((cell, i) => {
        const text = cut(cell ?? '', widths[i]!);
        // The last column is not padded: no trailing spaces.
        const padded = i === cells.length - 1 ? text : text.padEnd(widths[i]!);
        const colour = header ? undefined : columns[i]!.colour?.(cell ?? '');
        return paint(padded, colour, !!opts.colour);
      })
      .join(gap)
      .trimEnd();
  return [
    line(
      columns.map((c) => c.header.toUpperCase()),
      true,
    ),
    ...rows.map((r) => line(r, false)),
  ]
    .map((l) => `${l}\n`)
    .join('');
}

/** `3s`, `4m12s`, `2h5m`, `3d4h`: kubectl's style of age, for a number of milliseconds. */
export function humanDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '-';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return m % 60 ? `${h}h${m % 60}m` : `${h}h`;
  const d = Math.floor(h / 24);
  return h % 24 ? `${d}d${h % 24}h` : `${d}d`;
}

/** Age of a timestamp at `now`, or '-' when there is none. */
export function age(at: string | Date | undefined, now: Date): string {
  if (at === undefined) return '-';
  const t = at instanceof Date ? at.getTime() : Date.parse(at);
  return Number.isNaN(t) ? '-' : humanDuration(now.getTime() - t);
}

/** `48.2 kB`, `4.9 MB`: a byte count for people (SI units, as the README's figures). */
export function humanBytes(bytes: number | undefined): string {
  if (bytes === undefined || !Number.isFinite(bytes)) return '-';
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** An ISO timestamp without milliseconds, `2026-12-03T09:12:44Z`, or '-'. */
export function timestamp(at: string | Date | undefined): string {
  if (at === undefined) return '-';
  const d = at instanceof Date ? at : new Date(at);
  return Number.isNaN(d.getTime()) ? '-' : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
