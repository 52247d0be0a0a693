import type { Database, DatabaseBackup, DatabaseSpecInput, Engine } from '../../crds';
import { ENGINES, parseDatabaseSpec } from '../../crds';
import {
  DATABASE_NAME_MESSAGES,
  DATABASE_NAME_PATTERN,
  MAX_DATABASE_NAME_LENGTH,
} from '../../crds/database-name';
import { databaseManifest } from '../../crds/example-manifests';
import { follow, timeoutOption } from '../follow';
import { createDatabase, findDatabase, getBackup, kubeTarget, listBackups } from '../kube';
import type { Invocation } from '../main';
import { UserError, paint, parseFormat, serialize } from '../output';

/**
 * `restore <backup> --to <new-db>`: a new Database that starts from a Succeeded DatabaseBackup
 * (spec.bootstrap.fromBackup, README "Restore"), shaped like the backup's Database: engine, the
 * version it runs, members, storage and resources read from it, or, when it is gone, what the
 * backup records (its engine label) and --version. With --wait, follows the new Database until
 * it is Ready or the restore failed.
 */

export interface RestorePlan {
  manifest: ReturnType<typeof databaseManifest>;
  /** Where each part of the spec came from, for the user. */
  from: string;
}

/** The new Database's name, checked as the API server would (it names Services and pods). */
export function checkNewName(name: string | undefined): string {
  if (!name) throw new UserError('--to NEW-DB is missing: the name of the Database to create');
  if (name.length > MAX_DATABASE_NAME_LENGTH)
    throw new UserError(`--to ${name}: ${DATABASE_NAME_MESSAGES.tooLong}`);
  if (!DATABASE_NAME_PATTERN.test(name))
    throw new UserError(`--to ${name}: ${DATABASE_NAME_MESSAGES.pattern}`);
  return name;
}

/**
 * spec.bootstrap.fromBackup names a whole backup: the API has no point in time to restore to.
 * Refused, naming the newest Succeeded backup finished by that time when there is one. Pure.
 */
export function pitrRefusal(time: string, backups: DatabaseBackup[], namespace: string): UserError {
  const at = Date.parse(time);
  const before = Number.isNaN(at)
    ? undefined
    : backups
        .filter((b) => b.status?.phase === 'Succeeded' && Date.parse(String(b.status.finishedAt)) <= at)
        .sort(
          (a, b) => Date.parse(String(b.status!.finishedAt)) - Date.parse(String(a.status!.finishedAt)),
        )[0];
  return new UserError(
    'point-in-time restore (--time) is not available yet: spec.bootstrap.fromBackup restores a whole backup, as it was when it finished',
    before
      ? `restore the newest backup finished by ${time} instead: kubectl durable restore ${before.metadata.name} --to NEW-DB -n ${namespace}`
      : `pick a backup finished before that time: kubectl durable backups DB -n ${namespace}`,
  );
}

/** Why the backup cannot be restored (with the fix), or undefined. Pure. */
export function restoreRefusal(b: DatabaseBackup, namespace: string): UserError | undefined {
  const phase = b.status?.phase;
  if (phase === 'Succeeded' && b.status?.location) return undefined;
  const name = b.metadata.name;
  return new UserError(
    `backup ${name} is ${phase ?? 'Pending'}, not Succeeded: only a completed backup can be restored`,
    phase === 'Failed'
      ? `retry it first: kubectl durable retry-backup ${name} -n ${namespace}`
      : `wait for it to finish: kubectl durable backups ${b.spec.databaseName} -n ${namespace}`,
  );
}

/**
 * The new Database's manifest. From the source Database when it is there (and of the backup's
 * engine): the version that runs (status.currentVersion; spec.image only when it is that
 * version's), replicas, storage, resources or size, and an S3 target for an S3 backup (the
 * restore Job reads the bucket with it). Else from the backup: its engine label, and `version`
 * (--version), which it does not record. Pure.
 */
export function restorePlan(opts: {
  namespace: string;
  name: string;
  backup: DatabaseBackup;
  source?: Database;
  version?: string;
}): RestorePlan {
  const { namespace, name, backup, version } = opts;
  const backupName = backup.metadata.name!;
  const label = backup.metadata.labels?.['app.kubernetes.io/name'];
  const engine = (ENGINES as readonly string[]).includes(label ?? '') ? (label as Engine) : undefined;
  const s3 = backup.status?.location?.startsWith('s3://');
  const source = opts.source && (!engine || opts.source.spec.engine === engine) ? opts.source : undefined;
  const bootstrap = { fromBackup: { name: backupName } };
  let spec: DatabaseSpecInput;
  let from: string;
  if (source) {
    const s = source.spec;
    const running = source.status?.currentVersion ?? s.version;
    spec = {
      engine: s.engine,
      version: version ?? running,
      ...(s.image && !version && running === s.version && { image: s.image }),
      // As read from the API: what the server stored, defaults perhaps not filled in.
      replicas: s.replicas ?? 1,
      ...(s.storage && { storage: s.storage }),
      ...(s.resources && { resources: s.resources }),
      ...(s.size && { size: s.size }),
      ...(s3 && s.backup?.target?.s3 && { backup: { enabled: false, target: { s3: s.backup.target.s3 } } }),
      bootstrap,
    };
    from = `from the Database ${source.metadata.name}: ${s.engine} ${version ? `${version} (--version)` : running}, ${s.replicas ?? 1} member(s), storage ${s.storage?.size ?? 'default'}${s.resources ? ', its resources' : s.size ? `, size ${s.size}` : ''}${spec.backup ? ', its S3 target' : ''}`;
  } else {
    const gone =
      opts.source === undefined
        ? `its Database ${backup.spec.databaseName} is gone`
        : `the Database ${backup.spec.databaseName} now runs ${opts.source.spec.engine}, not this backup's engine`;
    if (!engine) {
      throw new UserError(
        `backup ${backupName} records no engine (label app.kubernetes.io/name) and ${gone}`,
        `write the Database yourself with spec.bootstrap.fromBackup: {name: ${backupName}} (README "Restore")`,
      );
    }
    if (!version) {
      throw new UserError(
        `${gone}, and backup ${backupName} records its engine (${engine}) but not its version`,
        `pass the version to restore into: --version V (the version the Database ran, or a newer one)`,
      );
    }
    if (s3) {
      throw new UserError(
        `backup ${backupName} is in S3 (${backup.status!.location}) and ${gone}: the new Database needs spec.backup.target.s3 (bucket credentials)`,
        `print the manifest with --dry-run -o yaml after naming an existing Database's S3 target, or write it as README "Restore" shows`,
      );
    }
    spec = { engine, version, bootstrap };
    from = `from backup ${backupName} (${gone}): engine ${engine} (its label), version ${version} (--version), 1 member, default storage`;
  }
  const parsed = parseDatabaseSpec(spec);
  if (!parsed.ok) throw new UserError(`the restored Database's spec is not valid: ${parsed.message}`);
  return { manifest: databaseManifest(name, spec, namespace), from };
}

/** The new Database's restore has ended: Ready, or a failure its conditions name. Pure. */
export function restoreEnded(db: Database | undefined): { ok: boolean; message: string } | undefined {
  const s = db?.status;
  if (!s) return undefined;
  const restored = s.conditions?.find((c) => c.type === 'Restored');
  const ready = s.conditions?.find((c) => c.type === 'Ready');
  if (s.phase === 'Ready' && restored?.status === 'True') {
    return { ok: true, message: restored.message ?? 'restored' };
  }
  if (restored?.status === 'False' && restored.reason !== 'Restoring') {
    return { ok: false, message: `${restored.reason}: ${restored.message ?? ''}` };
  }
  if (s.phase === 'Failed')
    return { ok: false, message: `${ready?.reason ?? 'Failed'}: ${ready?.message ?? ''}` };
  return undefined;
}

export async function restore(inv: Invocation): Promise<number> {
  const { values, io } = inv;
  const t = kubeTarget(values as { kubeconfig?: string; context?: string; namespace?: string });
  const backupName = inv.args[0]!;
  const name = checkNewName(typeof values.to === 'string' ? values.to : undefined);
  const format = values.output === undefined ? undefined : parseFormat(values.output);
  const timeoutSeconds = timeoutOption(values.timeout, 900);
  const version = typeof values.version === 'string' ? values.version : undefined;
  const backup = await getBackup(t, backupName);
  if (!backup) {
    throw new UserError(
      `DatabaseBackup ${backupName} not found in namespace ${t.namespace}`,
      `kubectl get databasebackups -n ${t.namespace}`,
    );
  }
  if (typeof values.time === 'string') {
    throw pitrRefusal(values.time, await listBackups(t, backup.spec.databaseName), t.namespace);
  }
  const refusal = restoreRefusal(backup, t.namespace);
  if (refusal) throw refusal;
  if (await findDatabase(t, name)) {
    throw new UserError(
      `Database ${name} exists already in ${t.namespace}: a restore makes a new Database`,
      `choose another --to, or delete it first: kubectl delete database ${name} -n ${t.namespace}`,
    );
  }
  const source = await findDatabase(t, backup.spec.databaseName);
  const plan = restorePlan({ namespace: t.namespace, name, backup, source, version });
  io.err(`${plan.from}\n`);
  if (values['dry-run']) {
    io.out(serialize(plan.manifest, format === 'json' ? 'json' : 'yaml'));
    return 0;
  }
  await createDatabase(t, plan.manifest);
  io.err(`database.durable.dev/${name} created, restoring backup ${backupName}\n`);
  if (format && format !== 'table') io.out(serialize(plan.manifest, format));
  if (!values.wait) return 0;
  const started = Date.now();
  const { seen, timedOut } = await follow({
    read: () => findDatabase(t, name),
    done: (d) => restoreEnded(d) !== undefined,
    progress: (d) => {
      const restored = d?.status?.conditions?.find((c) => c.type === 'Restored');
      return `${d?.status?.phase ?? 'Pending'}${restored ? `  ${restored.reason}: ${restored.message ?? ''}` : ''}`;
    },
    timeoutSeconds,
    io,
  });
  if (timedOut) {
    io.err(
      `${name} is still ${seen?.status?.phase ?? 'Pending'} after ${timeoutSeconds}s; it goes on: kubectl durable status ${name} -n ${t.namespace}\n`,
    );
    return 1;
  }
  const end = restoreEnded(seen)!;
  const took = `${Math.round((Date.now() - started) / 1000)}s`;
  io.out(
    end.ok
      ? `restore of ${backupName} into ${name} ${paint('Ready', 'green', io.tty)} in ${took}: ${end.message}\n`
      : `restore of ${backupName} into ${name} ${paint('Failed', 'red', io.tty)} after ${took}: ${end.message}\n`,
  );
  return end.ok ? 0 : 1;
}
