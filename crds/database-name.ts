import type { CelRule } from './cel';

/**
 * How long a Database's name may be, and what it may look like, so that every name the operator
 * derives from it fits Kubernetes' limits. The derivations (activities/manifests/names.ts,
 * workflows/backup-names.ts) and what bounds them:
 *
 * | derived from `<name>`                          | limit                         | longest part added |
 * | ---------------------------------------------- | ----------------------------- | ------------------ |
 * | StatefulSet revision label `<name>-<hash>`     | label value, 63               | `-` + 10 (hash)    |
 * | Services `<name>-primary`, `-ro`, `-headless`  | DNS-1035 label, 63            | `-headless`, 9     |
 * | pods `<name>-<ordinal>` (their hostnames, the `statefulset.kubernetes.io/pod-name` label) | DNS label, 63 | `-4`, 2 |
 * | `app.kubernetes.io/instance`, `durable.dev/database` labels | label value, 63   | 0                  |
 * | `<name>-config`, `-credentials`, PVCs `data-<name>-<ordinal>`, Events `<name>.<16 hex>` | DNS subdomain, 253 | 17 |
 * | backup, restore and delete Jobs, scheduled backups, the backup PVC | `fitName`: hashed down to 63 | — |
 * | Temporal IDs `database/<ns>/<name>`, `backup-schedule/<ns>/<name>` | 1000 | —             |
 *
 * The revision label is the tightest: the StatefulSet controller names each ControllerRevision
 * `<statefulset>-<hash>` (the hash is a 32-bit FNV sum written in up to 10 characters) and puts
 * that whole name in the pods' `controller-revision-hash` label; with a longer name the
 * StatefulSet exists but can create no pod. The Services make the name a DNS-1035 label: it must
 * start with a letter and contain no dots.
 */
export const MAX_DATABASE_NAME_LENGTH = 52;
/** The StatefulSet controller's revision hash: `rand.SafeEncodeString` of a uint32, at most 10 characters. */
export const REVISION_HASH_MAX_LENGTH = 10;
/** DNS-1035 label (Service names), in the length checked separately. */
export const DATABASE_NAME_PATTERN = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

export const DATABASE_NAME_MESSAGES = {
  tooLong: `a Database name may be at most ${MAX_DATABASE_NAME_LENGTH} characters long: the operator derives longer names from it (the StatefulSet's controller-revision-hash label <name>-<hash> must fit in 63)`,
  pattern:
    'a Database name must start with a lowercase letter and contain only lowercase letters, digits and "-" (no dots): it names Services, which are DNS-1035 labels',
} as const;

type Named = { metadata?: { name?: string } };

/**
 * Rules at the root of the Database CRD, where CEL may read `metadata.name`. The API server has
 * generated a name from `generateName` before it validates, so `has(...)` is always true there.
 */
export const databaseNameRules: readonly CelRule<Named>[] = [
  {
    rule: `!has(self.metadata.name) || self.metadata.name.size() <= ${MAX_DATABASE_NAME_LENGTH}`,
    message: DATABASE_NAME_MESSAGES.tooLong,
    fieldPath: '.metadata.name',
    reason: 'FieldValueInvalid',
    check: (o) => (o.metadata?.name ?? '').length <= MAX_DATABASE_NAME_LENGTH,
  },
  {
    rule: `!has(self.metadata.name) || self.metadata.name.matches('${DATABASE_NAME_PATTERN.source}')`,
    message: DATABASE_NAME_MESSAGES.pattern,
    fieldPath: '.metadata.name',
    reason: 'FieldValueInvalid',
    check: (o) => o.metadata?.name === undefined || DATABASE_NAME_PATTERN.test(o.metadata.name),
  },
];

/** Why `name` cannot name a Database, or undefined: the TypeScript of `databaseNameRules`. */
export function databaseNameProblem(name: string): string | undefined {
  const failed = databaseNameRules.find((r) => !r.check!({ metadata: { name } }));
  return failed?.message;
}
