/**
 * Group, version, kinds and resource names of the durable.dev API.
 *
 * This is the only place these strings are written down: the CRD generator, the watcher, the
 * activities and the tests all import them from here.
 */

export const GROUP = 'durable.dev';
export const VERSION = 'v1alpha1';
/** The `apiVersion` field of every object of this API. */
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface ResourceNames {
  readonly kind: string;
  readonly listKind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
}

export const DATABASE = {
  kind: 'Database',
  listKind: 'DatabaseList',
  plural: 'databases',
  singular: 'database',
  shortNames: ['db'],
} as const satisfies ResourceNames;

export const DATABASE_BACKUP = {
  kind: 'DatabaseBackup',
  listKind: 'DatabaseBackupList',
  plural: 'databasebackups',
  singular: 'databasebackup',
  shortNames: ['dbb'],
} as const satisfies ResourceNames;

/** `metadata.name` of the CustomResourceDefinition for a resource: `<plural>.<group>`. */
export function crdName(names: ResourceNames): string {
  return `${names.plural}.${GROUP}`;
}

/**
 * Names the operator stamps on what it touches (DESIGN.md, fixed names). Written down here once:
 * the activities apply them, the watcher selects and filters by them.
 */
export const OPERATOR_NAME = 'durable-db-operator';
/** Server-side-apply field manager of every write the operator makes. */
export const FIELD_MANAGER = OPERATOR_NAME;
/** Finalizer on every Database: deletion waits until the workflow has released it. */
export const FINALIZER = `${GROUP}/finalizer`;
/** Recommended labels on owned objects. */
export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
/**
 * Annotation on a Database that asks its workflow to cancel the running upgrade (which then rolls
 * back): `kubectl annotate database <name> durable.dev/cancel-upgrade=true`. The workflow removes
 * it once handled.
 */
export const CANCEL_UPGRADE_ANNOTATION = `${GROUP}/cancel-upgrade`;

/**
 * Annotation on a Database that asks its workflow for a planned switchover: the primary role moves
 * to the member named (`kubectl annotate database <name> durable.dev/switchover-to=<name>-<n>`)
 * once that member has every write of the primary. The workflow removes it once handled (a value
 * changed meanwhile stays, as the next request).
 */
export const SWITCHOVER_ANNOTATION = `${GROUP}/switchover-to`;

/**
 * The durable record, on the Database itself, that its bootstrap restore was started or done:
 * JSON `{"backup":"<DatabaseBackup>","state":"started"|"done","run":"<workflow run>"}`, written by
 * the operator before the restore Job is created and when it succeeded. A fresh workflow run (a
 * terminated run, a reset, a lost Temporal database) reads it instead of restoring again.
 */
export const RESTORE_ANNOTATION = `${GROUP}/restore`;

/**
 * On the StatefulSet: the engine build (`{"version":"15","image":"…"}`, image only when spec.image
 * is set) its pod template runs. What a fresh workflow run reads to know what runs before it
 * decides on an upgrade, a downgrade refusal or a major version check.
 */
export const ENGINE_BUILD_ANNOTATION = `${GROUP}/engine-build`;

/**
 * On the StatefulSet, while an upgrade moves its members: the build (same form as
 * ENGINE_BUILD_ANNOTATION) the members not yet moved run, and a rollback returns to. The upgrade
 * writes it with its first apply and drops it once every member passed its gate, so a fresh
 * workflow run that finds it knows the upgrade is not done: what runs is this build, and the
 * upgrade (with its gates) runs again, rather than the template's build being taken as running.
 */
export const UPGRADING_FROM_ANNOTATION = `${GROUP}/upgrading-from`;

/**
 * On each member pod: `primary` or `replica`, the role the operator gave it (the role record,
 * activities/roles.ts). The read-only Service selects replicas by it; users can too:
 * `kubectl get pods -l durable.dev/role=primary`.
 */
export const ROLE_LABEL = `${GROUP}/role`;

/**
 * Backups (DatabaseBackup objects, their Jobs and data) carry this label naming their Database:
 * retention and `kubectl get databasebackups -l durable.dev/database=<db>` select by it. They
 * carry no owner reference: a backup outlives its Database, so that it can be restored from.
 */
export const LABEL_BACKUP_DATABASE = `${GROUP}/database`;
/**
 * Retry of a failed DatabaseBackup: a new value (any string) starts a new run of the same backup,
 * its attempts numbered on from the last one:
 * `kubectl annotate databasebackup <name> durable.dev/retry=$(date +%s) --overwrite`.
 */
export const RETRY_ANNOTATION = `${GROUP}/retry`;
