import type { DatabaseTarget } from '../../../activities';
import { act, READY_WAIT_BUDGET_SECONDS, waiting } from '../../activity-options';
import { ConditionTypes } from '../../conditions';
import { statusText } from '../../status-text';
import { explainNotReady, pauseForNewRun, SUPERSEDED, type Generation } from '../generation';
import { lean } from '../builds';
import type { Replication } from './replication';

/**
 * Waits for the StatefulSet's pods to be ready, reporting progress after each bounded wait. A
 * new generation keeps waiting (its Ready condition says why); a repair (drift, resync) whose
 * pods are not ready reports Degraded and stops, to look again after RETRY_AFTER. The early
 * replication pass is retried between waits until it succeeds (replicas wait for it).
 * Returns false when the reconcile stops here.
 */
export async function awaitPods(
  g: Generation,
  target: DatabaseTarget,
  replication: Replication,
): Promise<boolean> {
  const { book, entity } = g;
  for (;;) {
    const ready = await g.run(`wait for StatefulSet ${g.id} to be ready`, () =>
      act(`wait for StatefulSet ${g.id} to be ready`, waiting).waitForStatefulSetReady(
        lean(target),
        Math.min(READY_WAIT_BUDGET_SECONDS, entity.limits.readyWaitSeconds),
      ),
    );
    if (ready === SUPERSEDED) return false;
    entity.state.status.replicas = ready.replicas;
    entity.state.status.readyReplicas = ready.readyReplicas;
    if (ready.ready) {
      book.mark(ConditionTypes.StatefulSetReady, 'True', 'PodsReady', ready.message);
      return true;
    }
    book.mark(ConditionTypes.StatefulSetReady, 'False', 'PodsNotReady', ready.message);
    const podsWhy = ready.reason ? `${ready.message}; ${ready.reason}` : ready.message;
    if (!replication.configured && !(await replication.configureEarly())) return false;
    if (g.mode !== 'generation') {
      await book.degrade('PodsNotReady', statusText(podsWhy));
      return false;
    }
    await explainNotReady(g, podsWhy);
    await book.report();
    if (pauseForNewRun(g)) return false;
  }
}
