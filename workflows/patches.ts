/**
 * The register of `patched()` ids (DESIGN.md rule 7): every id the workflows use, with what it
 * guards. A shipped workflow changes only behind a new id; an id is never reused or renamed, and
 * is removed only once no open workflow can have history from before it
 * (test/static/patches.test.ts keeps this list and the code in step).
 */
export const PATCHES = {
  'replication-v1': 'databaseWorkflow: replication configured and awaited on the engines',
  'upgrade-v1': 'databaseWorkflow: a version or image change runs the upgrade child workflow',
  'restore-v1': 'databaseWorkflow: spec.bootstrap.fromBackup restored before the first Ready',
  'backup-schedule-v1':
    'databaseWorkflow: backup Schedule kept in line; last backup reported; Schedule deleted with the Database',
  'status-why-v1':
    "databaseWorkflow: while a generation is not Ready, the Ready condition's message carries the newest failure or wait reason",
  'restore-mark-v1':
    'databaseWorkflow: a succeeded restore is recorded on the Database (annotation durable.dev/restore), so a later run never restores again',
  'assess-spec-v1':
    "databaseWorkflow: a generation's spec is checked in an activity (recorded verdict), which first reads what the StatefulSet runs when the run does not know",
  'fresh-incarnation-v1':
    'databaseWorkflow: a new incarnation (first spec, or re-created under the same name) starts from a fresh state',
  'bounded-generation-v1':
    'databaseWorkflow: a generation that stays unready continues as new between its waits when the history is full',
  'await-cancelled-activities-v1':
    'all workflows: a cancelled activity is awaited until it stopped (WAIT_CANCELLATION_COMPLETED); a superseded Database step is awaited before the next one',
  'retry-after-v1':
    'databaseWorkflow: a generation that failed transiently is retried after RETRY_AFTER (only a newer spec or a deletion wakes it earlier)',
  'quiet-resync-v1':
    'databaseWorkflow: the periodic resync is hours apart (jittered) and first looks the Database over in one activity (inspectAtRest); only what it finds is reconciled',
  'one-pass-provision-v1':
    'databaseWorkflow: finalizer, prerequisites, ConfigMap, Secret, StatefulSet and Services in one activity (ensureObjects), then one status write that announces the generation with their Events',
  'upgrade-from-record-v1':
    'upgradeWorkflow: its applies record on the StatefulSet the build the members move from (durable.dev/upgrading-from), dropped by a last apply once every member passed its gate',
  'backup-resume-v1':
    'backupWorkflow: a run that finds its DatabaseBackup Running with an attempt recorded takes that attempt (its Job) up instead of starting the next; the final phase is written after the Database is told and the Events recorded',
  'upgrade-backup-join-v1':
    'upgradeWorkflow: a pre-upgrade backup still run by an earlier run of the upgrade is waited for (its DatabaseBackup) instead of failing the upgrade',
  'failover-v1':
    "databaseWorkflow: when a pod's readiness changes or the Database is Degraded, the primary is assessed (assessPrimary), a failure confirmed over spec.failover.delaySeconds, and the failover child workflow run",
  'failover-mariadb-v1':
    'databaseWorkflow: a MariaDB primary is guarded as a PostgreSQL one is (failover-v1): assessed, its failure confirmed, the failover child workflow run',
  'reserve-slots-v1':
    "failoverWorkflow: before the target is promoted, the other members' slots are made on it (reserveSlots), so the WAL of the timeline switch is kept for them",
  'repoint-replicas-v1':
    "failoverWorkflow: before the target is promoted, the other replicas' WAL receivers are pointed at it (pointReplicasAt), cutting their connections to the fenced primary; after the failover, back at the primary Service",
  'reclone-mariadb-v1':
    'databaseWorkflow: a MariaDB replica whose source refuses its position (error 1236) is looked at by recloneDivergedStandbys, and given an empty volume when it diverged',
  'reclone-diverged-v1':
    "databaseWorkflow: a PostgreSQL replica a replication pass finds not connected is checked for a divergence from the primary's timeline (recloneDivergedStandbys) and, when it diverged, cloned afresh",
  'upgrade-switchover-v1':
    'upgradeWorkflow: with spec.upgrade.primaryUpdateMethod switchover, the primary hands its role to an updated member (a switchover child) before it is updated',
} as const;

export type PatchId = keyof typeof PATCHES;
