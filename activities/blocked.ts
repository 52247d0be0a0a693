import type { CoreV1Event, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { kubeCall } from './errors';
import type { KubeClients } from './kube-clients';
import { objectNames, selectorLabels } from './manifests';
import { clip, podTrouble } from './pod-trouble';
import type { DatabaseTarget } from './types';

/**
 * What blocks the objects the operator made, read from their status and their Events, for the
 * Ready condition of a Database that does not become ready: a pod's trouble (podTrouble: the
 * scheduler, the kubelet, a probe), a data volume claim that cannot bind (its newest Event,
 * e.g. ProvisioningFailed: storageclass "x" not found), a StatefulSet that cannot create its
 * pods (its FailedCreate Event: a quota, a PodSecurity refusal). Read once per readiness wait,
 * not per poll, and worded without counts or back-off times, so the text stays the same from
 * one wait to the next while the cause does.
 */
export async function whyBlocked(clients: KubeClients, target: DatabaseTarget): Promise<string | undefined> {
  const { namespace } = target;
  const labelSelector = Object.entries(selectorLabels(target))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const [pods, claims] = await Promise.all([
    kubeCall(`list Pods of ${namespace}/${target.name}`, () =>
      clients.core.listNamespacedPod({ namespace, labelSelector }),
    ).then((l) => l.items),
    kubeCall(`list PersistentVolumeClaims of ${namespace}/${target.name}`, () =>
      clients.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector }),
    ).then((l) => l.items),
  ]);
  const pendingClaims: Record<string, string> = {};
  for (const claim of claims.filter((c) => c.status?.phase === 'Pending')) {
    const why = await claimTrouble(clients, namespace, claim);
    if (why) pendingClaims[claim.metadata!.name!] = why;
  }
  const fromPods = podTrouble(pods, pendingClaims);
  if (fromPods) return fromPods;
  if (pods.length < target.spec.replicas) {
    const sts = objectNames(target.name).statefulSet;
    const failed = newest(
      await events(
        clients,
        namespace,
        `involvedObject.kind=StatefulSet,involvedObject.name=${sts},reason=FailedCreate`,
      ),
    );
    if (failed?.message) return clip(`StatefulSet ${sts} cannot create its pods: ${failed.message}`);
  }
  return undefined;
}

/**
 * Why a claim is Pending: its newest Warning (ProvisioningFailed …), else its newest Event
 * (ExternalProvisioning: no provisioner answers). Undefined when it only waits for its pod to be
 * scheduled (WaitForFirstConsumer binding): then the pod's own trouble is the one to tell.
 */
async function claimTrouble(
  clients: KubeClients,
  namespace: string,
  claim: V1PersistentVolumeClaim,
): Promise<string | undefined> {
  const name = claim.metadata!.name!;
  const all = await events(
    clients,
    namespace,
    `involvedObject.kind=PersistentVolumeClaim,involvedObject.name=${name}`,
  );
  const event = newest(all.filter((e) => e.type === 'Warning')) ?? newest(all);
  if (!event || WAITING_FOR_POD.has(event.reason ?? '')) return undefined;
  const storageClass = claim.spec?.storageClassName;
  const said = `${event.reason}: ${event.message ?? ''}`;
  return storageClass ? `${said} (StorageClass "${storageClass}")` : said;
}

/** What the PV controller says of a WaitForFirstConsumer claim whose pod is not scheduled yet. */
const WAITING_FOR_POD = new Set(['WaitForFirstConsumer', 'WaitForPodScheduled']);

async function events(
  clients: KubeClients,
  namespace: string,
  fieldSelector: string,
): Promise<CoreV1Event[]> {
  const list = await kubeCall(`list Events in ${namespace}`, () =>
    clients.core.listNamespacedEvent({ namespace, fieldSelector }),
  );
  return list.items;
}

function newest(events: CoreV1Event[]): CoreV1Event | undefined {
  const at = (e: CoreV1Event) =>
    new Date(e.lastTimestamp ?? e.eventTime ?? e.metadata?.creationTimestamp ?? 0).getTime();
  return [...events].sort((a, b) => at(b) - at(a))[0];
}
