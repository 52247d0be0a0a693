import { Context } from '@temporalio/activity';
import { isNotFound, kubeCall } from './errors';
import type { KubeClients } from './kube-clients';
import { objectNames } from './manifests';
import type { V1ContainerStatus, V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import { selectorLabels } from './manifests';
import type { DatabaseTarget } from './types';

export interface Readiness {
  ready: boolean;
  replicas: number;
  readyReplicas: number;
  /** Human-readable progress, e.g. "2/3 pods ready". */
  message: string;
  /**
   * When not ready: what holds the pods back, in the kubelet's or the scheduler's words, e.g.
   * `orders-0: container database CrashLoopBackOff: back-off 10s restarting failed container`.
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
      // Only when handing back unready: a list of the pods per wait, not per poll.
      const reason = podTrouble(await listMemberPods(clients, target).catch(() => []));
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

async function listMemberPods(clients: KubeClients, target: DatabaseTarget): Promise<V1Pod[]> {
  const labelSelector = Object.entries(selectorLabels(target))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const pods = await kubeCall(`list Pods of ${target.namespace}/${target.name}`, () =>
    clients.core.listNamespacedPod({ namespace: target.namespace, labelSelector }),
  );
  return pods.items;
}

/**
 * The first thing that keeps a member pod from being Ready, lowest ordinal first, in the words of
 * whoever said it: the scheduler (Unschedulable: 0/2 nodes are available …), the kubelet (a
 * container waiting: ImagePullBackOff, CrashLoopBackOff …, or its last exit), or a probe still
 * failing. Undefined when every pod is Ready or nothing says why.
 */
export function podTrouble(pods: V1Pod[]): string | undefined {
  const sorted = [...pods].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  for (const pod of sorted) {
    const name = pod.metadata?.name ?? '?';
    const conditions = pod.status?.conditions ?? [];
    if (conditions.some((c) => c.type === 'Ready' && c.status === 'True')) continue;
    const scheduled = conditions.find((c) => c.type === 'PodScheduled');
    if (scheduled?.status === 'False') {
      return clip(
        `${name}: ${scheduled.reason ?? 'not scheduled'}${scheduled.message ? `: ${scheduled.message}` : ''}`,
      );
    }
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    for (const c of statuses) {
      const waiting = c.state?.waiting;
      if (waiting?.reason && waiting.reason !== 'PodInitializing' && waiting.reason !== 'ContainerCreating') {
        const last = c.lastState?.terminated;
        const exit = last
          ? `; last exit ${last.exitCode}${last.message ? `: ${last.message}` : last.reason ? ` (${last.reason})` : ''}`
          : '';
        return clip(
          `${name}: container ${c.name} ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}${exit}`,
        );
      }
      const terminated = c.state?.terminated;
      if (terminated && terminated.exitCode !== 0) {
        return clip(
          `${name}: container ${c.name} exited ${terminated.exitCode}${terminated.message ? `: ${terminated.message}` : terminated.reason ? ` (${terminated.reason})` : ''}`,
        );
      }
    }
    const running = (pod.status?.containerStatuses ?? []).find((c) => c.state?.running && !c.ready);
    if (running) return clip(`${name}: container ${running.name} ${probeNotPassing(running)}`);
  }
  return undefined;
}

/**
 * Which probe holds a running container back: the startup probe until it has passed once (the
 * kubelet runs no readiness probe before), the readiness probe after (an engine that stopped
 * answering). On a real node this is the usual reason a pod runs without being Ready.
 */
export function probeNotPassing(c: V1ContainerStatus): string {
  return c.started === false
    ? 'running, startup probe not passing yet'
    : 'running, readiness probe not passing';
}

function clip(text: string): string {
  return text.replace(/\s+/g, ' ').slice(0, 400);
}
