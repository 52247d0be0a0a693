import * as k8s from '@kubernetes/client-node';
import { DATABASE_BACKUP, GROUP, VERSION, type DatabaseBackup } from '../../crds';
import { databaseBackupManifest } from '../../crds/examples.table';
import { failJobPods } from '../../tools/stack/faults';
import { waitFor } from '../../tools/stack/wait';
import { kubeConfig, kubectlOk, stackInfo } from './stack';

/** DatabaseBackup helpers for the backup tests (kubectl as a user would, reads through the API). */

export async function createBackup(namespace: string, name: string, databaseName: string): Promise<void> {
  // `kubectl create`, as the README tells a user to run an on-demand backup.
  await kubectlOk(
    ['create', '-f', '-'],
    JSON.stringify(databaseBackupManifest(name, { databaseName }, namespace)),
  );
}

export async function getBackup(namespace: string, name: string): Promise<DatabaseBackup | undefined> {
  try {
    return (await kubeConfig().makeApiClient(k8s.CustomObjectsApi).getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: DATABASE_BACKUP.plural,
      namespace,
      name,
    })) as DatabaseBackup;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
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

/** Reasons of the Events on one object of a kind, oldest first. */
export async function eventReasons(namespace: string, kind: string, name: string): Promise<string[]> {
  const out = await kubectlOk([
    'get',
    'events',
    '-n',
    namespace,
    '--field-selector',
    `involvedObject.kind=${kind},involvedObject.name=${name}`,
    '--sort-by=.metadata.creationTimestamp',
    '-o',
    'jsonpath={range .items[*]}{.reason}{"\\n"}{end}',
  ]);
  return out.split('\n').filter(Boolean);
}

/** The pods of these Jobs fail (kwok fault stage) with `message` as their termination message. */
export function failJobs(jobs: string[], message: string): Promise<void> {
  return failJobPods(stackInfo().kubernetes.kubeconfig, jobs, message);
}
