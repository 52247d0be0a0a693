import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { ROLE_LABEL } from '../crds';
import { isNotFound, kubeCall, kubeRead } from './errors';
import type { KubeClients } from './kube-clients';
import { POD_INDEX_LABEL, selectorLabels } from './manifests/labels';
import type { DatabaseTarget } from './types';
import { CONTAINER_NAME } from '../contracts/names';

export type PodRole = 'primary' | 'replica';

/** The member pods of a Database that exist now (terminating ones included). */
export async function listMemberPods(clients: KubeClients, target: DatabaseTarget): Promise<V1Pod[]> {
  const labelSelector = Object.entries(selectorLabels(target))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const pods = await kubeCall(`list Pods of ${target.namespace}/${target.name}`, () =>
    clients.core.listNamespacedPod({ namespace: target.namespace, labelSelector }),
  );
  return pods.items;
}

/** One member pod by name; undefined when it does not exist. */
export function readMemberPod(
  clients: KubeClients,
  target: DatabaseTarget,
  name: string,
): Promise<V1Pod | undefined> {
  return kubeRead(`Pod ${target.namespace}/${name}`, () =>
    clients.core.readNamespacedPod({ name, namespace: target.namespace }),
  );
}

/**
 * Deletes a member pod; with `uid`, only that pod (a newer one of the same name is left).
 * Returns false when it was gone already.
 */
export async function deleteMemberPod(
  clients: KubeClients,
  target: DatabaseTarget,
  name: string,
  uid?: string,
): Promise<boolean> {
  return kubeCall(`delete Pod ${target.namespace}/${name}`, async () => {
    try {
      await clients.core.deleteNamespacedPod({
        name,
        namespace: target.namespace,
        ...(uid && { body: { preconditions: { uid } } }),
      });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  });
}

/** The last `sinceSeconds` of a member's engine log (its database container), as text. */
export async function readEngineLog(
  clients: KubeClients,
  target: DatabaseTarget,
  name: string,
  sinceSeconds: number,
): Promise<string> {
  const log = await kubeCall(`read the log of Pod ${target.namespace}/${name}`, () =>
    clients.core.readNamespacedPodLog({
      name,
      namespace: target.namespace,
      container: CONTAINER_NAME,
      sinceSeconds,
    }),
  );
  return typeof log === 'string' ? log : '';
}

/** A member pod's ordinal, from the label the StatefulSet controller sets. */
export function ordinalOf(pod: V1Pod): number | undefined {
  const value = pod.metadata?.labels?.[POD_INDEX_LABEL];
  return value !== undefined && /^[0-9]+$/.test(value) ? Number(value) : undefined;
}

/**
 * Gives each wanted member pod the role label of its role in the record: the primary `primary`,
 * the others `replica` (the read-only Service selects these). Only pods whose label differs are
 * patched, so a pass that finds them right writes nothing. Returns the pods relabelled.
 */
export async function labelMemberRoles(
  clients: KubeClients,
  target: DatabaseTarget,
  primary: number,
): Promise<string[]> {
  const changed: string[] = [];
  for (const pod of await listMemberPods(clients, target)) {
    const ordinal = ordinalOf(pod);
    const name = pod.metadata?.name;
    if (
      ordinal === undefined ||
      !name ||
      ordinal >= target.spec.replicas ||
      pod.metadata?.deletionTimestamp
    ) {
      continue;
    }
    const role: PodRole = ordinal === primary ? 'primary' : 'replica';
    if (pod.metadata?.labels?.[ROLE_LABEL] === role) continue;
    await setRoleLabel(clients, target, name, role);
    changed.push(`${name} ${role}`);
  }
  return changed;
}

/** Sets (or with null removes) a pod's role label; a pod that is gone is no failure. */
export async function setRoleLabel(
  clients: KubeClients,
  target: DatabaseTarget,
  pod: string,
  role: PodRole | null,
): Promise<void> {
  await kubeCall(`label Pod ${target.namespace}/${pod} ${ROLE_LABEL}=${role ?? '-'}`, async () => {
    try {
      await clients.core.patchNamespacedPod(
        { name: pod, namespace: target.namespace, body: { metadata: { labels: { [ROLE_LABEL]: role } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  });
}
