import type { z } from 'zod';

/**
 * CEL validation rules (`x-kubernetes-validations`) declared next to the zod schema they guard.
 *
 * A rule that only looks at the new object also carries `check`, the same rule in TypeScript, so
 * `parseDatabaseSpec` rejects exactly what the API server rejects and reports the same message.
 * Transition rules (`oldSelf`) have no `check`: only the API server sees the old object.
 */

/** The `reason` values the API server accepts; each maps to a field error type. */
export type CelReason =
  'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';

export interface CelRule<T> {
  /** CEL expression over `self` (and `oldSelf` for transition rules). */
  readonly rule: string;
  /** Shown verbatim by the API server, e.g. `spec: Invalid value: "object": <message>`. */
  readonly message: string;
  /**
   * CEL expression for a message that depends on the value (the API server falls back to
   * `message` if it fails or gives an empty string or line breaks); `explain` is its TypeScript.
   */
  readonly messageExpression?: string;
  /** Child the error is reported on, relative to `self`, e.g. `.schedule`. Simple field names only. */
  readonly fieldPath?: string;
  readonly reason?: CelReason;
  /** The rule in TypeScript; true when the value is valid. Omit for transition rules. */
  readonly check?: (value: T) => boolean;
  /** The message of `messageExpression`, in TypeScript. */
  readonly explain?: (value: T) => string;
}

/** The vendor extension the API server reads the rules from. */
export const CEL_META_KEY = 'x-kubernetes-validations';

/**
 * Attaches CEL rules to a schema: the CEL text as metadata (picked up by `z.toJSONSchema`), the
 * TypeScript mirror as a zod refinement reported at the same path.
 *
 * Wrap the result with `.optional()`/`.default()`, not the other way round: the rules belong to
 * the value node, not to the wrapper.
 */
export function withCel<S extends z.ZodType>(schema: S, rules: readonly CelRule<z.output<S>>[]): S {
  let out = schema;
  for (const { check, message, fieldPath, explain } of rules) {
    if (!check) continue;
    const path = fieldPathSegments(fieldPath);
    out = explain
      ? out.superRefine((value, ctx) => {
          if (!check(value)) ctx.addIssue({ code: 'custom', message: explain(value), path, input: value });
        })
      : out.refine(check, { message, path });
  }
  // zod merges this with metadata set earlier (e.g. a description).
  return out.meta({ [CEL_META_KEY]: rules.map(({ check: _check, explain: _explain, ...rest }) => rest) });
}

/**
 * `.a.b` → ['a', 'b']; a map key, `.a['k']`, becomes the segment `[k]`, which formatPath prints
 * as it is: the API server reports a rule's map-key fieldPath as `a[k]`.
 */
function fieldPathSegments(fieldPath: string | undefined): string[] {
  if (!fieldPath) return [];
  const segment = /\.([A-Za-z_][A-Za-z0-9_]*)|\['([A-Za-z0-9_.-]+)'\]/y;
  const out: string[] = [];
  for (let m; segment.lastIndex < fieldPath.length && (m = segment.exec(fieldPath));) {
    out.push(m[1] ?? `[${m[2]}]`);
  }
  if (segment.lastIndex !== fieldPath.length || out.length === 0) {
    throw new Error(`unsupported CEL fieldPath ${JSON.stringify(fieldPath)}: use .a.b or .a['key']`);
  }
  return out;
}

/**
 * A CEL single-quoted string literal. Regex patterns are embedded in rules through this, so the
 * CEL rule and the zod regex come from the same `RegExp` and cannot drift apart.
 */
export function celString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
