import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/activity';
import type { DatabaseTarget } from './types';
import { backupScheduleId, SCHEDULED_BACKUP_WORKFLOW_TYPE } from '../contracts/backup-names';

/**
 * The Temporal Schedule of a Database's backups (`backup-schedule/<namespace>/<db>`): created,
 * updated, paused and deleted by the Database's workflow as spec.backup changes. Each action
 * starts `scheduledBackupWorkflow`, which names its backup after the scheduled time, so the
 * Temporal UI's "Trigger" makes an extra backup and no scheduled time is backed up twice.
 */

export interface TemporalDeps {
  client: Client;
  taskQueue: string;
}

/**
 * Missed runs (worker or server down) are caught up only this late; the SDK default is one year,
 * which after an outage would start a storm of backups (DESIGN.md, pitfalls).
 */
export const BACKUP_CATCHUP_WINDOW = '10 minutes';

export type ScheduleOutcome = 'created' | 'updated' | 'unchanged' | 'paused' | 'absent' | 'deleted';

/** Input of the workflow a Schedule starts (workflows/backup.ts). */
export interface ScheduledBackupInput {
  namespace: string;
  databaseName: string;
}

/** What the UI shows in the schedule's note: names the Database and, when active, the cron. */
export function scheduleNote(target: Pick<DatabaseTarget, 'namespace' | 'name' | 'spec'>): string {
  const { enabled, schedule } = target.spec.backup;
  const db = `Database ${target.namespace}/${target.name}`;
  return enabled && schedule
    ? `backups of ${db}, cron "${schedule}" (UTC)`
    : `paused: spec.backup.enabled is false on ${db}`;
}

function action(deps: TemporalDeps, target: DatabaseTarget): ScheduleOptionsStartWorkflowAction<never> {
  const args: [ScheduledBackupInput] = [{ namespace: target.namespace, databaseName: target.name }];
  return {
    type: 'startWorkflow',
    workflowType: SCHEDULED_BACKUP_WORKFLOW_TYPE,
    // Temporal appends the scheduled time to this ID, so every run has its own.
    workflowId: `scheduled-backup/${target.namespace}/${target.name}`,
    taskQueue: deps.taskQueue,
    args: args as never,
  };
}

/**
 * Makes the Schedule match spec.backup: enabled → present, active, with the spec's cron;
 * disabled → paused if it exists (nothing is created for a Database that never enabled backups).
 * Changes only what differs, so calling it at every reconcile writes nothing when all is in place.
 */
export async function ensureBackupSchedule(
  deps: TemporalDeps,
  target: DatabaseTarget,
): Promise<ScheduleOutcome> {
  const { enabled, schedule } = target.spec.backup;
  const want = enabled && !!schedule;
  const scheduleId = backupScheduleId(target.namespace, target.name);
  const handle = deps.client.schedule.getHandle(scheduleId);
  const note = scheduleNote(target);
  let current: ScheduleDescription | undefined;
  try {
    current = await handle.describe();
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  if (!current) {
    if (!want) return 'absent';
    try {
      await deps.client.schedule.create({
        scheduleId,
        spec: { cronExpressions: [schedule!] },
        action: action(deps, target),
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: BACKUP_CATCHUP_WINDOW },
        state: { paused: false, note },
        memo: { database: `${target.namespace}/${target.name}`, databaseUid: target.uid },
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err; // created by an earlier attempt
    }
    return 'created';
  }
  if (matches(deps, current, want, note)) return 'unchanged';
  await handle.update((previous) => ({
    ...previous,
    spec: want ? { cronExpressions: [schedule!] } : previous.spec,
    action: action(deps, target),
    policies: {
      ...previous.policies,
      overlap: ScheduleOverlapPolicy.SKIP,
      catchupWindow: BACKUP_CATCHUP_WINDOW,
    },
    state: { ...previous.state, paused: !want, note },
  }));
  return want ? 'updated' : 'paused';
}

/** The Schedule is as ensureBackupSchedule would leave it (absent counts when backups are off). */
export async function scheduleInLine(deps: TemporalDeps, target: DatabaseTarget): Promise<boolean> {
  const want = target.spec.backup.enabled && !!target.spec.backup.schedule;
  try {
    const current = await deps.client.schedule
      .getHandle(backupScheduleId(target.namespace, target.name))
      .describe();
    return matches(deps, current, want, scheduleNote(target));
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return !want;
    throw err;
  }
}

function matches(deps: TemporalDeps, current: ScheduleDescription, want: boolean, note: string): boolean {
  const taskQueue = current.action.type === 'startWorkflow' ? current.action.taskQueue : undefined;
  return current.state.paused === !want && current.state.note === note && taskQueue === deps.taskQueue;
}

/** Deletes the Schedule (the Database is being deleted); absent already is fine. */
export async function deleteBackupSchedule(
  deps: TemporalDeps,
  namespace: string,
  databaseName: string,
): Promise<ScheduleOutcome> {
  try {
    await deps.client.schedule.getHandle(backupScheduleId(namespace, databaseName)).delete();
    return 'deleted';
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return 'absent';
    throw err;
  }
}

/** Activities that need the Temporal client fail clearly when the worker was built without one. */
export function requireTemporal(deps: TemporalDeps | undefined): TemporalDeps {
  if (!deps) {
    throw ApplicationFailure.nonRetryable(
      'this worker has no Temporal client for Schedules (createActivities without `temporal`)',
      'Misconfigured',
    );
  }
  return deps;
}
