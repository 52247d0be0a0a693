import { ApplicationFailure, isCancellation, patched } from '@temporalio/workflow';
import type { DatabaseTarget } from '../../../activities';
import { act, READY_WAIT_BUDGET_SECONDS, waiting } from '../../activity-options';
import { ConditionTypes } from '../../conditions';
import { describeFailure } from '../../failure';
import { lean } from '../builds';
import { pauseForNewRun, SUPERSEDED, type Generation, type Superseded } from '../generation';

/**
 * Restores spec.bootstrap.fromBackup into the new Database, once, after its members are up and
 * before it is declared Ready: checks the backup (Succeeded, same engine), runs Job
 * `<db>-restore` and waits for it. The Database is marked (annotation durable.dev/restore) before
 * the Job is created and when it succeeded, so a later run never restores twice. A refusal or a failed Job is permanent for this generation:
 * the Restored condition and the Ready condition say why.
 */
export async function restore(g: Generation, target: DatabaseTarget): Promise<void | Superseded> {
  const { id, book, entity } = g;
  const { namespace } = entity;
  const from = target.spec.bootstrap!.fromBackup!.name;
  try {
    const source = await g.run(`check backup ${namespace}/${from} for restore`, () =>
      act(`check backup ${namespace}/${from} for restore`).checkRestoreSource(lean(target)),
    );
    if (source === SUPERSEDED) return SUPERSEDED;
    if (source.previously === 'restored') {
      // The Database carries the mark of a restore done by an earlier run: the cluster, not this
      // run's memory, says it happened, and restoring again would overwrite live data.
      entity.state.restoredFrom = from;
      book.mark(ConditionTypes.Restored, 'True', 'Restored', `restored backup ${from} (by an earlier run)`);
      await book.report();
      return;
    }
    book.mark(ConditionTypes.Restored, 'False', 'Restoring', `restoring ${from} from ${source.location}`);
    await book.report({ type: 'Normal', reason: 'Restoring', message: `restoring backup ${from}` });
    const started = await g.run(`start restore Job ${id}-restore`, () =>
      act(`start restore Job ${id}-restore`).startRestoreJob(lean(target), source.location),
    );
    if (started === SUPERSEDED) return SUPERSEDED;
    for (;;) {
      const outcome = await g.run(`wait for restore Job ${namespace}/${started.jobName}`, () =>
        act(`wait for Job ${namespace}/${started.jobName}`, waiting).waitForJob(
          namespace,
          started.jobName,
          Math.min(READY_WAIT_BUDGET_SECONDS, entity.limits.readyWaitSeconds),
        ),
      );
      if (outcome === SUPERSEDED) return SUPERSEDED;
      if (outcome.state === 'running' && pauseForNewRun(g)) return SUPERSEDED;
      if (outcome.state === 'running') continue;
      if (outcome.state === 'failed') {
        throw ApplicationFailure.nonRetryable(
          `restore of backup ${from} failed (Job ${started.jobName}): ${outcome.message}`,
          'RestoreFailed',
        );
      }
      break;
    }
    if (patched('restore-mark-v1')) {
      const what = `record restore of ${from} on Database ${id}`;
      if ((await g.run(what, () => act(what).recordRestored(lean(target), from))) === SUPERSEDED)
        return SUPERSEDED;
    }
    entity.state.restoredFrom = from;
    book.mark(ConditionTypes.Restored, 'True', 'Restored', `restored backup ${from}`);
    await book.report({ type: 'Normal', reason: 'Restored', message: `restored backup ${from}` });
  } catch (err) {
    if (isCancellation(err)) throw err;
    const failure = describeFailure(err);
    if (failure.type !== 'DatabaseGone') {
      book.mark(ConditionTypes.Restored, 'False', failure.type, failure.message);
    }
    throw err;
  }
}
