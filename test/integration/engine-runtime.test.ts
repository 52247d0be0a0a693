import fs from 'node:fs';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { POD_INDEX_LABEL } from '../../activities/manifests/labels';
import { waitFor } from '../../tools/stack/wait';
import { createNamespace, deleteNamespace, kubectlOk, stackInfo } from '../support/stack';

/**
 * The local stack's engine runtime against the real stack: StatefulSets shaped like the
 * operator's (labels, secretKeyRef env, a volumeClaimTemplate, the replica bootstrap init
 * container) get real PostgreSQL and MariaDB processes, reachable through engine-addresses.json.
 */

const PASSWORD = `pg'pw\\"1`;
const REPLICATION_PASSWORD = 'repl-pw';

let namespace: string;

beforeAll(async () => {
  namespace = await createNamespace('rt');
});

afterAll(async () => {
  await deleteNamespace(namespace);
});

function addressOf(host: string): { host: string; port: number } | undefined {
  const map = JSON.parse(fs.readFileSync(stackInfo().engines.addressMap, 'utf8')) as Record<string, string>;
  const address = map[host];
  if (!address) return undefined;
  const [h, p] = address.split(':');
  return { host: h!, port: Number(p) };
}

function memberHost(db: string, ordinal: number): string {
  return `${db}-${ordinal}.${db}-headless.${namespace}.svc`;
}

function claimDir(claim: string): string {
  return path.join(stackInfo().engines.dataDir, namespace, claim);
}

async function pgQuery<T = Record<string, unknown>>(
  host: string,
  sql: string,
  password = PASSWORD,
): Promise<T[]> {
  const address = addressOf(host);
  if (!address) throw new Error(`${host} is not in the address map`);
  const client = new pg.Client({ ...address, user: 'postgres', password, database: 'postgres' });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

async function mysqlQuery<T = Record<string, unknown>>(host: string, sql: string): Promise<T[]> {
  const address = addressOf(host);
  if (!address) throw new Error(`${host} is not in the address map`);
  const conn = await mysql.createConnection({ ...address, user: 'root', password: PASSWORD });
  try {
    return (await conn.query(sql))[0] as T[];
  } finally {
    await conn.end();
  }
}

/** Polls a query until it succeeds and `accept` approves its rows. */
function eventually<T>(what: string, query: () => Promise<T[]>, accept: (rows: T[]) => boolean = () => true) {
  return waitFor(
    what,
    async () => {
      const rows = await query();
      return accept(rows) ? rows : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 300 },
  );
}

/** The Database's Secret and a StatefulSet shaped like the operator's, reduced to what the runtime reads. */
async function applyMembers(
  name: string,
  engine: 'postgres' | 'mysql',
  replicas: number,
  podSpec: Record<string, unknown>,
): Promise<void> {
  await kubectlOk(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `${name}-credentials`, namespace },
      stringData: { password: PASSWORD, 'replication-password': REPLICATION_PASSWORD },
    }),
  );
  const labels = {
    'app.kubernetes.io/name': engine,
    'app.kubernetes.io/instance': name,
    'app.kubernetes.io/component': 'database',
    'app.kubernetes.io/managed-by': 'durable-db-operator',
  };
  const statefulSet = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: { name, namespace, labels },
    spec: {
      replicas,
      serviceName: `${name}-headless`,
      podManagementPolicy: 'OrderedReady',
      selector: { matchLabels: labels },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Retain', whenScaled: 'Retain' },
      template: { metadata: { labels }, spec: podSpec },
      volumeClaimTemplates: [
        {
          metadata: { name: 'data', labels },
          spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
        },
      ],
    },
  };
  await kubectlOk(['apply', '-f', '-'], JSON.stringify(statefulSet));
}

const secretEnv = (name: string, secret: string, key: string) => ({
  name,
  valueFrom: { secretKeyRef: { name: secret, key } },
});
const podIndexEnv = {
  name: 'POD_INDEX',
  valueFrom: { fieldRef: { fieldPath: `metadata.labels['${POD_INDEX_LABEL}']` } },
};

// The replica bootstrap of the plan's contract: nothing to do on member 0 or on existing data,
// else clone member 0 until it works (the role and slot may not exist yet).
const BOOTSTRAP_SCRIPT = `set -e
if [ "$POD_INDEX" = "0" ] || [ -s "$PGDATA/PG_VERSION" ]; then exit 0; fi
until pg_basebackup -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$REPLICATION_USER" -D "$PGDATA" -R -X stream -S "replica_$POD_INDEX"; do
  rm -rf "$PGDATA"; sleep 1
done`;

async function waitGone(what: string, check: () => boolean): Promise<void> {
  await waitFor(what, async () => check(), { timeoutMs: 60_000, intervalMs: 300 });
}

async function postmasterStart(host: string): Promise<string> {
  const [row] = await pgQuery<{ t: string }>(host, 'SELECT pg_postmaster_start_time()::text AS t');
  return row!.t;
}

describe('engine runtime', () => {
  it('runs PostgreSQL members: password from the Secret, replica cloned by the init container, data kept across pod restarts, removed with the claim', async () => {
    const db = 'pg';
    const dataMount = '/var/lib/postgresql/data';
    await applyMembers(db, 'postgres', 2, {
      initContainers: [
        {
          name: 'bootstrap-replica',
          image: 'postgres:15',
          command: ['sh', '-c', BOOTSTRAP_SCRIPT],
          env: [
            { name: 'PGDATA', value: `${dataMount}/pgdata` },
            { name: 'PRIMARY_HOST', value: memberHost(db, 0) },
            { name: 'PRIMARY_PORT', value: '5432' },
            podIndexEnv,
            { name: 'REPLICATION_USER', value: 'replicator' },
            secretEnv('PGPASSWORD', `${db}-credentials`, 'replication-password'),
          ],
          volumeMounts: [{ name: 'data', mountPath: dataMount }],
        },
      ],
      containers: [
        {
          name: 'database',
          image: 'postgres:15',
          env: [
            secretEnv('POSTGRES_PASSWORD', `${db}-credentials`, 'password'),
            { name: 'PGDATA', value: `${dataMount}/pgdata` },
          ],
          volumeMounts: [{ name: 'data', mountPath: dataMount }],
        },
      ],
    });

    const primary = memberHost(db, 0);
    const replica = memberHost(db, 1);
    await eventually('member 0 accepts the Secret password', () => pgQuery(primary, 'SELECT 1'));
    await expect(pgQuery(primary, 'SELECT 1', 'wrong')).rejects.toThrow(/password authentication failed/);
    expect(fs.existsSync(path.join(claimDir(`data-${db}-0`), 'pgdata', 'PG_VERSION'))).toBe(true);
    // What the engines' configureReplication activity does once member 0 is up.
    await pgQuery(
      primary,
      `CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '${REPLICATION_PASSWORD}';
       SELECT pg_create_physical_replication_slot('replica_1');
       CREATE TABLE t (v text); INSERT INTO t VALUES ('before restart')`,
    );

    await eventually(
      'member 1 is a streaming standby of member 0',
      () =>
        pgQuery<{ r: boolean; n: number }>(
          replica,
          'SELECT pg_is_in_recovery() AS r, (SELECT count(*) FROM t)::int AS n',
        ),
      ([row]) => row?.r === true && row.n === 1,
    );

    // A deleted pod is re-created by the StatefulSet controller; its engine starts again on the
    // same data (and the same address).
    const startedBefore = await postmasterStart(primary);
    const addressBefore = addressOf(primary);
    await kubectlOk(['delete', 'pod', `${db}-0`, '-n', namespace, '--wait=false']);
    await eventually(
      'member 0 restarted',
      () =>
        pgQuery<{ v: string; t: string }>(primary, 'SELECT v, pg_postmaster_start_time()::text AS t FROM t'),
      (rows) => rows.length === 1 && rows[0]!.t !== startedBefore,
    ).then((rows) => expect(rows[0]!.v).toBe('before restart'));
    expect(addressOf(primary)).toEqual(addressBefore);
    await pgQuery(primary, `INSERT INTO t VALUES ('after restart')`);
    await eventually(
      'the standby follows the restarted primary',
      () => pgQuery<{ n: number }>(replica, 'SELECT count(*)::int AS n FROM t'),
      ([row]) => row?.n === 2,
    );

    // An engine that dies on its own (SIGKILL, no clean shutdown) is started again by the runtime.
    const pidFile = path.join(claimDir(`data-${db}-0`), 'pgdata', 'postmaster.pid');
    const postmaster = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
    process.kill(postmaster, 'SIGKILL');
    await eventually(
      'member 0 recovers after a crash',
      () => pgQuery<{ n: number }>(primary, 'SELECT count(*)::int AS n FROM t'),
      ([row]) => row?.n === 2,
    );
    expect(Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0])).not.toBe(postmaster);

    // Scale down: member 1's engine stops; deleting its claim deletes its data.
    await kubectlOk(['scale', 'statefulset', db, '-n', namespace, '--replicas=1']);
    await waitGone('member 1 leaves the address map', () => addressOf(replica) === undefined);
    expect(fs.existsSync(claimDir(`data-${db}-1`))).toBe(true);
    await kubectlOk(['delete', 'pvc', `data-${db}-1`, '-n', namespace, '--wait=false']);
    await waitGone(
      "member 1's data is deleted with its claim",
      () => !fs.existsSync(claimDir(`data-${db}-1`)),
    );
  });

  it('runs a mysql member as MariaDB with its server id, keeps data across a pod restart, removes it with the claim', async () => {
    const db = 'my';
    await applyMembers(db, 'mysql', 1, {
      containers: [
        {
          name: 'database',
          image: 'mysql:8.4',
          args: ['--server-id=1$(POD_INDEX)'],
          env: [secretEnv('MYSQL_ROOT_PASSWORD', `${db}-credentials`, 'password'), podIndexEnv],
          volumeMounts: [{ name: 'data', mountPath: '/var/lib/mysql' }],
        },
      ],
    });
    const host = memberHost(db, 0);
    const [ids] = await eventually('MariaDB accepts the Secret password', () =>
      mysqlQuery<{ id: number; version: string }>(host, 'SELECT @@server_id AS id, VERSION() AS version'),
    );
    expect(ids).toMatchObject({ id: 10, version: expect.stringMatching(/MariaDB/) });
    await mysqlQuery(host, 'CREATE DATABASE app');
    await mysqlQuery(host, 'CREATE TABLE app.t (v text)');
    await mysqlQuery(host, `INSERT INTO app.t VALUES ('kept')`);
    // A connection held across the pod's deletion: it breaks when the engine process stops.
    const held = await mysql.createConnection({ ...addressOf(host)!, user: 'root', password: PASSWORD });
    held.on('error', () => undefined);
    await kubectlOk(['delete', 'pod', `${db}-0`, '-n', namespace, '--wait=false']);
    await waitFor(
      'the old MariaDB process stops',
      () =>
        held.query('SELECT 1').then(
          () => false,
          () => true,
        ),
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    held.destroy();
    const rows = await eventually('MariaDB restarted on the same data', () =>
      mysqlQuery<{ v: string }>(host, 'SELECT v FROM app.t'),
    );
    expect(rows).toEqual([{ v: 'kept' }]);

    await kubectlOk(['scale', 'statefulset', db, '-n', namespace, '--replicas=0']);
    await waitGone('the member leaves the address map', () => addressOf(host) === undefined);
    await kubectlOk(['delete', 'pvc', `data-${db}-0`, '-n', namespace, '--wait=false']);
    await waitGone('the data is deleted with the claim', () => !fs.existsSync(claimDir(`data-${db}-0`)));
  });
});
