/**
 * A standby that can never follow the primary again, on real nodes (issue 10, "a former primary
 * that can never rejoin"): PostgreSQL 17, two members. Someone promotes the replica by hand,
 * writes to it, and puts it back into recovery (standby.signal written, the engine restarted):
 * its timeline 2 now holds WAL the primary's timeline 1 never had, and PostgreSQL says, every
 * few seconds, that the primary's highest timeline is behind its own. Nothing fixes that by
 * retrying: the operator confirms the divergence from the engines, says why in a Warning Event,
 * and has the member cloned afresh; it streams again with exactly the primary's rows. The same
 * path brings back a replica that took a fenced primary's last WAL past a failover's fork.
 *
 * Figures go to stderr as `[rejoin] …`.
 */
import { waitFor } from '../../tools/stack/wait';
import { explainingTimeout } from '../support/diagnose';
import { killEngine } from '../support/faults';
import { memberSql } from '../support/members';
import {
  applyDatabase,
  databaseEventReasons,
  getDatabase,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import { recordNamespaceHistories } from '../support/record-histories';
import {
  createNamespace,
  deleteNamespace,
  kubeConfig,
  temporalClient,
  temporalConnection,
} from '../support/stack';
import * as k8s from '@kubernetes/client-node';

jest.setTimeout(900_000);

const figure = (text: string) => process.stderr.write(`[rejoin] ${text}\n`);
const DB = 'pg';
const ROWS = 100;

describe('a diverged standby is cloned afresh', () => {
  let ns: string;
  let op: RunningOperator;
  const { pgQuery } = memberSql(() => ns);
  const ids = async (ordinal: number) =>
    (await pgQuery<{ id: number }>(DB, ordinal, 'SELECT id FROM t ORDER BY id')).map((r) => Number(r.id));

  beforeAll(async () => {
    ns = await createNamespace('rejoin');
    op = await startOperator(ns);
    await applyDatabase(ns, DB, { engine: 'postgres', version: '17', replicas: 2 });
  });
  afterAll(async () => {
    await op?.stop();
    if (ns) await deleteNamespace(ns);
  });

  it('goes Ready with a streaming replica that has the primary’s rows', async () => {
    await waitForPhase(ns, DB, 'Ready', { timeoutMs: 420_000 });
    await pgQuery(
      DB,
      0,
      `CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, ${ROWS})`,
    );
    await waitFor('the rows on the replica', async () =>
      (await ids(1).catch(() => [])).length === ROWS ? true : undefined,
    );
  }, 480_000);

  it('a replica promoted by hand, written to and put back into recovery is re-cloned from the primary', async () => {
    await pgQuery(DB, 1, 'SELECT pg_promote(true, 30)');
    await pgQuery(DB, 1, 'INSERT INTO t VALUES (-1)');
    const [setting] = await pgQuery<{ dir: string }>(
      DB,
      1,
      "SELECT current_setting('data_directory') AS dir",
    );
    // Back into recovery the way a hurried person would: standby.signal, then a restart (the
    // container's, so no init container runs: the diverged data starts as a standby).
    await pgQuery(DB, 1, `COPY (SELECT '') TO '${setting!.dir}/standby.signal'`);
    const killed = await killEngine(ns, `${DB}-1`);
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const uidBefore = (await core.readNamespacedPod({ name: `${DB}-1`, namespace: ns })).metadata?.uid;

    const diverged = await explainingTimeout(ns, DB, () =>
      waitFor(
        'a ReplicaDiverged Event',
        async () => {
          const events = await core.listNamespacedEvent({ namespace: ns });
          return events.items.find((e) => e.reason === 'ReplicaDiverged');
        },
        { timeoutMs: 300_000, intervalMs: 1_000 },
      ),
    );
    const detectedAfter = Date.now() - killed;
    expect(diverged.type).toBe('Warning');
    expect(diverged.message).toContain(`${DB}-1 cannot follow the primary`);
    expect(diverged.message).toContain(
      "it is on timeline 2, which is not in the history of the primary's timeline 1",
    );
    expect(diverged.message).toContain('highest timeline 1 of the primary is behind recovery timeline 2');

    const back = await explainingTimeout(ns, DB, () =>
      waitFor(
        `${DB}-1 streaming again`,
        async () => {
          const db = await getDatabase(ns, DB);
          const m = db?.status?.members?.find((x) => x.name === `${DB}-1`);
          return db?.status?.phase === 'Ready' && m?.state === 'streaming' ? db : undefined;
        },
        { timeoutMs: 300_000, intervalMs: 1_000 },
      ),
    );
    figure(
      `replica promoted by hand and put back: ReplicaDiverged ${(detectedAfter / 1000).toFixed(1)} s after its restart, ` +
        `streaming again ${((Date.now() - killed) / 1000).toFixed(1)} s after it`,
    );
    expect(back.status?.currentPrimary).toBe(`${DB}-0`);
    // A new pod, cloned from the primary: the primary's rows, not the one written by hand.
    expect((await core.readNamespacedPod({ name: `${DB}-1`, namespace: ns })).metadata?.uid).not.toBe(
      uidBefore,
    );
    expect(await ids(1)).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));
    const [standby] = await pgQuery<{ recovery: boolean }>(DB, 1, 'SELECT pg_is_in_recovery() AS recovery');
    expect(standby?.recovery).toBe(true);
    // And it follows new writes.
    await pgQuery(DB, 0, `INSERT INTO t VALUES (${ROWS + 1})`);
    await waitFor('a new row on the re-cloned replica', async () =>
      (await ids(1)).includes(ROWS + 1) ? true : undefined,
    );
    expect(await databaseEventReasons(ns, DB)).toEqual(
      expect.arrayContaining(['ReplicaDiverged', 'ReplicaStreaming']),
    );
  }, 720_000);

  it('records its histories (DURABLE_RECORD_HISTORIES=1)', async () => {
    const connection = await temporalConnection();
    try {
      await recordNamespaceHistories(
        temporalClient(connection),
        ns,
        'rejoin',
        'PostgreSQL: a replica promoted by hand and put back into recovery, found diverged and cloned afresh',
      );
    } finally {
      await connection.close();
    }
  });
});
