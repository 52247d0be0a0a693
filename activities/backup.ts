import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  API_VERSION,
  DATABASE_BACKUP,
  GROUP,
  LABEL_BACKUP_DATABASE,
  VERSION,
  type Database,
  type DatabaseBackup,
  type DatabaseBackupStatus,
  type DatabaseSpec,
} from '../crds';
import { backupJobName, deleteDataJobName } from '../contracts/backup-names';
import type { WorkerMetrics } from '../common/metrics';
import { databaseResource } from './database-ref';
import { createJobIfAbsent } from './jobs';
import { isConflict, isNotFound, kubeCall, kubeRead } from './errors';
import type { KubeClients } from './kube-clients';
import { primaryOrdinal } from './roles';
import {
  backupLabels,
  backupLocation,
  backupOwner,
  backupStorage,
  renderBackupClaim,
  renderBackupJob,
  renderDeleteDataJob,
} from './manifests';
import { recordEvent, type EventRecord, type ReportOptions } from './status';
import type { DatabaseTarget } from './types';

/**
 * The activities of a backup run (workflows/backup.ts) and of a restore. Each is one idempotent
 * step: the DatabaseBackup is created if absent; a Job has a deterministic name and is created if
 * absent, so a retried activity or a restarted worker never starts a second Job for the same
 * attempt; waits are bounded and heartbeat.
 */

/** One DatabaseBackup object (this incarnation: the uid guards status writes). */
export interface BackupRef {
  namespace: string;
  name: string;
  uid: string;
}

/** The Database as the backup run needs it; no secret in it (the Jobs read the Secret). */
export interface BackupPlan {
  target: DatabaseTarget;
  phase?: string;
}

export interface BackupRecordInput {
  namespace: string;
  databaseName: string;
  backupName: string;
  reason: 'scheduled' | 'manual' | 'pre-upgrade';
  scheduledTime?: string;
  /** For the engine label; unknown when the Database is gone. */
  engine?: string;
}

export interface BackupRecord extends BackupRef {
  phase?: DatabaseBackupStatus['phase'];
  attempts: number;
  startedAt?: string;
  databaseName: string;
}

const backupsResource = (namespace: string) => ({
  group: GROUP,
  version: VERSION,
  plural: DATABASE_BACKUP.plural,
  namespace,
});
const backupResource = (namespace: string, name: string) => ({ ...backupsResource(namespace), name });

/** Reads the Database a backup is of; undefined when it does not exist. */
export async function loadBackupPlan(
  clients: KubeClients,
  namespace: string,
  databaseName: string,
): Promise<BackupPlan | undefined> {
  const db = await kubeRead(
    `Database ${namespace}/${databaseName}`,
    () =>
      clients.custom.getNamespacedCustomObject(
        databaseResource({ namespace, name: databaseName }),
      ) as Promise<Database>,
  );
  if (!db) return undefined;
  return {
    target: {
      namespace,
      name: databaseName,
      uid: db.metadata.uid!,
      generation: db.metadata.generation ?? 0,
      spec: db.spec as DatabaseSpec,
    },
    phase: db.status?.phase,
  };
}

export async function readBackup(clients: KubeClients, namespace: string, name: string) {
  return kubeRead(
    `DatabaseBackup ${namespace}/${name}`,
    () =>
      clients.custom.getNamespacedCustomObject(backupResource(namespace, name)) as Promise<DatabaseBackup>,
  );
}

/**
 * The DatabaseBackup of this run: created when absent (a scheduled or pre-upgrade run), read when
 * present (`kubectl create`, or an earlier attempt of this activity created it).
 */
export async function ensureBackupRecord(
  clients: KubeClients,
  input: BackupRecordInput,
): Promise<BackupRecord> {
  const { namespace, backupName } = input;
  let existing = await readBackup(clients, namespace, backupName);
  if (!existing) {
    const body: DatabaseBackup = {
      apiVersion: API_VERSION,
      kind: DATABASE_BACKUP.kind,
      metadata: {
        name: backupName,
        namespace,
        labels: backupLabels(input.databaseName, input.engine ?? 'unknown', 'backup'),
      },
      spec: {
        databaseName: input.databaseName,
        reason: input.reason,
        ...(input.scheduledTime ? { scheduledTime: input.scheduledTime } : {}),
      },
    };
    existing = await kubeCall(`create DatabaseBackup ${namespace}/${backupName}`, async () => {
      try {
        return (await clients.custom.createNamespacedCustomObject({
          ...backupsResource(namespace),
          body,
        })) as DatabaseBackup;
      } catch (err) {
        if (isConflict(err)) return undefined; // an earlier attempt created it
        throw err;
      }
    });
    existing ??= await readBackup(clients, namespace, backupName);
    if (!existing) throw ApplicationFailure.retryable(`DatabaseBackup ${namespace}/${backupName} vanished`);
  }
  const labels = backupLabels(existing.spec.databaseName, input.engine ?? 'unknown', 'backup');
  const current = existing.metadata.labels ?? {};
  if (input.engine && Object.entries(labels).some(([k, v]) => current[k] !== v)) {
    // One made by `kubectl create` has none: retention selects a Database's backups by them, and a
    // restore reads the engine from them.
    await kubeCall(`label DatabaseBackup ${namespace}/${backupName}`, () =>
      clients.custom.patchNamespacedCustomObject(
        {
          ...backupResource(namespace, backupName),
          body: { metadata: { uid: existing.metadata.uid, labels } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
  }
  return {
    namespace,
    name: backupName,
    uid: existing.metadata.uid!,
    databaseName: existing.spec.databaseName,
    phase: existing.status?.phase,
    attempts: existing.status?.attempts ?? 0,
    startedAt: existing.status?.startedAt,
  };
}

/**
 * Merge-patches the backup's status; `null` removes a field (e.g. the error once a retry
 * succeeded). The uid in the patch is a precondition: a re-created backup of the same name is
 * never touched. Returns false when this backup is gone.
 */
export async function updateBackupStatus(
  clients: KubeClients,
  ref: BackupRef,
  status: { [K in keyof DatabaseBackupStatus]?: DatabaseBackupStatus[K] | null },
): Promise<boolean> {
  return kubeCall(`update status of DatabaseBackup ${ref.namespace}/${ref.name}`, async () => {
    try {
      await clients.custom.patchNamespacedCustomObjectStatus(
        { ...backupResource(ref.namespace, ref.name), body: { metadata: { uid: ref.uid }, status } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  });
}

/**
 * Waits up to `budgetSeconds` for a DatabaseBackup to reach a final phase, heartbeating: for a run
 * that finds another run of that backup at work (a pre-upgrade backup an earlier upgrade run
 * started). Returns what its status says then (no phase when it does not exist).
 */
export async function waitForBackupFinished(
  clients: KubeClients,
  namespace: string,
  name: string,
  budgetSeconds: number,
): Promise<{ phase?: string; attempts: number; error?: string }> {
  const ctx = Context.current();
  const deadline = Date.now() + budgetSeconds * 1000;
  for (;;) {
    const status = (await readBackup(clients, namespace, name))?.status;
    const seen = { phase: status?.phase, attempts: status?.attempts ?? 0, error: status?.error };
    if (seen.phase === 'Succeeded' || seen.phase === 'Failed' || Date.now() >= deadline) return seen;
    ctx.heartbeat(seen);
    await ctx.sleep(1_000);
  }
}

/** Creates the Database's backup PVC when the target is the default one and it is absent. */
export async function ensureBackupStorage(clients: KubeClients, target: DatabaseTarget): Promise<string> {
  const storage = backupStorage(target.name, target.spec.backup);
  if (storage.kind !== 'pvc') return `s3://${storage.bucket}`;
  if (!storage.managed) return `pvc://${storage.claimName}`;
  const claim = renderBackupClaim(target);
  await kubeCall(`create PersistentVolumeClaim ${target.namespace}/${storage.claimName}`, async () => {
    try {
      await clients.core.createNamespacedPersistentVolumeClaim({ namespace: target.namespace, body: claim });
    } catch (err) {
      if (!isConflict(err)) throw err; // 409: it exists (created earlier), which is all we want
    }
  });
  return `pvc://${storage.claimName}`;
}

/** Starts attempt `attempt` of a backup: Job `<backupName>-<attempt>`, once. */
export async function startBackupJob(
  clients: KubeClients,
  target: DatabaseTarget,
  backup: BackupRef,
  attempt: number,
): Promise<{ jobName: string; outcome: 'created' | 'exists'; location: string }> {
  const jobName = backupJobName(backup.name, attempt);
  const job = renderBackupJob(
    {
      db: target,
      primary: await primaryOrdinal(clients, target),
      jobName,
      owner: backupOwner(backup.name, backup.uid),
    },
    backup.name,
  );
  const outcome = await createJobIfAbsent(clients, job);
  return {
    jobName,
    outcome,
    location: backupLocation(backupStorage(target.name, target.spec.backup), target.name, backup.name),
  };
}

/** S3 access for restore/delete Jobs: from the Database's own S3 target. */
export function s3Access(target: DatabaseTarget) {
  const s3 = target.spec.backup.target?.s3;
  return s3 && { credentialsSecret: s3.credentialsSecret, endpoint: s3.endpoint };
}

/** Starts the Job that deletes a backup's data (retention), once. */
export async function startDeleteDataJob(
  clients: KubeClients,
  target: DatabaseTarget,
  backup: BackupRef,
  location: string,
): Promise<{ jobName: string; outcome: 'created' | 'exists' }> {
  const jobName = deleteDataJobName(backup.name);
  const job = renderDeleteDataJob(
    { db: target, jobName, owner: backupOwner(backup.name, backup.uid) },
    location,
    s3Access(target),
  );
  return { jobName, outcome: await createJobIfAbsent(clients, job) };
}

/** Events on the Database and on the DatabaseBackup, and the backup-runs metric. */
export async function recordBackupOutcome(
  clients: KubeClients,
  opts: ReportOptions,
  metrics: WorkerMetrics | undefined,
  database: { namespace: string; name: string; uid?: string },
  backup: BackupRef,
  event: EventRecord,
): Promise<void> {
  if (database.uid) await recordEvent(clients, opts, { ...database, uid: database.uid }, event);
  await recordEvent(clients, opts, backup, event, DATABASE_BACKUP.kind);
  // Counted when the run is final; a retried activity may count twice, which a rate shrugs off.
  metrics?.backupRuns.inc({ result: event.type === 'Normal' ? 'succeeded' : 'failed' });
}

export interface ExpiredBackup extends BackupRef {
  location?: string;
}

/** Age like `30d`, `12h`, `90m`, `2w` in milliseconds. */
export function retentionAgeMs(maxAge: string): number {
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }[maxAge.slice(-1)];
  const n = Number(maxAge.slice(0, -1));
  if (!unit || !Number.isFinite(n)) throw new Error(`invalid retention age ${maxAge}`);
  return n * unit;
}

/**
 * The Succeeded backups of a Database that retention removes, oldest first: beyond the newest
 * `count`, or finished more than `maxAge` ago; never `keep` (the backup just taken). Pure.
 */
export function selectExpired(
  backups: DatabaseBackup[],
  retention: { count?: number; maxAge?: string },
  keep: string,
  now: Date,
): DatabaseBackup[] {
  const done = backups
    .filter((b) => b.status?.phase === 'Succeeded')
    .sort((a, b) => finished(b).localeCompare(finished(a))); // newest first
  const cutoff = retention.maxAge ? now.getTime() - retentionAgeMs(retention.maxAge) : undefined;
  return done
    .filter((b, i) => {
      if (b.metadata.name === keep) return false;
      if (retention.count !== undefined && i >= retention.count) return true;
      return cutoff !== undefined && Date.parse(finished(b)) < cutoff;
    })
    .reverse();
}

const finished = (b: DatabaseBackup): string => {
  const t = b.status?.finishedAt ?? b.metadata.creationTimestamp ?? '';
  return t instanceof Date ? t.toISOString() : t;
};

export async function listExpiredBackups(
  clients: KubeClients,
  namespace: string,
  databaseName: string,
  retention: { count?: number; maxAge?: string },
  keep: string,
): Promise<ExpiredBackup[]> {
  const list = (await kubeCall(`list DatabaseBackups of ${namespace}/${databaseName}`, () =>
    clients.custom.listNamespacedCustomObject({
      ...backupsResource(namespace),
      labelSelector: `${LABEL_BACKUP_DATABASE}=${databaseName}`,
    }),
  )) as { items: DatabaseBackup[] };
  return selectExpired(list.items, retention, keep, new Date()).map((b) => ({
    namespace,
    name: b.metadata.name!,
    uid: b.metadata.uid!,
    location: b.status?.location,
  }));
}

/** What a backup run tells the Database when it ends (the Database workflow's backup signal). */
export interface FinishedBackup {
  backupName: string;
  phase: 'Succeeded' | 'Failed';
  finishedAt: string;
  message: string;
}

/**
 * The newest finished backup of a Database made since `since` (its incarnation's creation), as
 * its run told or would have told the Database: for a fresh workflow run, which missed the notice
 * of any backup that ended while no run was there to hear it. Undefined when there is none.
 */
export async function lastFinishedBackup(
  clients: KubeClients,
  ref: { namespace: string; name: string },
  since: string,
): Promise<FinishedBackup | undefined> {
  const list = (await kubeCall(`list DatabaseBackups of ${ref.namespace}/${ref.name}`, () =>
    clients.custom.listNamespacedCustomObject({
      ...backupsResource(ref.namespace),
      labelSelector: `${LABEL_BACKUP_DATABASE}=${ref.name}`,
    }),
  )) as { items: DatabaseBackup[] };
  const newest = list.items
    .filter((b) => b.status?.phase === 'Succeeded' || b.status?.phase === 'Failed')
    .filter((b) => b.status?.finishedAt && stamp(b.metadata.creationTimestamp) >= since)
    .sort((a, b) => finished(b).localeCompare(finished(a)))[0];
  if (!newest) return undefined;
  const { phase, location, error } = newest.status!;
  const backupName = newest.metadata.name!;
  return {
    backupName,
    phase: phase as FinishedBackup['phase'],
    finishedAt: finished(newest),
    message:
      phase === 'Succeeded'
        ? `backup ${backupName} succeeded${location ? `: ${location}` : ''}`
        : `backup ${backupName} failed${error ? `: ${error}` : ''}`,
  };
}

/** A timestamp as the API returns it (a string, or a Date once the client parsed it), as ISO text. */
export const stamp = (t: string | Date | undefined): string =>
  t instanceof Date ? t.toISOString() : (t ?? '');

/** Deletes a DatabaseBackup object (its Jobs go with it: they are owned by it). */
export async function deleteBackupRecord(clients: KubeClients, ref: BackupRef): Promise<void> {
  await kubeCall(`delete DatabaseBackup ${ref.namespace}/${ref.name}`, async () => {
    try {
      await clients.custom.deleteNamespacedCustomObject({
        ...backupResource(ref.namespace, ref.name),
        body: { preconditions: { uid: ref.uid }, propagationPolicy: 'Background' },
      });
    } catch (err) {
      if (isNotFound(err) || isConflict(err)) return; // gone already, or a newer one of that name
      throw err;
    }
  });
}
