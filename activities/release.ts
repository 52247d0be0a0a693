import type { DeletionPolicy } from '../crds';
import { isNotFound, kubeCall } from './errors';
import type { KubeClients } from './kube-clients';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY, objectNames } from './manifests';
import type { DatabaseRef } from './types';

/**
 * The operator's part of deleting a Database, before its finalizer is removed. Everything it owns
 * carries an owner reference, so the garbage collector removes the StatefulSet, Services,
 * ConfigMap and Secret once the Database is gone; what needs deciding is the data:
 * - Delete: the data volumes (PVCs, which have no owner reference to the Database) are deleted.
 * - Retain: the PVCs and the credentials Secret are orphaned, so that a Database re-created with
 *   the same name finds its data and the passwords that data was initialised with.
 * Idempotent: deleting what is already gone, or orphaning twice, is a no-op.
 */
export async function releaseDatabase(
  clients: KubeClients,
  ref: DatabaseRef,
  policy: DeletionPolicy,
): Promise<void> {
  const claims = await kubeCall(`list PersistentVolumeClaims of ${ref.namespace}/${ref.name}`, () =>
    clients.core.listNamespacedPersistentVolumeClaim({
      namespace: ref.namespace,
      labelSelector: `${LABEL_INSTANCE}=${ref.name},${LABEL_MANAGED_BY}=${MANAGED_BY}`,
    }),
  );
  for (const claim of claims.items) {
    const name = claim.metadata!.name!;
    if (policy === 'Delete') {
      await kubeCall(`delete PersistentVolumeClaim ${ref.namespace}/${name}`, () =>
        ignoreNotFound(
          clients.core.deleteNamespacedPersistentVolumeClaim({ name, namespace: ref.namespace }),
        ),
      );
    } else if (claim.metadata?.ownerReferences?.length) {
      await orphan(clients, 'PersistentVolumeClaim', ref.namespace, name);
    }
  }
  if (policy === 'Retain') await orphan(clients, 'Secret', ref.namespace, objectNames(ref.name).secret);
}

/** Drops an object's owner references (a JSON merge patch with null removes the field). */
async function orphan(
  clients: KubeClients,
  kind: 'Secret' | 'PersistentVolumeClaim',
  namespace: string,
  name: string,
) {
  await kubeCall(`orphan ${kind} ${namespace}/${name}`, () =>
    ignoreNotFound(
      clients.objects.patch(
        {
          apiVersion: 'v1',
          kind,
          metadata: { name, namespace, ownerReferences: null as unknown as undefined },
        },
        undefined,
        undefined,
        undefined,
        undefined,
        'application/merge-patch+json',
      ),
    ),
  );
}

async function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try {
    return await p;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}
