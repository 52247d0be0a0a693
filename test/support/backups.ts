import * as k8s from '@kubernetes/client-node';
import type { Client, Connection } from '@temporalio/client';
import { DATABASE_BACKUP, GROUP, VERSION, type DatabaseBackup, type DatabaseSpecInput } from '../../crds';
import { databaseBackupManifest } from '../../crds/examples.table';
import { failJobPods } from '../../tools/stack/faults';
import { waitFor } from '../../tools/stack/wait';
import {
  applyDatabase,
  getCustomObject,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from './operator';
import {
  createNamespace,
  deleteNamespace,
  kubeConfig,
  kubectlOk,
  stackInfo,
  temporalClient,
  temporalConnection,
} from './stack';

/** DatabaseBackup helpers for the backup tests (kubectl as a user would, reads through the API). */

export async function createBackup(namespace: string, name: string, databaseName: string): Promise<void> {
  // `kubectl create`, as the README tells a user to run an on-demand backup.
  await kubectlOk(
    ['create', '-f', '-'],
    JSON.stringify(databaseBackupManifest(name, { databaseName }, namespace)),
  );
}

export function getBackup(namespace: string, name: string): Promise<DatabaseBackup | undefined> {
  return getCustomObject<DatabaseBackup>(DATABASE_BACKUP.plural, namespace, name);
}

export async function listBackups(namespace: string): Promise<DatabaseBackup[]> {
  const list = (await kubeConfig().makeApiClient(k8s.CustomObjectsApi).listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: DATABASE_BACKUP.plural,
    namespace,
  })) as {
    items: DatabaseBackup[];
  };
  return list.items;
}

/** Waits until the backup reaches a final phase; returns it. */
export function waitForBackupDone(
  namespace: string,
  name: string,
  timeoutMs = 120_000,
): Promise<DatabaseBackup> {
  return waitFor(
    `DatabaseBackup ${namespace}/${name} to finish`,
    async () => {
      const b = await getBackup(namespace, name);
      const phase = b?.status?.phase;
      return phase === 'Succeeded' || phase === 'Failed' ? b : undefined;
    },
    { timeoutMs, intervalMs: 300 },
  );
}

/** Names of the Jobs in the namespace, sorted. */
export async function jobNames(namespace: string): Promise<string[]> {
  const out = await kubectlOk(['get', 'jobs', '-n', namespace, '-o', 'jsonpath={.items[*].metadata.name}']);
  return out.split(/\s+/).filter(Boolean).sort();
}

/** The pods of these Jobs fail (kwok fault stage) with `message` as their termination message. */
export function failJobs(jobs: string[], message: string): Promise<void> {
  return failJobPods(stackInfo().kubernetes.kubeconfig, jobs, message);
}

/** What a backup test works with; filled in by its beforeAll. */
export interface BackupTestBed {
  ns: string;
  op: RunningOperator;
  client: Client;
}

/**
 * Registers the beforeAll/afterAll of a backup test file: a namespace of its own, an in-process
 * operator (worker and watcher) for it, a Temporal client, and the Database `db` applied and Ready.
 */
export function withReadyDatabase(prefix: string, db: string, spec: DatabaseSpecInput): BackupTestBed {
  const bed = {} as BackupTestBed;
  let connection: Connection | undefined;
  beforeAll(async () => {
    bed.ns = await createNamespace(prefix);
    bed.op = await startOperator(bed.ns);
    connection = await temporalConnection();
    bed.client = temporalClient(connection);
    await applyDatabase(bed.ns, db, spec);
    await waitForPhase(bed.ns, db, 'Ready');
  });
  afterAll(async () => {
    await bed.op?.stop();
    await connection?.close();
    if (bed.ns) await deleteNamespace(bed.ns);
  });
  return bed;
}
