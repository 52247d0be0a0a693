import { isCancellation } from '@temporalio/workflow';
import type { DatabaseTarget } from '../../../activities';
import { act } from '../../activity-options';
import { ConditionTypes } from '../../conditions';
import { describeFailure } from '../../failure';
import { lean } from '../builds';
import type { Generation } from '../generation';

/**
 * Makes the Temporal Schedule match spec.backup (create, update, pause) when the generation is
 * new, spec.backup changed, or at a resync (someone may have deleted it in the UI). Trouble
 * with the Schedule is reported in BackupScheduled and does not make the Database unready.
 */
export async function scheduleBackups(g: Generation, target: DatabaseTarget): Promise<void> {
  const { book, entity } = g;
  const { namespace, name, state } = entity;
  const { enabled, schedule } = target.spec.backup;
  const wanted = JSON.stringify({ enabled, schedule });
  if (state.backupScheduleFor === wanted && !enabled) return;
  try {
    const outcome = await act(`ensure backup Schedule of Database ${namespace}/${name}`).ensureBackupSchedule(
      lean(target),
    );
    state.backupScheduleFor = wanted;
    if (enabled) {
      book.mark(ConditionTypes.BackupScheduled, 'True', 'Scheduled', `backups on cron "${schedule}" (UTC)`);
    } else {
      book.mark(
        ConditionTypes.BackupScheduled,
        'False',
        outcome === 'absent' ? 'NotConfigured' : 'Paused',
        outcome === 'absent'
          ? 'spec.backup.enabled is false'
          : 'schedule paused: spec.backup.enabled is false',
      );
    }
    const changed = outcome === 'created' || outcome === 'updated' || outcome === 'paused';
    await book.report(
      changed
        ? {
            type: 'Normal',
            reason: outcome === 'paused' ? 'BackupSchedulePaused' : 'BackupScheduled',
            message: `backup Schedule ${outcome}${enabled ? `: cron "${schedule}"` : ''}`,
          }
        : undefined,
    );
  } catch (err) {
    if (isCancellation(err)) throw err;
    const failure = describeFailure(err);
    book.mark(ConditionTypes.BackupScheduled, 'False', 'ScheduleFailed', failure.message);
    await book.report({ type: 'Warning', reason: 'BackupScheduleFailed', message: failure.message });
  }
}
