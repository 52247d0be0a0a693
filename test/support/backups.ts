import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Client, Connection } from '@temporalio/client';
import {
  DATABASE_BACKUP,
  GROUP,
  RETRY_ANNOTATION,
  VERSION,
  type DatabaseBackup,
  type DatabaseSpecInput,
} from '../../crds';
import { databaseBackupManifest } from '../../crds/example-manifests';
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
  temporalClient,
  temporalConnection,
} from './stack';
import { sql, sqlInPod, sqlLiteral, superuser, type StackEngine } from './sql';

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
  timeoutMs = 240_000,
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

/**
 * The README's one-liner to retry a failed backup (`kubectl annotate dbb … durable.dev/retry=…`);
 * waits until that new run has Succeeded and returns the backup.
 */
export async function retryBackup(namespace: string, name: string, token: string): Promise<DatabaseBackup> {
  await kubectlOk([
    'annotate',
    'databasebackup',
    name,
    '-n',
    namespace,
    `${RETRY_ANNOTATION}=${token}`,
    '--overwrite',
  ]);
  return waitFor(
    `the retry of ${namespace}/${name} to succeed`,
    async () => {
      const b = await getBackup(namespace, name);
      return b?.status?.phase === 'Succeeded' ? b : undefined;
    },
    { timeoutMs: 240_000, intervalMs: 300 },
  );
}

/** Names of the Jobs in the namespace, sorted. */
export async function jobNames(namespace: string): Promise<string[]> {
  const out = await kubectlOk(['get', 'jobs', '-n', namespace, '-o', 'jsonpath={.items[*].metadata.name}']);
  return out.split(/\s+/).filter(Boolean).sort();
}

/** Waits until the Job has a failed pod (backoffLimit 0: the attempt is over). */
export function waitForJobFailed(namespace: string, job: string, timeoutMs = 180_000): Promise<true> {
  return waitFor(
    `Job ${namespace}/${job} to fail`,
    async () => {
      const out = await kubectlOk(['get', 'job', job, '-n', namespace, '-o', 'jsonpath={.status.failed}']);
      return Number(out || 0) >= 1 || undefined;
    },
    { timeoutMs, intervalMs: 300 },
  );
}

/**
 * A real fault: the superuser's password inside the engine of member 0 no longer matches the
 * Database's Secret, so every Job (which logs in with the Secret's password over the network)
 * fails at its first connection. `restoreCredentials` sets it back from the Secret.
 */
export async function breakCredentials(namespace: string, db: string, engine: StackEngine): Promise<void> {
  const { user } = await superuser(namespace, db);
  await setPassword(namespace, db, engine, user, crypto.randomBytes(18).toString('base64url'));
}

export async function restoreCredentials(namespace: string, db: string, engine: StackEngine): Promise<void> {
  const { user, password } = await superuser(namespace, db);
  await setPassword(namespace, db, engine, user, password);
}

function setPassword(
  namespace: string,
  db: string,
  engine: StackEngine,
  user: string,
  password: string,
): Promise<string> {
  const statement =
    engine === 'postgres'
      ? `ALTER ROLE "${user.replace(/"/g, '""')}" PASSWORD ${sqlLiteral(engine, password)};`
      : // The Jobs come over the network ('%'); the pod's own socket login (localhost) stays.
        `ALTER USER ${sqlLiteral(engine, user)}@'%' IDENTIFIED BY ${sqlLiteral(engine, password)};`;
  return sqlInPod(namespace, db, engine, statement);
}

/** The text the engine's clients print when a password is refused. */
export const AUTH_FAILED: Record<StackEngine, string> = {
  postgres: 'password authentication failed',
  mariadb: 'Access denied for user',
};

/**
 * Where a `pvc://<claim>/<path>` backup lives on this machine: the stack's local-path
 * provisioner serves each claim from a directory (the PersistentVolume's `local.path`).
 */
export async function dumpFileOnHost(namespace: string, location: string): Promise<string> {
  const m = /^pvc:\/\/([^/]+)\/(.+)$/.exec(location);
  if (!m) throw new Error(`not a pvc:// location: ${location}`);
  const volume = await kubectlOk(['get', 'pvc', m[1]!, '-n', namespace, '-o', 'jsonpath={.spec.volumeName}']);
  const dir = await kubectlOk(['get', 'pv', volume, '-o', 'jsonpath={.spec.local.path}']);
  if (!dir) throw new Error(`PersistentVolume ${volume} has no local path`);
  return path.join(dir, m[2]!);
}

export const fileExists = (file: string): boolean => fs.existsSync(file);

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
export function withReadyDatabase(
  prefix: string,
  db: string,
  /** The spec, or how to make it once the namespace exists (an S3 target's Secret goes there). */
  spec: DatabaseSpecInput | ((namespace: string) => Promise<DatabaseSpecInput>),
): BackupTestBed {
  const bed = {} as BackupTestBed;
  let connection: Connection | undefined;
  beforeAll(async () => {
    bed.ns = await createNamespace(prefix);
    bed.op = await startOperator(bed.ns);
    connection = await temporalConnection();
    bed.client = temporalClient(connection);
    await applyDatabase(bed.ns, db, typeof spec === 'function' ? await spec(bed.ns) : spec);
    // Several suites provision at once on a 2-core machine: the default 90 s is tight.
    await waitForPhase(bed.ns, db, 'Ready', { timeoutMs: 300_000 });
  });
  afterAll(async () => {
    await bed.op?.stop();
    await connection?.close();
    if (bed.ns) await deleteNamespace(bed.ns);
  });
  return bed;
}

/**
 * The rows of the backup tests: PostgreSQL keeps them in the `postgres` database, MariaDB in a
 * database `shop` of its own (the dump leaves out only the system schemas).
 */
export const ordersTable = (engine: StackEngine): string =>
  engine === 'postgres' ? 'orders' : 'shop.orders';

/** What a backup taken after writeFirstRows holds, and a restore from it must read back. */
export const FIRST_ROWS = [
  { id: 1, item: 'tea' },
  { id: 2, item: 'milk' },
  { id: 3, item: 'crème brûlée' },
];

export async function writeFirstRows(ns: string, db: string, engine: StackEngine): Promise<void> {
  const table = ordersTable(engine);
  if (engine === 'mariadb') await sql(ns, db, engine, 'CREATE DATABASE shop');
  await sql(ns, db, engine, `CREATE TABLE ${table} (id int PRIMARY KEY, item varchar(40))`);
  const values = FIRST_ROWS.map((r) => `(${r.id}, ${sqlLiteral(engine, r.item)})`).join(', ');
  await sql(ns, db, engine, `INSERT INTO ${table} (id, item) VALUES ${values}`);
}

/** Written after the backup: a new row and a change to an old one; neither may be restored. */
export async function writeLaterRows(ns: string, db: string, engine: StackEngine): Promise<void> {
  const table = ordersTable(engine);
  await sql(ns, db, engine, `INSERT INTO ${table} (id, item) VALUES (4, 'after the backup')`);
  await sql(ns, db, engine, `UPDATE ${table} SET item = 'changed later' WHERE id = 1`);
}

export function readRows(
  ns: string,
  db: string,
  engine: StackEngine,
): Promise<{ id: number; item: string }[]> {
  return sql<{ id: number; item: string }>(
    ns,
    db,
    engine,
    `SELECT id, item FROM ${ordersTable(engine)} ORDER BY id`,
  );
}
