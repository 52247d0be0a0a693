import { ApplicationFailure, Context } from '@temporalio/activity';
import { restoreJobName } from '../contracts/backup-names';
import { readBackup, s3Access } from './backup';
import { createJobIfAbsent, readJob } from './jobs';
import type { KubeClients } from './kube-clients';
import { primaryOrdinal } from './roles';
import { ownerReference, parseLocation, renderRestoreJob } from './manifests';
import { markRestoreStarted, readRestoreMark, writeRestoreMark } from './restore-mark';
import type { DatabaseTarget } from './types';

/**
 * Restore of spec.bootstrap.fromBackup into a new Database: the source checked, Job
 * `<db>-restore` started once, and the restore marked on the Database (restore-mark.ts).
 */

/** Reasons a restore source is refused; the workflow reports them as the Restored condition. */
export const RestoreFailures = {
  BackupNotFound: 'BackupNotFound',
  BackupNotReady: 'BackupNotReady',
  BackupEngineMismatch: 'BackupEngineMismatch',
  RestoreFailed: 'RestoreFailed',
} as const;

/** After the restore Job succeeded: the mark says done, so no later run restores over the data. */
export async function recordRestored(
  clients: KubeClients,
  target: DatabaseTarget,
  backup: string,
): Promise<void> {
  await writeRestoreMark(clients, target, { backup, state: 'done' });
}

/**
 * Checks that spec.bootstrap.fromBackup names a Succeeded backup of the same engine with a
 * location a restore Job can read. Refusals are non-retryable with a reason the workflow shows.
 * A backup that is still running is retryable for a while (the workflow's retry policy decides).
 */
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

/** Starts the restore Job `<db>-restore`, once per Database incarnation (owned by it). */
export async function startRestoreJob(
  clients: KubeClients,
  target: DatabaseTarget,
  location: string,
): Promise<{ jobName: string; outcome: 'created' | 'exists' }> {
  const jobName = restoreJobName(target.name);
  const job = renderRestoreJob(
    { db: target, primary: await primaryOrdinal(clients, target), jobName, owner: ownerReference(target) },
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
