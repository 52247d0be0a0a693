import { RESTORE_ANNOTATION } from '../../crds';
import { databaseWorkflowId } from '../../workflows/signals';
import { waitFor } from '../../tools/stack/wait';
import { createBackup, waitForBackupDone, withReadyDatabase } from '../support/backups';
import { replaceRun, scheduledActivities } from '../support/fresh-runs';
import {
  applyDatabase,
  getDatabase,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import { recordNamespaceHistories } from '../support/record-histories';
import { sql } from '../support/sql';
import {
  createNamespace,
  deleteNamespace,
  kubectl,
  kubectlOk,
  temporalClient,
  temporalConnection,
} from '../support/stack';

jest.setTimeout(900_000);

/**
 * The cluster is the record, the workflow's memory a cache: a Database's workflow run is
 * terminated (as a reset, a lost Temporal database or the history limit would end it), the
 * watcher starts a fresh run, and nothing that must not be redone is redone, and no check that
 * depends on what runs is skipped. And a Database that never becomes ready keeps its histories
 * bounded, run after run, while its status keeps saying why.
 */

describe('a fresh workflow run reads the cluster, not its memory', () => {
  const src = 'ledger';
  const copy = 'ledger-copy';
  const bed = withReadyDatabase('record', src, {
    engine: 'postgres',
    version: '15.20',
    backup: { enabled: false, retention: { count: 3 } },
  });

  it('restores once, even with its run terminated at every step of the restore and after it', async () => {
    const { ns, op, client } = bed;
    await sql(ns, src, 'postgres', 'CREATE TABLE t (id int PRIMARY KEY)');
    await sql(ns, src, 'postgres', 'INSERT INTO t VALUES (1), (2)');
    await createBackup(ns, 'b1', src);
    await waitForBackupDone(ns, 'b1');

    await applyDatabase(ns, copy, {
      engine: 'postgres',
      version: '15.20',
      bootstrap: { fromBackup: { name: 'b1' } },
    });
    const id = databaseWorkflowId(ns, copy);
    const boundaries = ['checkRestoreSource', 'startRestoreJob', 'waitForJob', 'recordRestored'];
    for (const activity of boundaries) {
      await waitFor(
        `${activity} scheduled in the run of ${id}`,
        async () =>
          (await scheduledActivities(client.workflow.getHandle(id)).catch((): string[] => [])).includes(
            activity,
          ),
        { timeoutMs: 300_000, intervalMs: 100 },
      );
      await replaceRun(client, op, id, `test: terminated at ${activity}`);
    }
    const restored = await waitForPhase(ns, copy, 'Ready', { timeoutMs: 300_000 });
    expect(restored.metadata.annotations?.[RESTORE_ANNOTATION]).toBe(
      JSON.stringify({ backup: 'b1', state: 'done' }),
    );
    expect(await sql<{ id: number }>(ns, copy, 'postgres', 'SELECT id FROM t ORDER BY id')).toEqual([
      { id: 1 },
      { id: 2 },
    ]);
    // One Job, run once, through all those runs.
    const job = JSON.parse(await kubectlOk(['get', 'job', '-n', ns, `${copy}-restore`, '-o', 'json'])) as {
      status?: { succeeded?: number; failed?: number };
    };
    expect(job.status).toMatchObject({ succeeded: 1 });
    expect(job.status?.failed ?? 0).toBe(0);

    // Live data written after the restore; the restore Job deleted, as the README allows.
    await sql(ns, copy, 'postgres', 'INSERT INTO t VALUES (3)');
    await kubectlOk(['delete', 'job', '-n', ns, `${copy}-restore`, '--wait=true']);
    await replaceRun(client, op, id, 'test: terminated after the restore');
    await waitFor(
      'the fresh run to find the restore done',
      async () => {
        const db = await getDatabase(ns, copy);
        const restoredCond = db?.status?.conditions?.find((c) => c.type === 'Restored');
        return db?.status?.phase === 'Ready' && /earlier run/.test(restoredCond?.message ?? '');
      },
      { timeoutMs: 180_000 },
    );
    expect(await sql<{ id: number }>(ns, copy, 'postgres', 'SELECT id FROM t ORDER BY id')).toEqual([
      { id: 1 },
      { id: 2 },
      { id: 3 },
    ]);
    const again = await kubectl(['get', 'job', '-n', ns, `${copy}-restore`]);
    expect(again.code).not.toBe(0); // no second restore Job
  });

  it('refuses a downgrade after a fresh run, from the version the StatefulSet runs', async () => {
    const { ns, op, client } = bed;
    await replaceRun(client, op, databaseWorkflowId(ns, src), 'test: forget what runs');
    await applyDatabase(ns, src, {
      engine: 'postgres',
      version: '15',
      backup: { enabled: false, retention: { count: 3 } },
    });
    const refused = await waitForPhase(ns, src, 'Failed', { timeoutMs: 120_000 });
    expect(refused.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'DowngradeNotAllowed',
    });
    const image = await kubectlOk([
      'get',
      'statefulset',
      '-n',
      ns,
      src,
      '-o',
      'jsonpath={.spec.template.spec.containers[0].image}',
    ]);
    expect(image).toBe('postgres:15.20');
    await recordNamespaceHistories(
      client,
      ns,
      'fresh-runs',
      'backup, restore with its runs terminated at every step, a fresh run finding the restore done, a downgrade refused by a fresh run',
    );
  });
});

describe('a Database that never becomes ready', () => {
  let ns = '';
  let op: RunningOperator | undefined;
  const connection = temporalConnection();
  afterAll(async () => {
    await op?.stop();
    await (await connection).close();
    if (ns) await deleteNamespace(ns);
  });

  it('continues as new run after run with bounded histories, and its status keeps saying why', async () => {
    ns = await createNamespace('unready');
    // Above what a run takes to reach its first wait (about a hundred events), so the waits hit it.
    const limit = 120;
    op = await startOperator(ns, { DATABASE_HISTORY_LIMIT: String(limit), READY_WAIT_SECONDS: '2' });
    const client = temporalClient(await connection);
    await applyDatabase(ns, 'stuck', {
      engine: 'postgres',
      version: '15',
      image: 'localhost/durable-test/postgres-never-ready:15',
    });
    const id = databaseWorkflowId(ns, 'stuck');
    const runs = async () => {
      const out: { runId: string; status: string; historyLength: number }[] = [];
      for await (const w of client.workflow.list({ query: `WorkflowId = '${id}'` })) {
        out.push({ runId: w.runId, status: w.status.name, historyLength: w.historyLength });
      }
      return out;
    };
    await waitFor('three runs continued as new', async () => (await runs()).length >= 4, {
      timeoutMs: 400_000,
      intervalMs: 2_000,
    });
    const all = await runs();
    const closed = all.filter((r) => r.status === 'CONTINUED_AS_NEW');
    process.stderr.write(`runs of ${id}: ${all.map((r) => `${r.status} ${r.historyLength}`).join(', ')}\n`);
    expect(closed.length).toBeGreaterThanOrEqual(3);
    // Each run stops at the first wait after the limit: a handful of events past it at most.
    for (const r of closed) expect(r.historyLength).toBeLessThanOrEqual(limit + 25);

    const db = await getDatabase(ns, 'stuck');
    expect(db?.status?.phase).toBe('Provisioning');
    expect(db?.status?.conditions?.find((c) => c.type === 'Ready')?.message).toMatch(
      /^reconciling generation 1: .*(not ready|probe)/i,
    );
    // Announced once, not once per run.
    const provisioning = await kubectlOk([
      'get',
      'events',
      '-n',
      ns,
      '--field-selector',
      'reason=Provisioning,involvedObject.name=stuck',
      '-o',
      'name',
    ]);
    expect(provisioning.split('\n').filter(Boolean)).toHaveLength(1);
  });
});
