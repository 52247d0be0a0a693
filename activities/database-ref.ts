import { DATABASE, GROUP, VERSION } from '../crds';
import type { Database } from '../crds';
import { FailureTypes, kubeRead } from './errors';
import type { KubeClients } from './kube-clients';
import type { DatabaseRef } from './types';
import { ApplicationFailure } from '@temporalio/activity';

/** Coordinates of the Database custom resource for CustomObjectsApi calls. */
export function databaseResource(ref: Pick<DatabaseRef, 'namespace' | 'name'>) {
  return {
    group: GROUP,
    version: VERSION,
    plural: DATABASE.plural,
    namespace: ref.namespace,
    name: ref.name,
  };
}

/**
 * Reads this incarnation of the Database; undefined when it is gone or was re-created (other
 * uid). Activities of an old incarnation must not touch the new one.
 */
export async function readDatabase(clients: KubeClients, ref: DatabaseRef): Promise<Database | undefined> {
  const db = await kubeRead(
    `Database ${ref.namespace}/${ref.name}`,
    () => clients.custom.getNamespacedCustomObject(databaseResource(ref)) as Promise<Database>,
  );
  return db?.metadata.uid === ref.uid ? db : undefined;
}

export function databaseGone(ref: DatabaseRef): ApplicationFailure {
  return ApplicationFailure.nonRetryable(
    `Database ${ref.namespace}/${ref.name} (uid ${ref.uid}) no longer exists`,
    FailureTypes.DatabaseGone,
  );
}
