import { celString, type CelRule } from './cel';
import type { Engine } from './engines';
import { ALLOWED_PARAMETERS, disallowedParameterNames, type SettingType } from './parameters';

/**
 * The checks of `spec.parameters`, from the allow-list in parameters.ts, twice: as CEL rules for
 * the CRD and as TypeScript for the zod mirror and the renderer. Both come from one grammar per
 * value type (`grammarOf`): the same regex source and the same arithmetic, so that they accept
 * the same values (the integration test applies values of every type to the API server).
 *
 * The rules sit on the spec, not on the map: which settings exist depends on `spec.engine`.
 */

const ENGINES_IN_ORDER: readonly Engine[] = ['postgres', 'mariadb', 'mysql'];
type Dialect = 'postgres' | 'mysql';
const dialectOf = (engine: Engine): Dialect => (engine === 'postgres' ? 'postgres' : 'mysql');

const KB = 1024;

/** A number's units: its suffix and what one of it counts in the type's unit. */
interface Unit {
  suffix: string;
  factor: number;
  /** Divides instead (microseconds to milliseconds). */
  divide?: boolean;
}

interface Grammar {
  /** Regex source; CEL matches it with `(?i)` when `ignoreCase`. RE2 and JavaScript alike. */
  pattern: string;
  ignoreCase: boolean;
  /** For numbers: units tried in order (longest suffix first), and the factor of a bare number. */
  units?: readonly Unit[];
  bare?: number;
  /** Bounds of the value in the grammar's unit (kB for postgres sizes, bytes for mysql sizes, ms). */
  min?: number;
  max?: number;
  real?: boolean;
  special?: readonly string[];
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The grammar of a setting's values, for one engine. Sizes and durations: see parameters.ts. */
export function grammarOf(engine: Engine, type: SettingType): Grammar {
  const dialect = dialectOf(engine);
  switch (type.kind) {
    case 'integer':
      return { pattern: '^-?[0-9]{1,10}$', ignoreCase: false, units: [], bare: 1, ...bounds(type, 1) };
    case 'real':
      return {
        pattern: '^[0-9]{1,10}([.][0-9]{1,10})?$',
        ignoreCase: false,
        real: true,
        min: type.min,
        max: type.max,
      };
    case 'boolean':
      return dialect === 'postgres'
        ? { pattern: '^(on|off|true|false|yes|no|1|0)$', ignoreCase: true }
        : // An empty value is a bare flag in my.cnf, which switches it on.
          { pattern: '^(on|off|true|false|1|0)?$', ignoreCase: true };
    case 'enum':
      return { pattern: `^(${type.values.map(escapeRegex).join('|')})$`, ignoreCase: true };
    case 'text':
      return { pattern: type.pattern.source, ignoreCase: type.pattern.ignoreCase };
    case 'size':
      if (dialect === 'postgres') {
        // Counted in kB. The number is compared with bounds per unit, never multiplied: no overflow.
        return {
          pattern: '^[0-9]{1,15}(kB|MB|GB|TB)?$',
          ignoreCase: false,
          units: [
            { suffix: 'TB', factor: KB ** 3 },
            { suffix: 'GB', factor: KB ** 2 },
            { suffix: 'MB', factor: KB },
            { suffix: 'kB', factor: 1 },
          ],
          bare: (type.base ?? KB) / KB,
          ...bounds(type, KB),
        };
      }
      // Counted in bytes; mysql reads the suffixes in either case.
      return {
        pattern: '^[0-9]{1,18}[KMGkmg]?$',
        ignoreCase: false,
        units: ['G', 'g', 'M', 'm', 'K', 'k'].map((suffix) => ({
          suffix,
          factor: KB ** ('kmg'.indexOf(suffix.toLowerCase()) + 1),
        })),
        bare: 1,
        ...bounds(type, 1),
      };
    case 'duration':
      return {
        pattern: '^[0-9]{1,15}(us|ms|s|min|h|d)?$',
        ignoreCase: false,
        units: [
          { suffix: 'us', factor: 1000, divide: true },
          { suffix: 'ms', factor: 1 },
          { suffix: 'min', factor: 60_000 },
          { suffix: 's', factor: 1000 },
          { suffix: 'h', factor: 3_600_000 },
          { suffix: 'd', factor: 86_400_000 },
        ],
        bare: type.base,
        ...bounds(type, 1),
      };
  }
}

function bounds(
  type: { min: number; max: number; special?: readonly string[] },
  unit: number,
): Pick<Grammar, 'min' | 'max' | 'special'> {
  return { min: type.min / unit, max: type.max / unit, ...(type.special && { special: type.special }) };
}

/**
 * For each unit (and the bare number, suffix ''), the numbers `n` it may be written with: the
 * bounds of the value divided by the unit, so that no check multiplies (and nothing can
 * overflow CEL's int64). In suffix order: the first suffix a value ends with is its unit.
 */
function numberRanges(g: Grammar): { suffix: string; lo: bigint; hi: bigint }[] {
  const min = BigInt(g.min!);
  const max = BigInt(g.max!);
  // Bounds are never negative; BigInt division truncates.
  const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;
  const range = (suffix: string, factor: number, divide = false) => {
    const f = BigInt(factor);
    // n * f in [min, max], or trunc(n / f) in [min, max], for n >= 0.
    return divide
      ? { suffix, lo: min * f, hi: max * f + f - 1n }
      : { suffix, lo: ceilDiv(min, f), hi: max / f };
  };
  return [...g.units!.map((u) => range(u.suffix, u.factor, u.divide)), range('', g.bare!)];
}

/** Whether `value` is one the setting takes. The TypeScript half of `celValueCheck`. */
export function valueAllowed(engine: Engine, type: SettingType, value: string): boolean {
  const g = grammarOf(engine, type);
  if (g.special?.includes(value)) return true;
  if (type.kind === 'text' && value.length > type.maxLength) return false;
  if (!new RegExp(g.pattern, g.ignoreCase ? 'i' : '').test(value)) return false;
  if (g.real) return Number(value) >= g.min! && Number(value) <= g.max!;
  if (!g.units) return true;
  // BigInt: exact, as CEL's int64 is.
  const n = BigInt(/^-?[0-9]+/.exec(value)![0]);
  const range = numberRanges(g).find((r) => value.endsWith(r.suffix))!;
  return n >= range.lo && n <= range.hi;
}

/** The CEL expression that is true when the string `v` is a value the setting takes. */
export function celValueCheck(engine: Engine, type: SettingType, v: string): string {
  const g = grammarOf(engine, type);
  const parts = [`${v}.matches(${celString((g.ignoreCase ? '(?i)' : '') + g.pattern)})`];
  if (type.kind === 'text') parts.unshift(`${v}.size() <= ${type.maxLength}`);
  if (g.real) parts.push(`double(${v}) >= ${celDouble(g.min!)}`, `double(${v}) <= ${celDouble(g.max!)}`);
  else if (g.units) {
    // `find`, not `int(v)`: a unit may follow. matches() runs first, so int() never fails.
    const n = `int(${v}.find('^-?[0-9]+'))`;
    const within = (r: { lo: bigint; hi: bigint }) =>
      r.lo > r.hi ? 'false' : `${n} >= ${r.lo} && ${n} <= ${r.hi}`;
    const ranges = numberRanges(g);
    const bare = ranges.pop()!;
    let expr = within(bare);
    for (const r of ranges.reverse())
      expr = `(${v}.endsWith(${celString(r.suffix)}) ? ${within(r)} : ${expr})`;
    parts.push(expr);
  }
  const check = parts.join(' && ');
  return g.special ? `${g.special.map((s) => `${v} == ${celString(s)}`).join(' || ')} || (${check})` : check;
}

const celDouble = (n: number) => (Number.isInteger(n) ? `${n}.0` : String(n));

/** `work_mem must be a size from 64kB to …`: the rule's message and the README's description. */
export function describeValue(engine: Engine, type: SettingType): string {
  const dialect = dialectOf(engine);
  const orDisabled = 'special' in type && type.special ? ` (or ${type.special.join(', ')})` : '';
  switch (type.kind) {
    case 'integer':
      return `an integer from ${type.min} to ${type.max}${orDisabled}`;
    case 'real':
      return `a number from ${type.min} to ${type.max}`;
    case 'boolean':
      return dialect === 'postgres' ? 'on or off' : 'ON or OFF';
    case 'enum':
      return `one of ${type.values.join(', ')}`;
    case 'text':
      return `${type.describe} (at most ${type.maxLength} characters)`;
    case 'size':
      return dialect === 'postgres'
        ? `a size from ${formatBytes(type.min, 'postgres')} to ${formatBytes(type.max, 'postgres')}${orDisabled}, a whole number with unit kB, MB, GB or TB (a bare number counts ${formatBytes(type.base ?? KB, 'postgres')})`
        : `a size from ${formatBytes(type.min, 'mysql')} to ${formatBytes(type.max, 'mysql')}, a whole number of bytes or with suffix K, M or G`;
    case 'duration':
      return `a duration from ${formatMs(type.min)} to ${formatMs(type.max)}${orDisabled}, a whole number with unit us, ms, s, min, h or d (a bare number counts ${formatMs(type.base)})`;
  }
}

function formatBytes(bytes: number, dialect: Dialect): string {
  const units: [string, number][] =
    dialect === 'postgres'
      ? [
          ['TB', KB ** 4],
          ['GB', KB ** 3],
          ['MB', KB ** 2],
          ['kB', KB],
        ]
      : [
          ['G', KB ** 3],
          ['M', KB ** 2],
          ['K', KB],
        ];
  if (bytes === 0) return '0';
  const unit = units.find(([, factor]) => bytes % factor === 0);
  return unit ? `${bytes / unit[1]}${unit[0]}` : `${bytes}${dialect === 'postgres' ? 'B' : ''}`;
}

function formatMs(value: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1000],
  ];
  if (value === 0) return '0';
  const unit = units.find(([, factor]) => value % factor === 0);
  return unit ? `${value / unit[1]}${unit[0]}` : `${value}ms`;
}

/** Why a parameter is not rendered, or undefined when it is a setting users may set, with a value it takes. */
export function parameterProblem(engine: Engine, name: string, value: string): string | undefined {
  const type = Object.hasOwn(ALLOWED_PARAMETERS[engine], name) ? ALLOWED_PARAMETERS[engine][name] : undefined;
  if (!type) return `not a setting users may set for ${engine}`;
  return valueAllowed(engine, type, value) ? undefined : `must be ${describeValue(engine, type)}`;
}

type ParametersSpec = { engine: Engine; parameters?: Record<string, string> | undefined };

const ALLOWED_HINT = 'allowed: kubectl explain databases.spec.parameters, or the README (Engine parameters)';

/**
 * The message of the name rule: the first name not allowed, and how many more there are. One name
 * only, because the API server's CEL cannot afford to join the keys of an unbounded map (their
 * length has no limit); it names whichever key its iteration meets first, this mirror the first in
 * sorted order.
 */
export function disallowedMessage(engine: Engine, names: readonly string[]): string {
  const others = names.length - 1;
  const subject =
    others === 0
      ? `${names[0]} is not a setting`
      : `${names[0]} and ${others} other ${others === 1 ? 'key' : 'keys'} are not settings`;
  return `${subject} users may set for ${engine}; ${ALLOWED_HINT}`;
}

/**
 * One rule per engine for the names (every key must be allowed; the message names the keys that
 * are not), then one rule per setting and value type, on `spec.parameters.<name>`. Settings that
 * mariadb and mysql share with the same type share one rule.
 */
export function parameterRules(): CelRule<ParametersSpec>[] {
  return [...ENGINES_IN_ORDER.map(nameRule), ...valueRules()];
}

function nameRule(engine: Engine): CelRule<ParametersSpec> {
  const names = `[${Object.keys(ALLOWED_PARAMETERS[engine]).sort().map(celString).join(', ')}]`;
  const offending = `self.parameters.filter(k, !(k in ${names}))`;
  const disallowed = (spec: ParametersSpec) => disallowedParameterNames(engine, spec.parameters ?? {});
  return {
    rule: `self.engine != '${engine}' || !has(self.parameters) || self.parameters.all(k, k in ${names})`,
    message: `spec.parameters has a setting users may not set for ${engine}; ${ALLOWED_HINT}`,
    // format(), not `+` and string(int): the cost estimate of those grows with the keys' unbounded length.
    messageExpression:
      `${offending}.size() == 1 ? '%s is not a setting users may set for ${engine}; ${ALLOWED_HINT}'.format([${offending}[0]]) : ` +
      `'%s and %d other %s are not settings users may set for ${engine}; ${ALLOWED_HINT}'.format([${offending}[0], ${offending}.size() - 1, ${offending}.size() == 2 ? 'key' : 'keys'])`,
    fieldPath: '.parameters',
    reason: 'FieldValueForbidden',
    check: (spec) => spec.engine !== engine || disallowed(spec).length === 0,
    explain: (spec) => disallowedMessage(engine, disallowed(spec)),
  };
}

function valueRules(): CelRule<ParametersSpec>[] {
  // (name, engines with the same type and grammar): one rule each.
  const groups = new Map<string, { name: string; type: SettingType; engines: Engine[] }>();
  for (const engine of ENGINES_IN_ORDER) {
    for (const [name, type] of Object.entries(ALLOWED_PARAMETERS[engine])) {
      const key = `${name} ${dialectOf(engine)} ${JSON.stringify(type, (_k, v: unknown) => (v instanceof RegExp ? v.source : v))}`;
      const group = groups.get(key);
      if (group) group.engines.push(engine);
      else groups.set(key, { name, type, engines: [engine] });
    }
  }
  return [...groups.values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map(({ name, type, engines }) => {
      // Indexed, not selected (`self.parameters.x`): only then does the API server's cost
      // estimate know the value's maxLength.
      const key = celString(name);
      const v = `self.parameters[${key}]`;
      const engineGuard =
        engines.length === 1
          ? `self.engine != ${celString(engines[0]!)}`
          : `!(self.engine in [${engines.map(celString).join(', ')}])`;
      return {
        rule: `!has(self.parameters) || !(${key} in self.parameters) || ${engineGuard} || ${celValueCheck(engines[0]!, type, v)}`,
        message: `${name} must be ${describeValue(engines[0]!, type)}`,
        fieldPath: `.parameters[${key}]`,
        check: (spec) => {
          const value = spec.parameters?.[name];
          return (
            value === undefined || !engines.includes(spec.engine) || valueAllowed(spec.engine, type, value)
          );
        },
      };
    });
}
