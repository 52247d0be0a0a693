import { z } from 'zod';

/**
 * Field schemas shared by Database and DatabaseBackup.
 *
 * Every regex here ends up as an OpenAPI `pattern` or inside a CEL rule, both evaluated by Go's
 * RE2 engine: no lookarounds or backreferences. (A RegExp's `source` writes `/` as `\/`, which
 * RE2 also reads as a literal slash.)
 */

/**
 * A non-negative Kubernetes quantity (`10Gi`, `500m`, `1.5`, `1e3`): the API server's quantity
 * grammar without the sign, since negative sizes, CPUs and memory make no sense here.
 */
export const QUANTITY_PATTERN =
  /^(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$/;

/**
 * Quantities are plain strings in this API (`cpu: "1"`, not `cpu: 1`): one type for consumers,
 * and the API server tells the user `must be of type string` if they forget the quotes.
 */
export const quantity = () => z.string().max(64).regex(QUANTITY_PATTERN);

/** RFC 1123 subdomain: the names of most Kubernetes objects (Secrets, PVCs, custom resources). */
export const DNS_SUBDOMAIN_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const objectName = () => z.string().min(1).max(253).regex(DNS_SUBDOMAIN_PATTERN);

/**
 * RFC 3339 timestamp, as metav1.Time serializes it. The CRD checks it with `format: date-time`
 * (zod's long regex is dropped from the CRD, see structural.ts).
 */
export const dateTime = () => z.iso.datetime({ offset: true });

/** Integer fields of status: counts, generations and sizes are never negative. */
export const count = () => z.int().min(0);

// metav1.Condition's own patterns.
const CONDITION_TYPE_PATTERN =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/;
const CONDITION_REASON_PATTERN = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

export const CONDITION_STATUSES = ['True', 'False', 'Unknown'] as const;
export type ConditionStatus = (typeof CONDITION_STATUSES)[number];

/** metav1.Condition, with the limits upstream declares for it. */
export const conditionSchema = z.object({
  type: z.string().max(316).regex(CONDITION_TYPE_PATTERN),
  status: z.enum(CONDITION_STATUSES),
  observedGeneration: count().optional(),
  lastTransitionTime: dateTime(),
  reason: z.string().min(1).max(1024).regex(CONDITION_REASON_PATTERN),
  message: z.string().max(32768),
});
export type Condition = z.output<typeof conditionSchema>;

/** `status.conditions`: at most one entry per type, which server-side apply merges by `type`. */
export const conditions = () =>
  z
    .array(conditionSchema)
    .max(32)
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] });

/**
 * An optional object that defaults to itself with all its own defaults applied, e.g.
 * `storage: {size: 10Gi}`. The CRD carries that whole value rather than `default: {}`: the API
 * server validates a default as written, without applying nested defaults first, so a CEL rule
 * reading a defaulted field (`self.enabled`) would reject `{}`.
 */
export function defaultedObject<S extends z.ZodType<object>>(schema: S) {
  return schema.default(() => schema.parse({}) as z.core.util.NoUndefined<z.output<S>>);
}
