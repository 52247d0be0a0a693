import { ApplicationFailure } from '@temporalio/activity';
import { FINALIZER } from '../crds';
import { databaseGone, databaseResource, readDatabase } from './database-ref';
import { kubeCall } from './errors';
import type { KubeClients } from './kube-clients';
import type { DatabaseRef } from './types';

/**
 * Changes the finalizer list with a JSON patch guarded by `test` operations on uid and
 * resourceVersion, so a concurrent writer's finalizers are never overwritten. A failed test comes
 * back as 422, which classify() would call permanent: here it means "re-read and try again".
 * Returns false when the Database is gone.
 */
async function patchFinalizers(
  clients: KubeClients,
  ref: DatabaseRef,
  change: (finalizers: string[]) => string[] | undefined,
  what: string,
): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const db = await readDatabase(clients, ref);
    if (!db) return false;
    const current = db.metadata.finalizers ?? [];
    const next = change(current);
    if (!next) return true; // already as wanted
    try {
      await clients.custom.patchNamespacedCustomObject({
        ...databaseResource(ref),
        body: [
          { op: 'test', path: '/metadata/uid', value: ref.uid },
          { op: 'test', path: '/metadata/resourceVersion', value: db.metadata.resourceVersion },
          { op: 'replace', path: '/metadata/finalizers', value: next },
        ],
      });
      return true;
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 409 || code === 422) continue; // lost a race with another writer: re-read
      if (code === 404) return false;
      throw err;
    }
  }
  throw ApplicationFailure.retryable(`${what}: the Database kept changing under the patch`, 'Conflict');
}

/** Adds durable.dev/finalizer so that deletion waits for the workflow to clean up. */
export async function addFinalizer(clients: KubeClients, ref: DatabaseRef): Promise<void> {
  const what = `add finalizer to Database ${ref.namespace}/${ref.name}`;
  const exists = await kubeCall(what, () =>
    patchFinalizers(clients, ref, (f) => (f.includes(FINALIZER) ? undefined : [...f, FINALIZER]), what),
  );
  if (!exists) throw databaseGone(ref);
}

/** Removes the finalizer: the last step of a deletion. A Database already gone is fine. */
export async function removeFinalizer(clients: KubeClients, ref: DatabaseRef): Promise<void> {
  const what = `remove finalizer from Database ${ref.namespace}/${ref.name}`;
  await kubeCall(what, () =>
    patchFinalizers(
      clients,
      ref,
      (f) => (f.includes(FINALIZER) ? f.filter((x) => x !== FINALIZER) : undefined),
      what,
    ),
  );
}
