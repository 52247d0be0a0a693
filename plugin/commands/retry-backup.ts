import { RETRY_ANNOTATION, type DatabaseBackup } from '../../crds';
import { annotateBackup, checkName, findDatabase, getBackup, kubeTarget } from '../kube';
import type { Invocation } from '../main';
import { UserError } from '../output';
import { followBackup, timeoutOption } from '../follow';

/**
 * `retry-backup <backup>`: the retry README "Backups" documents, a new value of the annotation
 * durable.dev/retry on a Failed DatabaseBackup (the watcher starts a new run of the same backup,
 * its attempts numbered on). With --wait, follows it until that new run ends.
 */

/** Why the backup cannot be retried (with the fix), or undefined. Pure. */
export function retryRefusal(b: DatabaseBackup, namespace: string): UserError | undefined {
  const name = b.metadata.name;
  const db = b.spec.databaseName;
  const phase = b.status?.phase;
  if (b.metadata.deletionTimestamp) {
    return new UserError(
      `DatabaseBackup ${name} is being deleted`,
      `take a new one: kubectl durable backup ${db} -n ${namespace}`,
    );
  }
  if (phase === 'Failed') return undefined;
  if (phase === 'Succeeded') {
    return new UserError(
      `backup ${name} Succeeded: only a Failed backup is retried`,
      `for a newer one, take a new backup: kubectl durable backup ${db} -n ${namespace}`,
    );
  }
  const attempt = b.status?.attempts ? ` (attempt ${b.status.attempts})` : '';
  return new UserError(
    `backup ${name} is ${phase ?? 'Pending'}${attempt}, not Failed: a backup still running is not retried (its run retries its attempts itself)`,
    `follow it: kubectl durable backups ${db} -n ${namespace}`,
  );
}

/** A value of the retry annotation no run was started for: the time in seconds, made unique. */
export function retryToken(now: Date, current: string | undefined): string {
  const token = String(Math.floor(now.getTime() / 1000));
  return token === current ? `${token}-${now.getTime() % 1000}` : token;
}

export async function retryBackup(inv: Invocation): Promise<number> {
  const { values, io } = inv;
  const t = kubeTarget(values as { kubeconfig?: string; context?: string; namespace?: string });
  const name = checkName(inv.args[0]!, 'DatabaseBackup', true);
  const timeoutSeconds = timeoutOption(values.timeout, 900);
  const b = await getBackup(t, name);
  if (!b) {
    throw new UserError(
      `DatabaseBackup ${name} not found in namespace ${t.namespace}`,
      `kubectl get databasebackups -n ${t.namespace}`,
    );
  }
  const refusal = retryRefusal(b, t.namespace);
  if (refusal) throw refusal;
  const db = b.spec.databaseName;
  if (!(await findDatabase(t, db))) {
    throw new UserError(
      `the Database ${db} of backup ${name} no longer exists in ${t.namespace}: a retry would have nothing to dump`,
      `restore what there is instead: kubectl durable restore ${name} --to NEW-DB -n ${t.namespace}`,
    );
  }
  const before = { attempts: b.status?.attempts, finishedAt: b.status?.finishedAt };
  const token = retryToken(new Date(), b.metadata.annotations?.[RETRY_ANNOTATION]);
  await annotateBackup(t, name, RETRY_ANNOTATION, token);
  io.err(
    `databasebackup.durable.dev/${name} annotated ${RETRY_ANNOTATION}=${token} (it failed after ${before.attempts ?? 0} attempt(s))\n`,
  );
  if (!values.wait) return 0;
  return followBackup(t, io, {
    name,
    database: db,
    timeoutSeconds,
    // The new run has ended once the backup is final again with another attempt or finish time.
    ended: (now) => now.status?.attempts !== before.attempts || now.status?.finishedAt !== before.finishedAt,
    waiting: 'retry requested, waiting for the operator to start it',
  });
}
