import { Context } from '@temporalio/activity';
import { kubeRead } from './errors';
import type { KubeClients } from './kube-clients';
import { Watch, type V1StatefulSet } from '@kubernetes/client-node';
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

/** Between two reads when the StatefulSet cannot be watched; with a watch, a fallback only. */
const POLL_MS = 1_000;
const WATCHED_POLL_MS = 10_000;

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
  const deadline = Date.now() + budgetSeconds * 1000;
  // Woken by the StatefulSet's own changes (its status is written as each pod gets ready), so
  // Ready follows the pods within milliseconds instead of up to a poll later.
  const changes = await watchStatefulSet(clients, target);
  try {
    return await waitLoop(clients, target, deadline, changes);
  } finally {
    changes.stop();
  }
}

async function waitLoop(
  clients: KubeClients,
  target: DatabaseTarget,
  deadline: number,
  changes: StatefulSetChanges,
): Promise<Readiness> {
  const ctx = Context.current();
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
    // ctx.cancelled rejects with a CancelledFailure when the workflow cancels the wait. (Not
    // ctx.sleep: each call adds an abort listener that stays until its timer ends.)
    const pause = Math.min(
      changes.watching() ? WATCHED_POLL_MS : POLL_MS,
      Math.max(1, deadline - Date.now()),
    );
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        changes.next(),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, pause))),
        ctx.cancelled,
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

interface StatefulSetChanges {
  /** Resolves at the next change the watch delivers (never, when not watching). */
  next(): Promise<void>;
  watching(): boolean;
  stop(): void;
}

/**
 * A watch of the one StatefulSet (field selector on its name). Best effort: when it cannot be
 * started or ends, the wait polls as before.
 */
async function watchStatefulSet(clients: KubeClients, target: DatabaseTarget): Promise<StatefulSetChanges> {
  const name = objectNames(target.name).statefulSet;
  let wake: (() => void) | undefined;
  let pending = false;
  let open = true;
  let abort: AbortController | undefined;
  const notify = () => {
    if (wake) {
      wake();
      wake = undefined;
    } else pending = true;
  };
  try {
    abort = await new Watch(clients.kubeConfig).watch(
      `/apis/apps/v1/namespaces/${target.namespace}/statefulsets`,
      { fieldSelector: `metadata.name=${name}`, allowWatchBookmarks: false },
      () => notify(),
      () => {
        open = false;
        notify();
      },
    );
  } catch {
    open = false;
  }
  return {
    next: () => {
      if (pending) {
        pending = false;
        return Promise.resolve();
      }
      return open ? new Promise<void>((resolve) => (wake = resolve)) : new Promise<void>(() => {});
    },
    watching: () => open,
    stop: () => {
      open = false;
      abort?.abort();
    },
  };
}

/** The Database's StatefulSet, or undefined when it does not exist. */
export async function readStatefulSet(
  clients: KubeClients,
  target: Pick<DatabaseTarget, 'namespace' | 'name'>,
): Promise<V1StatefulSet | undefined> {
  const name = objectNames(target.name).statefulSet;
  return kubeRead(`StatefulSet ${target.namespace}/${name}`, () =>
    clients.apps.readNamespacedStatefulSet({ name, namespace: target.namespace }),
  );
}
