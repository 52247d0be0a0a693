/**
 * Turns the JSON Schema that `z.toJSONSchema` emits into a Kubernetes *structural* schema, and
 * checks that the result is one.
 *
 * A structural schema (apiextensions.k8s.io/v1) gives every node a `type`, describes maps only
 * with `additionalProperties: <schema>`, and has no `$ref`, `propertyNames`, or `type` inside
 * `allOf`/`anyOf`/`oneOf`/`not`. This API needs none of the logical combinators, so they are
 * rejected outright: a zod construct that produces one (a union, two `.regex()` on one string)
 * must be rewritten rather than silently mistranslated.
 */

export type JsonSchema = { [key: string]: unknown };

/** Keywords the generated schemas may use, in the order they are written. Anything else fails generation. */
const KEYWORDS = [
  'description',
  'type',
  'format',
  'default',
  'enum',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'minProperties',
  'maxProperties',
  'properties',
  'additionalProperties',
  'items',
  'required',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
];
const ALLOWED_KEYWORDS = new Set(KEYWORDS);
const keywordRank = (key: string) => (ALLOWED_KEYWORDS.has(key) ? KEYWORDS.indexOf(key) : KEYWORDS.length);

const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);

/** The bounds zod puts on every `z.int()`; the API server's integers are int64 anyway. */
const SAFE_INTEGER_BOUNDS: ReadonlyArray<[string, number]> = [
  ['minimum', Number.MIN_SAFE_INTEGER],
  ['maximum', Number.MAX_SAFE_INTEGER],
];

/** Returns a structural copy of `schema`; throws if it cannot be made structural. */
export function toStructural(schema: JsonSchema): JsonSchema {
  const out = convert(schema);
  const problems = structuralProblems(out);
  if (problems.length > 0) throw new Error(`schema is not structural:\n  ${problems.join('\n  ')}`);
  return out;
}

function convert(node: JsonSchema): JsonSchema {
  const out: JsonSchema = {};
  // A fixed keyword order, whatever order zod's metadata merging produced: stable, readable YAML.
  const entries = Object.entries(node).sort(([a], [b]) => keywordRank(a) - keywordRank(b));
  for (const [key, value] of entries) {
    if (key === '$schema' || key === 'propertyNames') continue; // see the module comment
    // An open object is what the API server does anyway: it prunes unknown fields.
    if (key === 'additionalProperties' && value === false) continue;
    // zod adds its own date-time regex; `format: date-time` is what the API server checks.
    if (key === 'pattern' && node.format === 'date-time') continue;
    if (SAFE_INTEGER_BOUNDS.some(([k, bound]) => k === key && value === bound)) continue;
    out[key] = convertChild(key, value);
  }
  return out;
}

function convertChild(key: string, value: unknown): unknown {
  if (key === 'properties' && isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([name, child]) => [name, convert(asSchema(child))]));
  }
  if ((key === 'items' || key === 'additionalProperties') && isObject(value)) return convert(value);
  return value;
}

/** Every way `schema` falls short of a structural schema this API allows, with JSON paths. */
export function structuralProblems(schema: JsonSchema, path = '$'): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(schema)) {
    if (!ALLOWED_KEYWORDS.has(key)) problems.push(`${path}: keyword ${key} is not allowed`);
  }
  const type = schema.type;
  if (typeof type !== 'string' || !TYPES.has(type)) {
    problems.push(`${path}: every node needs a type, got ${JSON.stringify(type)}`);
  }
  const { properties, additionalProperties, items } = schema;
  if (properties !== undefined && additionalProperties !== undefined) {
    problems.push(`${path}: properties and additionalProperties are mutually exclusive`);
  }
  if (additionalProperties !== undefined && !isObject(additionalProperties)) {
    problems.push(
      `${path}: additionalProperties must be a schema, got ${JSON.stringify(additionalProperties)}`,
    );
  }
  if (isObject(properties)) {
    for (const [name, child] of Object.entries(properties)) {
      problems.push(...structuralProblems(asSchema(child), `${path}.properties.${name}`));
    }
  }
  if (isObject(additionalProperties)) {
    problems.push(...structuralProblems(additionalProperties, `${path}.additionalProperties`));
  }
  if (type === 'array') {
    if (!isObject(items)) problems.push(`${path}: an array needs a single items schema`);
    else problems.push(...structuralProblems(items, `${path}.items`));
  }
  problems.push(...listMapProblems(schema, path));
  return problems;
}

/** A list-map's keys must be required (or defaulted) scalar fields of its items. */
function listMapProblems(schema: JsonSchema, path: string): string[] {
  if (schema['x-kubernetes-list-type'] !== 'map') return [];
  const keys = schema['x-kubernetes-list-map-keys'];
  const items = isObject(schema.items) ? schema.items : {};
  const required = Array.isArray(items.required) ? items.required : [];
  const properties = isObject(items.properties) ? items.properties : {};
  if (!Array.isArray(keys) || keys.length === 0)
    return [`${path}: a list-map needs x-kubernetes-list-map-keys`];
  return keys.flatMap((key: unknown) => {
    const property = typeof key === 'string' ? properties[key] : undefined;
    if (!isObject(property)) return [`${path}: list-map key ${String(key)} is not a property of the items`];
    if (!required.includes(key) && property.default === undefined) {
      return [`${path}: list-map key ${String(key)} must be required or have a default`];
    }
    return [];
  });
}

function isObject(value: unknown): value is JsonSchema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asSchema(value: unknown): JsonSchema {
  if (!isObject(value)) throw new Error(`expected a schema object, got ${JSON.stringify(value)}`);
  return value;
}
