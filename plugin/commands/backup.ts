import { API_VERSION, DATABASE_BACKUP, LABEL_BACKUP_DATABASE } from '../../crds';
import { fitName } from '../../contracts/backup-names';
import { checkName, createBackup, getBackup, getDatabase, kubeTarget } from '../kube';
import type { Invocation } from '../main';
import { UserError } from '../output';
import { followBackup, timeoutOption } from '../follow';

/**
 * `backup <db>`: the on-demand backup the README describes (a DatabaseBackup with reason
 * `manual`; the watcher starts its workflow `backup/<ns>/<name>`). With --wait, follows the
 * object until its phase is final and exits 1 if it Failed.
 */
export function manualBackupName(database: string, now: Date): string {
  const stamp = now.toISOString().slice(0, 19).replace(/[-T:]/g, '');
  return fitName(`${database}-manual-${stamp}`);
}

export function backupManifest(namespace: string, name: string, database: string): object {
  return {
    apiVersion: API_VERSION,
    kind: DATABASE_BACKUP.kind,
    metadata: { name, namespace, labels: { [LABEL_BACKUP_DATABASE]: database } },
    spec: { databaseName: database, reason: 'manual' },
  };
}

export async function backup(inv: Invocation): Promise<number> {
  const { values, io } = inv;
  const t = kubeTarget(values as { kubeconfig?: string; context?: string; namespace?: string });
  const db = inv.args[0]!;
  await getDatabase(t, db);
  const name = checkName(
    typeof values.name === 'string' ? values.name : manualBackupName(db, new Date()),
    'DatabaseBackup',
    true,
  );
  const timeoutSeconds = timeoutOption(values.timeout, 900);
  if (await getBackup(t, name)) {
    throw new UserError(
      `DatabaseBackup ${name} exists already in ${t.namespace}`,
      `choose another --name, or retry a Failed one: kubectl durable retry-backup ${name} -n ${t.namespace}`,
    );
  }
  await createBackup(t, backupManifest(t.namespace, name, db));
  io.err(`databasebackup.durable.dev/${name} created\n`);
  if (!values.wait) {
    io.out(`${name}\n`);
    return 0;
  }
  return followBackup(t, io, { name, database: db, timeoutSeconds });
}
