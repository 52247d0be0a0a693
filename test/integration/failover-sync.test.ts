/**
 * Synchronous replication across a failover on real nodes (issue 10): PostgreSQL 17, three
 * members, `replication.synchronous: {number: 1, dataDurability: required}`. A writer loop writes
 * through the primary Service while the primary's engine is killed for good; every write the
 * server acknowledged is read back from the new primary afterwards: none may be lost.
 * Figures go to stderr as `[failover-sync] …`.
 */
import { waitFor } from '../../tools/stack/wait';
import {
  killPostgresForGood,
  lostWrites,
  waitForNewPrimary,
  waitForRejoined,
  waitForWritesBack,
} from '../support/failover';
import { memberSql } from '../support/members';
import {
  applyDatabase,
  getDatabase,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import { superuser } from '../support/sql';
import { createNamespace, deleteNamespace } from '../support/stack';
import { WriterLoop } from '../support/writer-loop';

jest.setTimeout(900_000);

const figure = (text: string) => process.stderr.write(`[failover-sync] ${text}\n`);
const DB = 'sync';

describe('synchronous replication across a failover', () => {
  let ns: string;
  let op: RunningOperator;
  let writer: WriterLoop | undefined;
  const { pgQuery } = memberSql(() => ns);
  const ordinalOf = (pod: string) => Number(pod.split('-').pop());

  beforeAll(async () => {
    ns = await createNamespace('failover-sync');
    op = await startOperator(ns);
    await applyDatabase(ns, DB, {
      engine: 'postgres',
      version: '17',
      replicas: 3,
      failover: { delaySeconds: 3 },
      replication: { synchronous: { number: 1, dataDurability: 'required' } },
    });
  });
  afterAll(async () => {
    await writer?.stop();
    await op?.stop();
    if (ns) await deleteNamespace(ns);
  });

  it('names every standby in synchronous_standby_names, and both stream in quorum', async () => {
    await waitForPhase(ns, DB, 'Ready', { timeoutMs: 420_000 });
    const [setting] = await pgQuery<{ v: string }>(
      DB,
      0,
      "SELECT current_setting('synchronous_standby_names') AS v",
    );
    expect(setting?.v).toBe(`ANY 1 ("${DB}-1", "${DB}-2")`);
    const standbys = await waitFor('both standbys in quorum', async () => {
      const rows = await pgQuery<{ application_name: string; sync_state: string }>(
        DB,
        0,
        'SELECT application_name, sync_state FROM pg_stat_replication ORDER BY application_name',
      );
      return rows.length === 2 && rows.every((r) => r.sync_state === 'quorum') ? rows : undefined;
    });
    expect(standbys.map((r) => r.application_name)).toEqual([`${DB}-1`, `${DB}-2`]);
  });

  it('loses no acknowledged write when the primary is killed for good', async () => {
    await pgQuery(DB, 0, 'CREATE TABLE writes (id int PRIMARY KEY)');
    const { user, password } = await superuser(ns, DB);
    writer = new WriterLoop({ service: `${DB}-primary`, namespace: ns, user, password, table: 'writes' });
    writer.start();
    await waitFor('writes', async () => (writer!.acknowledged.length > 50 ? true : undefined));
    const killed = await killPostgresForGood(ns, `${DB}-0`);
    const db = await waitForNewPrimary(ns, DB, `${DB}-0`);
    const primary = db.status!.currentPrimary!;
    const back = await waitForWritesBack(writer, killed);
    await writer!.stop();
    const ids = await pgQuery<{ id: number }>(DB, ordinalOf(primary), 'SELECT id FROM writes');
    const lost = lostWrites(
      writer,
      ids.map((r) => Number(r.id)),
    );
    figure(
      `synchronous (ANY 1, required): ${writer!.acknowledged.length} writes acknowledged, ${lost.length} lost; ` +
        `${primary} primary, writes accepted again ${back} ms after the kill`,
    );
    expect(lost).toEqual([]);
  });

  it('the old primary rejoins, and the new primary names the standbys it has now', async () => {
    const primary = (await getDatabase(ns, DB))!.status!.currentPrimary!;
    await waitForRejoined(ns, DB, `${DB}-0`);
    const others = [0, 1, 2].filter((o) => o !== ordinalOf(primary)).map((o) => `"${DB}-${o}"`);
    const setting = await waitFor('synchronous_standby_names on the new primary', async () => {
      const [row] = await pgQuery<{ v: string }>(
        DB,
        ordinalOf(primary),
        "SELECT current_setting('synchronous_standby_names') AS v",
      );
      return row?.v === `ANY 1 (${others.join(', ')})` ? row.v : undefined;
    });
    expect(setting).toBe(`ANY 1 (${others.join(', ')})`);
  });
});
