import {
  defineSearchAttributeKey,
  SearchAttributeType,
  WorkflowExecutionAlreadyStartedError,
} from '@temporalio/common';
import {
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  setCurrentDetails,
  sleep,
  workflowInfo,
  WorkflowIdReusePolicy,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { BackupRef, DatabaseTarget, EventRecord, JobOutcome } from '../activities';
import type { ScheduledBackupInput } from '../activities/backup-schedule';
import type { BackupWorkflowActivities } from '../activities';
import { activitiesOf, quick } from './activity-options';
import { backupJobName, backupWorkflowId, scheduledBackupName } from '../contracts/backup-names';
import { backupSignal, databaseWorkflowId, type BackupNotice } from './signals';

/** This workflow's own activities. */
const act = activitiesOf<BackupWorkflowActivities>();

/** The plan's contract: what starts a backup run, and what it returns. */
export interface BackupWorkflowInput {
  namespace: string;
  databaseName: string;
  backupName: string;
  reason: 'scheduled' | 'manual' | 'pre-upgrade';
  /** The schedule time a scheduled run is for (ISO 8601). */
  scheduledTime?: string;
  /** Set by the watcher for a retry (the value of the durable.dev/retry annotation). */
  retryToken?: string;
}

export interface BackupResult {
  phase: 'Succeeded' | 'Failed';
  attempts: number;
  location?: string;
  error?: string;
}

/** Each wait for a Job returns after this long, so the run can report progress. */
const JOB_WAIT_BUDGET_SECONDS = 60;
/** The backoff between attempts doubles from spec.backup.backoffSeconds up to this. */
const MAX_BACKOFF_SECONDS = 3600;

const waiting: ActivityOptions = {
  startToCloseTimeout: `${JOB_WAIT_BUDGET_SECONDS + 60} seconds`,
  // A dead worker is noticed this soon and the wait resumes on another one (the Job keeps running).
  heartbeatTimeout: '15 seconds',
  retry: quick.retry,
};

/**
 * One backup run (`backup/<namespace>/<backupName>`): records itself as a DatabaseBackup, runs
 * up to spec.backup.maxAttempts Jobs `<backupName>-<attempt>` with exponential backoff between
 * them (durable timers), reports the outcome (DatabaseBackup status, the Database's lastBackup
 * and LastBackupSucceeded through its workflow, Events, the runs metric) and then applies
 * retention. A retry (a new run of the same backup) numbers its attempts on from the last one,
 * so no Job name is ever reused.
 */
export async function backupWorkflow(input: BackupWorkflowInput): Promise<BackupResult> {
  const { namespace, databaseName, backupName } = input;
  const id = `${namespace}/${backupName}`;
  let eventSeq = 0;
  const keyed = (event: Omit<EventRecord, 'key'>): EventRecord => ({
    ...event,
    key: `${workflowInfo().workflowId}/${workflowInfo().runId}/${++eventSeq}`,
  });
  const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

  setCurrentDetails(`**reading Database** ${namespace}/${databaseName}`);
  const plan = await act(`read Database ${namespace}/${databaseName}`).loadBackupPlan(
    namespace,
    databaseName,
  );
  const record = await act(`ensure DatabaseBackup ${id}`).ensureBackupRecord({
    namespace,
    databaseName,
    backupName,
    reason: input.reason,
    scheduledTime: input.scheduledTime,
    engine: plan?.target.spec.engine,
  });
  const ref: BackupRef = { namespace, name: backupName, uid: record.uid };
  if (record.phase === 'Succeeded') {
    // Already taken (a duplicate start, or a retry of a backup that has succeeded meanwhile).
    return { phase: 'Succeeded', attempts: record.attempts };
  }
  const status = act(`update status of DatabaseBackup ${id}`);
  const startedAt = record.startedAt ?? now();
  // Runs since this patch can be taken up by a fresh run: see `resume` and the final phase below.
  const resumable = patched('backup-resume-v1');

  if (!plan) {
    const error = `Database ${namespace}/${databaseName} does not exist`;
    await status.updateBackupStatus(ref, { phase: 'Failed', startedAt, finishedAt: now(), error });
    await act(`record Events of backup ${id}`).recordBackupOutcome(
      { namespace, name: databaseName },
      ref,
      keyed({ type: 'Warning', reason: 'BackupFailed', message: `backup ${backupName} failed: ${error}` }),
    );
    return { phase: 'Failed', attempts: record.attempts, error };
  }
  const target = plan.target;
  const { maxAttempts, backoffSeconds, retention } = target.spec.backup;
  await status.updateBackupStatus(ref, { phase: 'Running', startedAt, finishedAt: null });
  const storage = await act(`ensure backup storage of ${namespace}/${databaseName}`).ensureBackupStorage(
    target,
  );

  // A run that finds its backup Running with an attempt recorded follows an earlier run that
  // ended mid-attempt (terminated, reset, a lost Temporal database): that attempt's Job may be
  // running or done, and is taken up (created once by name, so found, not started again) rather
  // than a second dump started beside it. A retry finds its backup Failed and numbers on.
  const resume = resumable && record.phase === 'Running' && record.attempts > 0;
  const first = resume ? record.attempts : record.attempts + 1;
  const last = first + maxAttempts - 1;
  let outcome: JobOutcome = { state: 'failed', message: 'no attempt was made' };
  let attempt = first;
  let location: string | undefined;
  for (; attempt <= last; attempt++) {
    const jobName = backupJobName(backupName, attempt);
    setCurrentDetails(
      `**attempt ${attempt}** (${attempt - first + 1} of ${maxAttempts}): Job ${jobName} → ${storage}`,
    );
    await status.updateBackupStatus(ref, { attempts: attempt, jobName });
    const started = await act(`start backup Job ${namespace}/${jobName}`).startBackupJob(
      target,
      ref,
      attempt,
    );
    location = started.location;
    outcome = await waitForJob(namespace, jobName);
    if (outcome.state === 'succeeded') {
      // The script reports where it wrote; the rendered location is the same, should it not.
      outcome = { ...outcome, location: outcome.location ?? location };
      break;
    }
    log.warn('backup attempt failed', { backup: id, attempt, error: outcome.message });
    await status.updateBackupStatus(ref, { error: `attempt ${attempt}: ${outcome.message}` });
    if (attempt < last) {
      const delay = Math.min(backoffSeconds * 2 ** (attempt - first), MAX_BACKOFF_SECONDS);
      setCurrentDetails(
        `**attempt ${attempt} failed**: ${outcome.message}; attempt ${attempt + 1} in ${delay} s`,
      );
      await sleep(delay * 1000);
    }
  }
  const attempts = Math.min(attempt, last);
  const succeeded = outcome.state === 'succeeded';
  const finishedAt = now();
  const error = succeeded ? undefined : `attempt ${attempts}: ${outcome.message}`;
  const writeFinal = () =>
    status.updateBackupStatus(ref, {
      phase: succeeded ? 'Succeeded' : 'Failed',
      attempts,
      finishedAt,
      ...(succeeded
        ? { error: null, location: outcome.location ?? null, sizeBytes: outcome.sizeBytes ?? null }
        : { error }),
    });
  // The final phase is what tells a later run (and the watcher) that nothing is left to do, so it
  // is written last: a run ended before it is taken up again and tells the Database once more,
  // rather than a run ended after it leaving the Database untold.
  if (!resumable) await writeFinal();

  const message = succeeded
    ? `backup ${backupName} succeeded after ${attempts - first + 1} attempt(s)${outcome.location ? `: ${outcome.location}` : ''}`
    : `backup ${backupName} failed after ${attempts - first + 1} attempt(s): ${outcome.message}`;
  await notifyDatabase(namespace, databaseName, {
    backupName,
    phase: succeeded ? 'Succeeded' : 'Failed',
    finishedAt,
    message,
  });
  await act(`record Events of backup ${id}`).recordBackupOutcome(
    { namespace, name: databaseName, uid: target.uid },
    ref,
    keyed(
      succeeded
        ? { type: 'Normal', reason: 'BackupSucceeded', message }
        : { type: 'Warning', reason: 'BackupFailed', message },
    ),
  );
  if (resumable) await writeFinal();
  if (succeeded && retention && (retention.count !== undefined || retention.maxAge !== undefined)) {
    await applyRetention(target, retention, backupName);
  }
  setCurrentDetails(`**${succeeded ? 'Succeeded' : 'Failed'}**: ${message}`);
  return {
    phase: succeeded ? 'Succeeded' : 'Failed',
    attempts,
    ...(outcome.location ? { location: outcome.location } : {}),
    ...(error ? { error } : {}),
  };
}

/** Waits for a Job in bounded slices (each one heartbeats), until it has finished. */
async function waitForJob(namespace: string, jobName: string): Promise<JobOutcome> {
  for (;;) {
    const outcome = await act(`wait for Job ${namespace}/${jobName}`, waiting).waitForJob(
      namespace,
      jobName,
      JOB_WAIT_BUDGET_SECONDS,
    );
    if (outcome.state !== 'running') return outcome;
  }
}

/**
 * Tells the Database's workflow, which owns the Database's status (lastBackup and the
 * LastBackupSucceeded condition go out with its next status report). A Database without a
 * running workflow (being deleted) simply misses it; the DatabaseBackup still tells.
 */
async function notifyDatabase(namespace: string, databaseName: string, notice: BackupNotice) {
  try {
    await getExternalWorkflowHandle(databaseWorkflowId(namespace, databaseName)).signal(backupSignal, notice);
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn('could not signal the Database workflow', { error: String(err) });
  }
}

/**
 * Deletes the Succeeded backups of the Database beyond `count` or older than `maxAge`, never
 * `keep`: first their data (a Job, since only a pod can reach the PVC or has the S3 keys), then
 * the DatabaseBackup (its Jobs go with it). A backup whose data could not be deleted stays, and
 * the next run tries again.
 */
async function applyRetention(
  target: DatabaseTarget,
  retention: { count?: number; maxAge?: string },
  keep: string,
): Promise<void> {
  const { namespace, name } = target;
  setCurrentDetails(`**retention** of ${namespace}/${name}`);
  const expired = await act(`list expired backups of ${namespace}/${name}`).listExpiredBackups(
    namespace,
    name,
    retention,
    keep,
  );
  for (const backup of expired) {
    if (backup.location) {
      try {
        const { jobName } = await act(
          `start data deletion of backup ${namespace}/${backup.name}`,
        ).startDeleteDataJob(target, backup, backup.location);
        const result = await waitForJob(namespace, jobName);
        if (result.state !== 'succeeded') {
          log.warn('deleting backup data failed; the backup is kept', {
            backup: backup.name,
            error: result.message,
          });
          continue;
        }
      } catch (err) {
        if (isCancellation(err)) throw err;
        log.warn('deleting backup data failed; the backup is kept', {
          backup: backup.name,
          error: String(err),
        });
        continue;
      }
    }
    await act(`delete DatabaseBackup ${namespace}/${backup.name}`).deleteBackupRecord(backup);
  }
}

/** Set by Temporal on every workflow a Schedule starts. */
const ScheduledStartTime = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);

export interface ScheduledBackupResult {
  backupName: string;
  /** False when a run for this scheduled time existed already (nothing was done twice). */
  started: boolean;
  result?: BackupResult;
}

/**
 * What a Database's Schedule starts: names the backup after the scheduled time
 * (`<db>-<yyyymmddhhmm>`) and runs it as the child `backup/<namespace>/<that name>`. A second
 * start for the same minute (a catch-up, a trigger) is refused by Temporal (REJECT_DUPLICATE),
 * and a worker that dies mid-run leaves the child running where it was: never two backups for
 * one scheduled time.
 */
export async function scheduledBackupWorkflow(input: ScheduledBackupInput): Promise<ScheduledBackupResult> {
  const info = workflowInfo();
  const scheduled = info.typedSearchAttributes.get(ScheduledStartTime) ?? info.runStartTime;
  const backupName = scheduledBackupName(input.databaseName, scheduled);
  try {
    const result = await executeChild(backupWorkflow, {
      workflowId: backupWorkflowId(input.namespace, backupName),
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      args: [
        {
          namespace: input.namespace,
          databaseName: input.databaseName,
          backupName,
          reason: 'scheduled',
          scheduledTime: scheduled.toISOString().replace(/\.\d{3}Z$/, 'Z'),
        },
      ],
    });
    return { backupName, started: true, result };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { backupName, started: false };
    throw err;
  }
}
