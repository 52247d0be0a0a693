import { ApplicationFailure } from '@temporalio/activity';
import { FailureTypes, isNotFound, kubeCall } from './errors';
import type { KubeClients } from './kube-clients';
import type { DatabaseTarget } from './types';

/**
 * Checks what only the cluster can tell about a spec that passed the schema. A failure here is
 * permanent for this generation: the workflow reports it as a condition and an Event and waits
 * for the spec to change, instead of applying objects that could never become ready.
 */
export async function checkPrerequisites(clients: KubeClients, target: DatabaseTarget): Promise<void> {
  const storageClassName = target.spec.storage.storageClassName;
  if (storageClassName) {
    const found = await kubeCall(`read StorageClass ${storageClassName}`, async () => {
      try {
        await clients.storage.readStorageClass({ name: storageClassName });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    });
    if (!found) {
      throw ApplicationFailure.nonRetryable(
        `StorageClass "${storageClassName}" does not exist in the cluster`,
        FailureTypes.Unsatisfiable,
      );
    }
  }
}
