/**
 * Replication against REAL engines started locally: PostgreSQL 15 (a primary and standbys cloned
 * by running the very init-container script the StatefulSet carries) and MariaDB (which stands in
 * for the `mysql` engine). Only the member → address mapping differs from a cluster, through the
 * address-map resolver; the PostgreSQL part goes through the activities, which read the
 * credentials from a real Secret in the stack's API server.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { makeKubeClients } from '../../activities/kube-clients';
import {
  configHash,
  renderConfigMap,
  renderSecret,
  renderStatefulSet,
  BOOTSTRAP_REPLICA_CONTAINER,
} from '../../activities/manifests';
import { target as fixtureTarget } from '../../activities/manifests/test-fixtures';
import {
  checkMemberHealth,
  configureReplication,
  type EngineDependencies,
  type ReplicationReport,
} from '../../activities/replication';
import type { DatabaseTarget } from '../../activities/types';
import { EngineCredentials } from '../../engines/credentials';
import { mysqlHealth, reconcileMysqlReplication } from '../../engines/mysql';
import { addressMapResolver, memberHost, type EngineEndpoint } from '../../engines/resolver';
import type { ReplicationOutcome } from '../../engines/types';
import { startLocalMariadb, startLocalPostgres, type LocalEngine } from '../../tools/stack/local-engines';
import { waitFor } from '../../tools/stack/wait';
import { createNamespace, deleteNamespace, kubectlOk, stackInfo } from '../support/stack';

jest.setTimeout(300_000);

const SUPER_PASSWORD = 'super-Pw-4f1b9c';
const REPLICATION_PASSWORD = 'repl-Pw-8e2d71';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'engines-replication-'));
/** Engine logs outlive the data directories, for a look after a failure. */
const logs = fs.mkdtempSync(path.join(os.tmpdir(), 'engines-replication-logs-'));
const engines: LocalEngine[] = [];

afterAll(async () => {
  await Promise.all(engines.map((e) => e.stop()));
  fs.rmSync(work, { recursive: true, force: true });
});

function withReplicas(t: DatabaseTarget, replicas: number): DatabaseTarget {
  return { ...t, generation: t.generation + 1, spec: { ...t.spec, replicas } };
}

/** Writes the address map the resolver reads: member DNS name → local engine. */
function writeAddressMap(file: string, t: DatabaseTarget, members: Map<number, LocalEngine>): void {
  const map: Record<string, string> = {};
  for (const [ordinal, e] of members) {
    map[memberHost({ namespace: t.namespace, database: t.name, ordinal })] = `${e.host}:${e.port}`;
  }
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(map));
  fs.renameSync(`${file}.tmp`, file);
  // The resolver reloads on a new mtime; two writes within one tick must still be seen.
  const bump = new Date(Date.now() + members.size * 1000);
  fs.utimesSync(file, bump, bump);
}

/**
 * Runs the StatefulSet's bootstrap-replica init container as a kubelet would (its env resolved:
 * literals, the Secret reference, the pod-index label), with only PRIMARY_HOST, PRIMARY_PORT and
 * PGDATA replaced by the local primary's address and data directory.
 */
async function runBootstrapInitContainer(
  t: DatabaseTarget,
  ordinal: number,
  primary: EngineEndpoint,
  dataDir: string,
): Promise<string> {
  const sts = renderStatefulSet(t, { configHash: configHash(renderConfigMap(t)) });
  const init = sts.spec?.template.spec?.initContainers?.find(
    (c: k8s.V1Container) => c.name === BOOTSTRAP_REPLICA_CONTAINER,
  );
  if (!init?.command) throw new Error('no bootstrap-replica init container');
  const secret = renderSecret(t, { password: SUPER_PASSWORD, replicationPassword: REPLICATION_PASSWORD });
  const env: Record<string, string> = {};
  for (const e of init.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      env[e.name] = Buffer.from(secret.data![e.valueFrom.secretKeyRef.key]!, 'base64').toString('utf8');
    } else if (e.valueFrom?.fieldRef) env[e.name] = String(ordinal);
  }
  expect(Object.keys(env).sort()).toEqual(
    ['PGDATA', 'PGPASSWORD', 'POD_INDEX', 'PRIMARY_HOST', 'PRIMARY_PORT', 'REPLICATION_USER'].sort(),
  );
  Object.assign(env, { PRIMARY_HOST: primary.host, PRIMARY_PORT: String(primary.port), PGDATA: dataDir });
  const [cmd, ...args] = init.command;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`init container exited ${code}:\n${out}`));
    });
  });
}

async function pgQuery<T extends object>(
  e: EngineEndpoint,
  sql: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({
    host: e.host,
    port: e.port,
    user: 'postgres',
    password: SUPER_PASSWORD,
    database: 'postgres',
    connectionTimeoutMillis: 5_000,
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(sql, values)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Polls until `query` finds `count` rows: replication is asynchronous. */
function replicatedRows<T>(what: string, count: number, query: () => Promise<T[]>): Promise<T[]> {
  return waitFor(
    what,
    async () => {
      const rows = await query();
      return rows.length === count ? rows : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 300 },
  );
}

async function untilReady(pass: () => Promise<ReplicationReport>, what: string): Promise<ReplicationReport> {
  let last: ReplicationReport | undefined;
  const changes: string[] = [];
  const removed: string[] = [];
  await waitFor(
    what,
    async () => {
      last = await pass();
      changes.push(...last.changes);
      removed.push(...last.removed);
      return last.ready;
    },
    { timeoutMs: 90_000, intervalMs: 500 },
  );
  return { ...last!, changes, removed };
}

describe('PostgreSQL streaming replication (activities, real engines, real Secret)', () => {
  let namespace: string;
  let t: DatabaseTarget;
  let deps: EngineDependencies;
  const members = new Map<number, LocalEngine>();
  const mapFile = path.join(work, 'pg-addresses.json');

  beforeAll(async () => {
    namespace = await createNamespace('eng-pg');
    t = { ...fixtureTarget({ engine: 'postgres', version: '15', replicas: 2 }, 'orders'), namespace };
    const secret = renderSecret(t, { password: SUPER_PASSWORD, replicationPassword: REPLICATION_PASSWORD });
    await kubectlOk(
      ['apply', '-f', '-'],
      JSON.stringify({ ...secret, metadata: { ...secret.metadata, ownerReferences: [] } }),
    );
    const kc = new k8s.KubeConfig();
    // The operator's own user: the activities read the Secret with its RBAC.
    kc.loadFromFile(stackInfo().kubernetes.operatorKubeconfig);
    deps = { clients: makeKubeClients(kc), resolver: addressMapResolver(mapFile) };
    const primary = await startLocalPostgres({
      dataDir: path.join(work, 'pg-0'),
      log: path.join(logs, 'pg-0.log'),
      password: SUPER_PASSWORD,
    });
    engines.push(primary);
    members.set(0, primary);
    writeAddressMap(mapFile, t, members);
  });

  afterAll(async () => {
    if (namespace) await deleteNamespace(namespace);
  });

  async function addReplica(target: DatabaseTarget, ordinal: number): Promise<void> {
    const dataDir = path.join(work, `pg-${ordinal}`);
    const log = await runBootstrapInitContainer(target, ordinal, members.get(0)!, dataDir);
    expect(log).toContain(`cloned member 0 into ${dataDir}`);
    // A second run (the pod restarted) leaves the clone alone.
    expect(await runBootstrapInitContainer(target, ordinal, members.get(0)!, dataDir)).toContain(
      'already holds a cluster',
    );
    const replica = await startLocalPostgres({
      dataDir,
      log: path.join(logs, `pg-${ordinal}.log`),
      password: SUPER_PASSWORD,
      init: 'existing',
    });
    engines.push(replica);
    members.set(ordinal, replica);
    writeAddressMap(mapFile, target, members);
  }

  it('creates the role and a slot per replica as soon as member 0 answers', async () => {
    const report = await configureReplication(deps, t);
    expect(report.ready).toBe(false);
    expect(report.changes).toEqual(['created role replicator', 'created slot replica_1']);
    expect(report.members).toEqual([
      { name: 'orders-0', role: 'primary', state: 'writable' },
      { name: 'orders-1', role: 'replica', state: 'not connected' },
    ]);
    // The role's password is stored as a SCRAM verifier, never as text.
    const [role] = await pgQuery<{ rolreplication: boolean; rolpassword: string }>(
      members.get(0)!,
      "SELECT rolreplication, rolpassword FROM pg_authid WHERE rolname = 'replicator'",
    );
    expect(role?.rolreplication).toBe(true);
    expect(role?.rolpassword).toMatch(/^SCRAM-SHA-256\$4096:/);
  });

  it('clones a replica with the init-container script, which then streams through its slot', async () => {
    await addReplica(t, 1);
    const report = await untilReady(() => configureReplication(deps, t), 'replica 1 streaming');
    expect(report.members).toEqual([
      { name: 'orders-0', role: 'primary', state: 'writable' },
      { name: 'orders-1', role: 'replica', state: 'streaming' },
    ]);
    expect(report.message).toBe('1 replica(s) streaming from orders-0');
    // Nothing to change on a second pass.
    const again = await configureReplication(deps, t);
    expect([again.ready, again.changes, again.removed]).toEqual([true, [], []]);
  });

  it('reads rows written on the primary on the replica', async () => {
    await pgQuery(members.get(0)!, 'CREATE TABLE orders (id int PRIMARY KEY, item text)');
    await pgQuery(members.get(0)!, "INSERT INTO orders VALUES (1, 'tea'), (2, 'milk')");
    const rows = await replicatedRows('rows on replica 1', 2, () =>
      pgQuery<{ item: string }>(members.get(1)!, 'SELECT item FROM orders ORDER BY id'),
    );
    expect(rows.map((r) => r.item)).toEqual(['tea', 'milk']);
  });

  it('checks member health: role by ordinal, a replica receiving', async () => {
    expect(await checkMemberHealth(deps, t, 0)).toMatchObject({
      healthy: true,
      role: 'primary',
      serverVersion: expect.stringMatching(/^15\./),
    });
    expect(await checkMemberHealth(deps, t, 1)).toMatchObject({ healthy: true, role: 'replica' });
    // A member that is not there: unhealthy with the reason, not an exception.
    const absent = await checkMemberHealth(deps, withReplicas(t, 4), 3);
    expect(absent.healthy).toBe(false);
    expect(absent.message).toMatch(/orders-3/);
  });

  it('scales up: a new slot, a new clone, all rows on every replica', async () => {
    t = withReplicas(t, 3);
    const first = await configureReplication(deps, t);
    expect(first.changes).toEqual(['created slot replica_2']);
    await addReplica(t, 2);
    const report = await untilReady(() => configureReplication(deps, t), 'replicas 1 and 2 streaming');
    expect(report.members.map((m) => m.state)).toEqual(['writable', 'streaming', 'streaming']);
    await pgQuery(members.get(0)!, "INSERT INTO orders VALUES (3, 'bread')");
    for (const ordinal of [1, 2]) {
      const rows = await replicatedRows(`3 rows on replica ${ordinal}`, 3, () =>
        pgQuery<{ item: string }>(members.get(ordinal)!, 'SELECT item FROM orders ORDER BY id'),
      );
      expect(rows.map((r) => r.item)).toEqual(['tea', 'milk', 'bread']);
    }
  });

  it('scales down: the departing replica stops, its slot is dropped', async () => {
    t = withReplicas(t, 2);
    const departing = members.get(2)!;
    // While replica 2 still streams, its slot is in use: reported, not dropped, not ready.
    const busy = await configureReplication(deps, t);
    expect(busy.ready).toBe(false);
    expect(busy.message).toContain('slot replica_2 is still in use by a departing member');
    await departing.stop();
    members.delete(2);
    writeAddressMap(mapFile, t, members);
    const report = await untilReady(() => configureReplication(deps, t), 'slot replica_2 dropped');
    expect(report.removed).toEqual(['dropped slot replica_2 of member 2']);
    expect(report.members.map((m) => m.name)).toEqual(['orders-0', 'orders-1']);
    const slots = await pgQuery<{ slot_name: string }>(
      members.get(0)!,
      'SELECT slot_name FROM pg_replication_slots ORDER BY slot_name',
    );
    expect(slots.map((s) => s.slot_name)).toEqual(['replica_1']);
  });
});

describe('MariaDB GTID replication (engine functions, real engines)', () => {
  const credentials = new EngineCredentials('root', SUPER_PASSWORD, 'replicator', REPLICATION_PASSWORD);
  const members = new Map<number, LocalEngine>();

  beforeAll(async () => {
    // One after another: the machine is small, and each start is a few seconds.
    for (const ordinal of [0, 1, 2]) {
      const e = await startLocalMariadb({
        dataDir: path.join(work, `maria-${ordinal}`),
        log: path.join(logs, `maria-${ordinal}.log`),
        password: SUPER_PASSWORD,
        serverId: 10 + ordinal,
      });
      engines.push(e);
      members.set(ordinal, e);
    }
  });

  const pass = (replicas: number): Promise<ReplicationOutcome> =>
    reconcileMysqlReplication('mariadb', {
      primary: members.get(0)!,
      source: members.get(0)!,
      replicas,
      replicaMembers: Array.from({ length: replicas - 1 }, (_, i) => ({
        ordinal: i + 1,
        endpoint: members.get(i + 1)!,
      })),
      credentials,
    });

  async function untilStreaming(replicas: number): Promise<ReplicationOutcome> {
    const changes: string[] = [];
    let last: ReplicationOutcome | undefined;
    await waitFor(
      `${replicas - 1} MariaDB replica(s) streaming`,
      async () => {
        last = await pass(replicas);
        changes.push(...last.changes);
        return last.members.every((m) => m.streaming) && last.pending.length === 0;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    return { ...last!, changes };
  }

  async function query<T>(ordinal: number, sql: string): Promise<T[]> {
    const e = members.get(ordinal)!;
    const conn = await mysql.createConnection({
      host: e.host,
      port: e.port,
      user: 'root',
      password: SUPER_PASSWORD,
    });
    try {
      const [rows] = await conn.query(sql);
      return rows as T[];
    } finally {
      await conn.end();
    }
  }

  it('creates the replication user and points replica 1 at member 0 with GTIDs', async () => {
    const outcome = await untilStreaming(2);
    expect(outcome.changes).toEqual(
      expect.arrayContaining([
        'created user replicator',
        'configured member 1 to replicate from member 0',
        'made member 1 read-only',
      ]),
    );
    expect(outcome.members.map((m) => [m.ordinal, m.role, m.state])).toEqual([
      [0, 'primary', 'writable'],
      [1, 'replica', 'streaming'],
    ]);
    const [status] = await query<Record<string, unknown>>(1, 'SHOW SLAVE STATUS');
    expect(status).toMatchObject({ Using_Gtid: 'Slave_Pos', Master_User: 'replicator' });
    const [ro] = await query<{ ro: number }>(1, 'SELECT @@GLOBAL.read_only AS ro');
    expect(ro?.ro).toBe(1);
    // The binlog every replica replays holds the user's hash, never its password.
    const events = await query<{ Info: string }>(0, 'SHOW BINLOG EVENTS');
    expect(events.map((e) => e.Info).join('\n')).toMatch(
      /CREATE USER 'replicator'@'%' IDENTIFIED BY PASSWORD '\*[0-9A-F]{40}'/,
    );
    expect(JSON.stringify(events)).not.toContain(REPLICATION_PASSWORD);
  });

  it('leaves a correctly running replica alone', async () => {
    const again = await pass(2);
    expect(again.changes).toEqual([]);
    expect(again.members.every((m) => m.streaming)).toBe(true);
  });

  it('replicates rows written on the primary', async () => {
    await query(0, 'CREATE DATABASE shop');
    await query(0, 'CREATE TABLE shop.orders (id int PRIMARY KEY, item varchar(20))');
    await query(0, "INSERT INTO shop.orders VALUES (1, 'tea'), (2, 'milk')");
    const rows = await replicatedRows('rows on MariaDB replica 1', 2, () =>
      query<{ item: string }>(1, 'SELECT item FROM shop.orders ORDER BY id'),
    );
    expect(rows.map((r) => r.item)).toEqual(['tea', 'milk']);
  });

  it('scales up: replica 2 catches up with everything from the first GTID', async () => {
    const outcome = await untilStreaming(3);
    expect(outcome.changes).toContain('configured member 2 to replicate from member 0');
    const rows = await replicatedRows('rows on MariaDB replica 2', 2, () =>
      query<{ item: string }>(2, 'SELECT item FROM shop.orders ORDER BY id'),
    );
    expect(rows.map((r) => r.item)).toEqual(['tea', 'milk']);
    expect(await mysqlHealth('mariadb', members.get(2)!, credentials)).toMatchObject({
      role: 'replica',
      replicating: true,
      serverVersion: expect.stringMatching(/MariaDB/),
    });
    expect(await mysqlHealth('mariadb', members.get(0)!, credentials)).toMatchObject({ role: 'primary' });
  });

  it('scales down: the remaining members keep replicating', async () => {
    await members.get(2)!.stop();
    members.delete(2);
    const outcome = await pass(2);
    expect(outcome.members.map((m) => [m.ordinal, m.state])).toEqual([
      [0, 'writable'],
      [1, 'streaming'],
    ]);
    expect(outcome.pending).toEqual([]);
  });

  it('reports an unreachable replica as not ready instead of failing', async () => {
    const outcome = await reconcileMysqlReplication('mariadb', {
      primary: members.get(0)!,
      source: members.get(0)!,
      replicas: 2,
      replicaMembers: [{ ordinal: 1, endpoint: { host: '127.0.0.1', port: 1 } }],
      credentials,
    });
    expect(outcome.members[1]).toMatchObject({ ordinal: 1, state: 'unreachable', streaming: false });
    expect(outcome.pending.join()).toMatch(/ECONNREFUSED/);
    expect(outcome.pending.join()).not.toContain(SUPER_PASSWORD);
  });
});
