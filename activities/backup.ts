import { PatchStrategy, setHeaderOptions, type V1Job, type V1Pod } from '@kubernetes/client-node';
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
import { backupJobName, deleteDataJobName, restoreJobName } from '../contracts/backup-names';
import type { WorkerMetrics } from '../common/metrics';
import { databaseResource } from './database-ref';
import { markRestoreStarted, readRestoreMark, writeRestoreMark } from './restore-mark';
import { isConflict, isNotFound, kubeCall } from './errors';
import type { KubeClients } from './kube-clients';
import {
  backupLabels,
  backupLocation,
  backupOwner,
  backupStorage,
  ownerReference,
  parseLocation,
  renderBackupClaim,
  renderBackupJob,
  renderDeleteDataJob,
  renderRestoreJob,
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

export interface JobOutcome {
  state: 'running' | 'succeeded' | 'failed';
  /** Progress while running; the error (termination message, else the Job's reason) on failure. */
  message: string;
  sizeBytes?: number;
  location?: string;
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
  const db = await kubeCall(`read Database ${namespace}/${databaseName}`, async () => {
    try {
      return (await clients.custom.getNamespacedCustomObject(
        databaseResource({ namespace, name: databaseName }),
      )) as Database;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  });
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

async function readBackup(clients: KubeClients, namespace: string, name: string) {
  return kubeCall(`read DatabaseBackup ${namespace}/${name}`, async () => {
    try {
      return (await clients.custom.getNamespacedCustomObject(
        backupResource(namespace, name),
      )) as DatabaseBackup;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  });
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

/** Creates a Job if no Job of that name exists; 'exists' means an earlier attempt created it. */
/** The Job, or undefined when it does not exist. */
async function readJob(clients: KubeClients, namespace: string, name: string): Promise<V1Job | undefined> {
  return kubeCall(`read Job ${namespace}/${name}`, async () => {
    try {
      return await clients.batch.readNamespacedJob({ name, namespace });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  });
}

async function createJobIfAbsent(clients: KubeClients, job: V1Job): Promise<'created' | 'exists'> {
  const { name, namespace } = job.metadata as { name: string; namespace: string };
  return kubeCall(`create Job ${namespace}/${name}`, async () => {
    try {
      await clients.batch.createNamespacedJob({ namespace, body: job });
      return 'created';
    } catch (err) {
      if (isConflict(err)) return 'exists';
      throw err;
    }
  });
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
    { db: target, jobName, owner: backupOwner(backup.name, backup.uid) },
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
function s3Access(target: DatabaseTarget) {
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

/** Starts the restore Job `<db>-restore`, once per Database incarnation (owned by it). */
export async function startRestoreJob(
  clients: KubeClients,
  target: DatabaseTarget,
  location: string,
): Promise<{ jobName: string; outcome: 'created' | 'exists' }> {
  const jobName = restoreJobName(target.name);
  const job = renderRestoreJob(
    { db: target, jobName, owner: ownerReference(target) },
    location,
    s3Access(target),
  );
  if (!(await readJob(clients, target.namespace, jobName))) {
    // The mark goes on the Database before the Job exists: whatever happens to the workflow run
    // from here, a later run knows a restore was started.
    const backupName = target.spec.bootstrap?.fromBackup?.name ?? '';
    await markRestoreStarted(
      clients,
      target,
      backupName,
      Context.current().info.workflowExecution?.runId ?? '',
    );
  }
  return { jobName, outcome: await createJobIfAbsent(clients, job) };
}

const POLL_MS = 1_000;

/**
 * Waits until the Job has finished or `budgetSeconds` passed, heartbeating every poll (a dead
 * worker is noticed within the heartbeat timeout; a cancellation is delivered). On completion it
 * reads the result the script left in its pod's termination message.
 */
export async function waitForJob(
  clients: KubeClients,
  namespace: string,
  jobName: string,
  budgetSeconds: number,
): Promise<JobOutcome> {
  const ctx = Context.current();
  const deadline = Date.now() + budgetSeconds * 1000;
  for (;;) {
    const job = await readJob(clients, namespace, jobName);
    if (!job) {
      // Deleted by someone: this attempt cannot finish any more; the workflow counts it as failed.
      return { state: 'failed', message: `Job ${jobName} was deleted before it finished` };
    }
    const conditions = job.status?.conditions ?? [];
    const done = conditions.find(
      (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
    );
    if (done) {
      const pods = await kubeCall(`list pods of Job ${namespace}/${jobName}`, () =>
        clients.core.listNamespacedPod({
          namespace,
          labelSelector: `batch.kubernetes.io/job-name=${jobName}`,
        }),
      );
      return jobOutcome(
        done.type === 'Complete',
        pods.items,
        `${done.reason ?? ''} ${done.message ?? ''}`.trim(),
      );
    }
    const progress: JobOutcome = {
      state: 'running',
      message: `Job ${jobName}: ${job.status?.active ?? 0} active pod(s)`,
    };
    ctx.heartbeat(progress);
    if (Date.now() >= deadline) return progress;
    await ctx.sleep(POLL_MS);
  }
}

/**
 * The result of a finished Job from its pods: the JSON the script wrote to the termination log on
 * success; on failure the failed container's message (the script's error, or the log tail), else
 * the pod's or the Job's own reason (DeadlineExceeded, BackoffLimitExceeded, …). Pure.
 */
export function jobOutcome(succeeded: boolean, pods: V1Pod[], jobReason: string): JobOutcome {
  const terminated = pods.flatMap((pod) =>
    [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])]
      .map((s) => s.state?.terminated ?? s.lastState?.terminated)
      .filter((t) => t !== undefined),
  );
  if (succeeded) {
    for (const t of terminated) {
      const result = parseResult(t.message);
      if (result) return { state: 'succeeded', message: 'completed', ...result };
    }
    return { state: 'succeeded', message: 'completed' };
  }
  const failed = terminated.find((t) => t.exitCode !== 0);
  const podReason = pods
    .map((p) => [p.status?.reason, p.status?.message].filter(Boolean).join(': '))
    .find((m) => m !== '');
  const message =
    failed?.message?.trim() ||
    (failed
      ? `container exited with code ${failed.exitCode}${failed.reason ? ` (${failed.reason})` : ''}`
      : '') ||
    podReason ||
    jobReason ||
    'the Job failed';
  return { state: 'failed', message: message.slice(0, 4000) };
}

function parseResult(message: string | undefined): { sizeBytes?: number; location?: string } | undefined {
  if (!message) return undefined;
  try {
    const value = JSON.parse(message) as { sizeBytes?: unknown; location?: unknown };
    const out: { sizeBytes?: number; location?: string } = {};
    if (typeof value.sizeBytes === 'number' && Number.isFinite(value.sizeBytes))
      out.sizeBytes = value.sizeBytes;
    if (typeof value.location === 'string') out.location = value.location;
    return out;
  } catch {
    return undefined;
  }
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

/** Reasons a restore source is refused; the workflow reports them as the Restored condition. */
export const RestoreFailures = {
  BackupNotFound: 'BackupNotFound',
  BackupNotReady: 'BackupNotReady',
  BackupEngineMismatch: 'BackupEngineMismatch',
  RestoreFailed: 'RestoreFailed',
} as const;

/**
 * Checks that spec.bootstrap.fromBackup names a Succeeded backup of the same engine with a
 * location a restore Job can read. Refusals are non-retryable with a reason the workflow shows.
 * A backup that is still running is retryable for a while (the workflow's retry policy decides).
 */
/** After the restore Job succeeded: the mark says done, so no later run restores over the data. */
export async function recordRestored(
  clients: KubeClients,
  target: DatabaseTarget,
  backup: string,
): Promise<void> {
  await writeRestoreMark(clients, target, { backup, state: 'done' });
}

export async function checkRestoreSource(
  clients: KubeClients,
  target: DatabaseTarget,
): Promise<{ backupName: string; location: string; previously?: 'restored' }> {
  const name = target.spec.bootstrap?.fromBackup?.name;
  if (!name)
    throw ApplicationFailure.nonRetryable('no spec.bootstrap.fromBackup', RestoreFailures.BackupNotFound);
  const mark = await readRestoreMark(clients, target);
  if (mark?.state === 'done' && mark.backup === name) {
    // Restored by an earlier run (the workflow's memory of it may be gone): never again.
    return { backupName: name, location: '', previously: 'restored' };
  }
  const backup = await readBackup(clients, target.namespace, name);
  if (!backup) {
    throw ApplicationFailure.nonRetryable(
      `DatabaseBackup ${target.namespace}/${name} (spec.bootstrap.fromBackup) does not exist`,
      RestoreFailures.BackupNotFound,
    );
  }
  const phase = backup.status?.phase;
  if (phase !== 'Succeeded' || !backup.status?.location) {
    throw ApplicationFailure.nonRetryable(
      `DatabaseBackup ${target.namespace}/${name} is ${phase ?? 'not started'}, not Succeeded: only a completed backup can be restored`,
      RestoreFailures.BackupNotReady,
    );
  }
  const engine = backup.metadata.labels?.['app.kubernetes.io/name'];
  if (engine !== target.spec.engine) {
    throw ApplicationFailure.nonRetryable(
      `DatabaseBackup ${target.namespace}/${name} is a ${engine ?? 'unknown'} backup; this Database runs ${target.spec.engine}`,
      RestoreFailures.BackupEngineMismatch,
    );
  }
  const location = backup.status.location;
  const parsed = parseLocation(location);
  if (!parsed || (parsed.kind === 's3' && !target.spec.backup.target?.s3)) {
    throw ApplicationFailure.nonRetryable(
      parsed
        ? `DatabaseBackup ${name} is in S3 (${location}): set spec.backup.target.s3 (bucket credentials) on this Database to restore it`
        : `DatabaseBackup ${name} has a location this operator cannot read: ${location}`,
      RestoreFailures.BackupNotReady,
    );
  }
  return { backupName: name, location };
}
