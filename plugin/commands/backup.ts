import { API_VERSION, DATABASE_BACKUP, LABEL_BACKUP_DATABASE, type DatabaseBackup } from '../../crds';
import { fitName } from '../../contracts/backup-names';
import { checkName, createBackup, getBackup, getDatabase, kubeTarget } from '../kube';
import type { Invocation } from '../main';
import { UserError, colourOf, humanBytes, paint } from '../output';

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

/** The outcome line of a finished backup. */
export function outcome(b: DatabaseBackup, tty: boolean): string {
  const s = b.status ?? {};
  const took =
    s.startedAt && s.finishedAt
      ? ` in ${Math.round((Date.parse(String(s.finishedAt)) - Date.parse(String(s.startedAt))) / 1000)}s`
      : '';
  const phase = paint(s.phase ?? 'Pending', colourOf(s.phase), tty);
  const attempts = s.attempts ? `, ${s.attempts} attempt${s.attempts > 1 ? 's' : ''}` : '';
  if (s.phase === 'Succeeded') {
    return `backup ${b.metadata.name} ${phase}${took}${attempts}: ${humanBytes(s.sizeBytes)} at ${s.location ?? '?'}\n`;
  }
  return `backup ${b.metadata.name} ${phase}${took}${attempts}: ${s.error ?? 'no error recorded'}\n`;
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
  const timeoutSeconds = values.timeout === undefined ? 900 : Number(values.timeout);
  if (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 1) {
    throw new UserError(`--timeout must be a whole number of seconds, not '${String(values.timeout)}'`);
  }
  if (await getBackup(t, name)) {
    throw new UserError(
      `DatabaseBackup ${name} exists already in ${t.namespace}`,
      'choose another --name, or retry it: kubectl annotate dbb NAME durable.dev/retry=$(date +%s) --overwrite',
    );
  }
  await createBackup(t, backupManifest(t.namespace, name, db));
  io.err(`databasebackup.durable.dev/${name} created\n`);
  if (!values.wait) {
    io.out(`${name}\n`);
    return 0;
  }
  const deadline = Date.now() + timeoutSeconds * 1000;
  let last = '';
  for (;;) {
    const b = await getBackup(t, name);
    const phase = b?.status?.phase;
    const seen = `${phase ?? 'Pending'}${b?.status?.attempts ? ` attempt ${b.status.attempts}` : ''}`;
    if (seen !== last) {
      if (phase !== 'Succeeded' && phase !== 'Failed')
        io.err(`  ${seen}${b?.status?.jobName ? ` (Job ${b.status.jobName})` : ''}\n`);
      last = seen;
    }
    if (b && (phase === 'Succeeded' || phase === 'Failed')) {
      io.out(outcome(b, io.tty));
      return phase === 'Succeeded' ? 0 : 1;
    }
    if (Date.now() > deadline) {
      io.err(
        `backup ${name} still ${phase ?? 'Pending'} after ${timeoutSeconds}s; it goes on: kubectl durable backups ${db} -n ${t.namespace}\n`,
      );
      return 1;
    }
    await new Promise((r) => setTimeout(r, 1_000));
  }
}
