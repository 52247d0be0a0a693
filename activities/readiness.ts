import { Context } from '@temporalio/activity';
import { isNotFound, kubeCall } from './errors';
import type { KubeClients } from './kube-clients';
import type { V1StatefulSet } from '@kubernetes/client-node';
import { whyBlocked } from './blocked';
import { objectNames } from './manifests';
import type { DatabaseTarget } from './types';

export interface Readiness {
  ready: boolean;
  replicas: number;
  readyReplicas: number;
  /** Human-readable progress, e.g. "2/3 pods ready". */
  message: string;
  /**
   * When not ready: what holds the pods back, in the words of the kubelet, the scheduler or an
   * Event (activities/blocked.ts), e.g. `orders-0: container database cannot pull image "…"`.
   */
  reason?: string;
}

const POLL_MS = 1_000;

/**
 * Waits until the StatefulSet has rolled out this generation's pod template to every replica
 * and all of them are ready, or until `budgetSeconds` pass; then returns how far it got. The
 * bounded wait hands control back to the workflow regularly, so it can report progress in the
 * status and react to a newer spec. Heartbeats every poll: a dead worker is noticed within the
 * heartbeat timeout, and a cancellation from the workflow is delivered.
 */
export async function waitForStatefulSetReady(
  clients: KubeClients,
  target: DatabaseTarget,
  budgetSeconds: number,
): Promise<Readiness> {
  const ctx = Context.current();
  const deadline = Date.now() + budgetSeconds * 1000;
  for (;;) {
    const state = await readStatefulSet(clients, target);
    const want = target.spec.replicas;
    const status = state?.status;
    const ready = status?.readyReplicas ?? 0;
    const updated = status?.updatedReplicas ?? 0;
    const rolledOut =
      !!state &&
      (status?.observedGeneration ?? 0) >= (state.metadata?.generation ?? 0) &&
      status?.currentRevision === status?.updateRevision;
    const result: Readiness = {
      ready: rolledOut && ready === want && updated === want && (status?.replicas ?? 0) === want,
      replicas: status?.replicas ?? 0,
      readyReplicas: ready,
      message: state ? `${ready}/${want} pods ready, ${updated}/${want} updated` : 'StatefulSet not found',
    };
    if (!result.ready && Date.now() >= deadline) {
      // Only when handing back unready: the pods, claims and Events are read per wait, not per
      // poll. Best effort: the wait's answer matters more than its explanation.
      const reason = await whyBlocked(clients, target).catch(() => undefined);
      if (reason) result.reason = reason;
    }
    ctx.heartbeat(result);
    if (result.ready || Date.now() >= deadline) return result;
    // Rejects with a CancelledFailure when the workflow cancels the wait.
    await ctx.sleep(POLL_MS);
  }
}

/** The Database's StatefulSet, or undefined when it does not exist. */
export async function readStatefulSet(
  clients: KubeClients,
  target: Pick<DatabaseTarget, 'namespace' | 'name'>,
): Promise<V1StatefulSet | undefined> {
  const name = objectNames(target.name).statefulSet;
  return kubeCall(`read StatefulSet ${target.namespace}/${name}`, async () => {
    try {
      return await clients.apps.readNamespacedStatefulSet({ name, namespace: target.namespace });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  });
}
