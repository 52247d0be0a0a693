/**
 * Replication end to end on the real stack: the operator (worker + watcher), kwok pods whose
 * database containers the stack runs as real PostgreSQL 15 and MariaDB processes, replicas cloned
 * by the rendered init container (PostgreSQL) or configured over SQL (MySQL/MariaDB). Rows
 * written through member 0 are read on every replica; scaling down drops the departing slot.
 */
import type { Database } from '../../crds';
import { waitFor } from '../../tools/stack/wait';
import {
  applyDatabase,
  databaseEventReasons,
  getDatabase,
  objectsOfDatabase,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import { memberSql } from '../support/members';
import { createNamespace, deleteNamespace, kubectlOk } from '../support/stack';

jest.setTimeout(600_000);

const READY_TIMEOUT_MS = 300_000;

describe('replication on the real stack', () => {
  let ns: string;
  let op: RunningOperator;
  // Members by their cluster DNS names, resolved at the stack's CoreDNS, as the worker does.
  const { pgQuery, myQuery } = memberSql(() => ns);

  beforeAll(async () => {
    ns = await createNamespace('repl');
    op = await startOperator(ns);
    // Both at once: they come up side by side, as two teams' Databases would.
    await applyDatabase(ns, 'pgdb', { engine: 'postgres', version: '15', replicas: 3 });
    await applyDatabase(ns, 'mydb', { engine: 'mariadb', version: '11.8', replicas: 3 });
  });
  afterAll(async () => {
    await op?.stop();
    if (ns) await deleteNamespace(ns);
  });

  /** Polls a replica until the query finds rows: replication is asynchronous. */
  const replicated = <T>(what: string, query: () => Promise<T[]>): Promise<T[]> =>
    waitFor(
      what,
      async () => {
        const rows = await query();
        return rows.length > 0 ? rows : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 300 },
    );

  function expectReplicated(db: Database, name: string) {
    const ready = db.status?.conditions?.find((c) => c.type === 'ReplicationReady');
    expect(ready).toMatchObject({ status: 'True', reason: 'Streaming' });
    expect(ready?.message).toBe(`2 replica(s) streaming from ${name}-0`);
    expect(db.status?.members).toEqual([
      { name: `${name}-0`, role: 'primary', state: 'writable' },
      { name: `${name}-1`, role: 'replica', state: 'streaming' },
      { name: `${name}-2`, role: 'replica', state: 'streaming' },
    ]);
  }

  it('postgres with 3 replicas goes Ready with every replica streaming', async () => {
    const started = Date.now();
    const db = await waitForPhase(ns, 'pgdb', 'Ready', { timeoutMs: READY_TIMEOUT_MS });
    process.stdout.write(`postgres 3 members Ready in ${Math.round((Date.now() - started) / 1000)} s\n`);
    expectReplicated(db, 'pgdb');
    const reasons = await databaseEventReasons(ns, 'pgdb');
    expect(reasons).toEqual(expect.arrayContaining(['ReplicationConfigured', 'ReplicaStreaming', 'Ready']));
  });

  it('postgres: a row written through member 0 is read from members 1 and 2', async () => {
    await pgQuery('pgdb', 0, 'CREATE TABLE orders (id int PRIMARY KEY, item text)');
    await pgQuery('pgdb', 0, "INSERT INTO orders VALUES (1, 'tea')");
    for (const ordinal of [1, 2]) {
      const rows = await replicated(`row on pgdb-${ordinal}`, () =>
        pgQuery<{ item: string }>('pgdb', ordinal, 'SELECT item FROM orders'),
      );
      expect(rows).toEqual([{ item: 'tea' }]);
      const [recovery] = await pgQuery<{ r: boolean }>('pgdb', ordinal, 'SELECT pg_is_in_recovery() AS r');
      expect(recovery?.r).toBe(true);
    }
  });

  it('mariadb with 3 replicas goes Ready; a row written through member 0 is read from members 1 and 2', async () => {
    const db = await waitForPhase(ns, 'mydb', 'Ready', { timeoutMs: READY_TIMEOUT_MS });
    expectReplicated(db, 'mydb');
    await myQuery('mydb', 0, 'CREATE DATABASE shop');
    await myQuery('mydb', 0, 'CREATE TABLE shop.orders (id int PRIMARY KEY, item varchar(20))');
    await myQuery('mydb', 0, "INSERT INTO shop.orders VALUES (1, 'tea')");
    for (const ordinal of [1, 2]) {
      const rows = await replicated(`row on mydb-${ordinal}`, () =>
        myQuery<{ item: string }>('mydb', ordinal, 'SELECT item FROM shop.orders'),
      );
      expect(rows).toEqual([{ item: 'tea' }]);
      const [ro] = await myQuery<{ ro: number }>('mydb', ordinal, 'SELECT @@GLOBAL.read_only AS ro');
      expect(ro?.ro).toBe(1);
    }
  });

  it('a repair passes over replication that is in place without changing it', async () => {
    const before = await getDatabase(ns, 'mydb');
    const condition = (db?: Database) => db?.status?.conditions?.find((c) => c.type === 'ReplicationReady');
    const events = (await databaseEventReasons(ns, 'mydb')).filter((r) => r.startsWith('Replic')).length;
    await kubectlOk(['delete', 'service', 'mydb-ro', '-n', ns]);
    await waitFor('DriftCorrected', async () =>
      (await databaseEventReasons(ns, 'mydb')).includes('DriftCorrected'),
    );
    const after = await waitForPhase(ns, 'mydb', 'Ready');
    expectReplicated(after, 'mydb');
    expect(condition(after)?.lastTransitionTime).toBe(condition(before)?.lastTransitionTime);
    expect((await databaseEventReasons(ns, 'mydb')).filter((r) => r.startsWith('Replic'))).toHaveLength(
      events,
    );
  });

  it('postgres scaled 3 → 2: Ready with two members, the departing slot dropped', async () => {
    await applyDatabase(ns, 'pgdb', { engine: 'postgres', version: '15', replicas: 2 });
    const db = await waitForPhase(ns, 'pgdb', 'Ready', { generation: 2, timeoutMs: READY_TIMEOUT_MS });
    expect(db.status?.members).toEqual([
      { name: 'pgdb-0', role: 'primary', state: 'writable' },
      { name: 'pgdb-1', role: 'replica', state: 'streaming' },
    ]);
    const slots = await pgQuery<{ slot_name: string }>(
      'pgdb',
      0,
      'SELECT slot_name FROM pg_replication_slots ORDER BY slot_name',
    );
    expect(slots.map((s) => s.slot_name)).toEqual(['replica_1']);
    expect(await databaseEventReasons(ns, 'pgdb')).toContain('ReplicaRemoved');
    // Its volume goes with it: without its slot that data could not catch up later.
    await waitFor(
      'the volume of pgdb-2 deleted',
      async () => {
        const claims = await objectsOfDatabase(ns, 'pgdb', 'persistentvolumeclaims');
        return claims.join() === 'persistentvolumeclaim/data-pgdb-0,persistentvolumeclaim/data-pgdb-1';
      },
      { timeoutMs: 60_000 },
    );
  });

  it('postgres scaled 2 → 3 again: the returning member is cloned anew and streams from a new slot', async () => {
    await pgQuery('pgdb', 0, "INSERT INTO orders VALUES (2, 'milk')");
    await applyDatabase(ns, 'pgdb', { engine: 'postgres', version: '15', replicas: 3 });
    const db = await waitForPhase(ns, 'pgdb', 'Ready', { generation: 3, timeoutMs: READY_TIMEOUT_MS });
    expectReplicated(db, 'pgdb');
    const rows = await waitFor(
      'both rows on pgdb-2',
      async () => {
        const r = await pgQuery<{ item: string }>('pgdb', 2, 'SELECT item FROM orders ORDER BY id');
        return r.length === 2 ? r : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 300 },
    );
    expect(rows.map((r) => r.item)).toEqual(['tea', 'milk']);
  });
});
