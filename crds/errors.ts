import type { z } from 'zod';

/**
 * zod issues worded like the API server's OpenAPI validation errors.
 *
 * The operator re-validates specs it reads (a CRD can be older than the operator, or be edited by
 * hand), and its users already know the API server's wording from kubectl. Using the same phrases
 * also lets one table of examples test both validators (see examples.table.ts and invalid-examples.table.ts).
 */

type RawIssue = z.core.$ZodRawIssue;

export type ParseResult<T> = { ok: true; value: T } | { ok: false; message: string };

/** Runs `schema` with the API-server wording and flattens the issues into one message. */
export function parseWith<S extends z.ZodType>(
  schema: S,
  input: unknown,
  root: string,
): ParseResult<z.output<S>> {
  const result = schema.safeParse(input, { error: apiServerErrorMap, reportInput: true });
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, message: formatIssues(result.error.issues, root) };
}

/** `spec.a.b: message; spec.c[0]: message` */
export function formatIssues(issues: readonly z.core.$ZodIssue[], root: string): string {
  const lines = issues.map((issue) => {
    // A bad map key is reported on the map itself, as the CEL rule checking the keys does.
    const path = issue.code === 'invalid_key' ? issue.path.slice(0, -1) : issue.path;
    return `${formatPath(root, path)}: ${issue.message}`;
  });
  // Two bad keys of one map give the same line, which the API server (one rule) reports once.
  return [...new Set(lines)].join('; ');
}

export function formatPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    // A map key from a CEL rule's fieldPath (cel.ts), already in brackets.
    else if (typeof segment === 'string' && /^\[.*\]$/.test(segment)) out += segment;
    else if (typeof segment === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(segment)) out += `.${segment}`;
    else out += `[${String(segment)}]`;
  }
  return out;
}

/**
 * The phrases kube-openapi and k8s.io/apimachinery's field errors use (Kubernetes 1.33). Issues
 * with a message set on the schema (the CEL mirrors) keep that message: zod prefers it.
 */
export const apiServerErrorMap = (issue: RawIssue): string | undefined => {
  // A missing field: zod reports it as a type or enum mismatch against `undefined`.
  if (issue.input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_value')) {
    return 'Required value';
  }
  switch (issue.code) {
    case 'invalid_type':
      return `must be of type ${openApiType(issue.expected)}: "${jsonType(issue.input)}"`;
    case 'invalid_value':
      return `Unsupported value: ${JSON.stringify(issue.input)}: supported values: ${issue.values
        .map((v) => JSON.stringify(v))
        .join(', ')}`;
    case 'too_big':
      if (issue.origin === 'string') return `Too long: may not be more than ${issue.maximum} bytes`;
      if (issue.origin === 'array') return `must have at most ${issue.maximum} items`;
      return issue.inclusive === false
        ? `should be less than ${issue.maximum}`
        : `should be less than or equal to ${issue.maximum}`;
    case 'too_small':
      if (issue.origin === 'string') return `should be at least ${issue.minimum} chars long`;
      if (issue.origin === 'array') return `should have at least ${issue.minimum} items`;
      return issue.inclusive === false
        ? `should be greater than ${issue.minimum}`
        : `should be greater than or equal to ${issue.minimum}`;
    case 'invalid_format':
      if (issue.format === 'datetime') return `must be of type date-time: ${JSON.stringify(issue.input)}`;
      if (issue.format === 'regex' && issue.pattern) return `should match '${regexSource(issue.pattern)}'`;
      return undefined;
    case 'invalid_key':
      return issue.issues.map((inner) => inner.message).join('; ');
    default:
      return undefined;
  }
};

/** zod reports a regex check's pattern as `/source/flags`; the CRD carries only the source. */
function regexSource(pattern: string): string {
  const match = /^\/(.*)\/[a-z]*$/s.exec(pattern);
  return match?.[1] ?? pattern;
}

function openApiType(expected: string): string {
  // The API has no floating-point fields: every zod number is an OpenAPI integer.
  if (expected === 'int' || expected === 'number') return 'integer';
  if (expected === 'record') return 'object';
  return expected;
}

/** The type name kube-openapi gives a decoded JSON value: whole numbers are `integer`. */
function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}
