import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { kubeCall, kubeRead } from './errors';
import { FIELD_MANAGER, type KubeClients } from './kube-clients';

export interface ApplyResult<T> {
  object: T;
  /** created | updated | unchanged — read before the apply, so a no-op apply is recognised. */
  outcome: 'created' | 'updated' | 'unchanged';
}

/**
 * Server-side apply with the operator's field manager. `force` takes back fields someone else
 * changed by hand: the operator is the declared owner of what it renders (that is how drift
 * is repaired). Idempotent: applying the same object twice changes nothing the second time.
 */
export async function serverSideApply<T extends KubernetesObject>(
  clients: KubeClients,
  object: T,
  what: string,
): Promise<ApplyResult<T>> {
  const before = await kubeRead(what, () =>
    clients.objects.read({
      apiVersion: object.apiVersion!,
      kind: object.kind!,
      metadata: { name: object.metadata!.name!, namespace: object.metadata!.namespace! },
    }),
  );
  const after = await kubeCall(`apply ${what}`, () =>
    clients.objects.patch(object, undefined, undefined, FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
  );
  const outcome = !before
    ? 'created'
    : before.metadata?.resourceVersion === after.metadata?.resourceVersion
      ? 'unchanged'
      : 'updated';
  return { object: after as T, outcome };
}
