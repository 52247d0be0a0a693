/**
 * Planned switchover on real nodes (issue 10), PostgreSQL 17 with three members and a writer loop
 * through the primary Service, as an application would write:
 *
 * - `kubectl annotate database pg durable.dev/switchover-to=pg-1`: the primary role moves to pg-1
 *   with no acknowledged write lost; the old primary clones the new one and streams again;
 * - a target whose replay is paused (it lags): the switchover is aborted at its deadline, nothing
 *   changed, the writes never paused;
 * - two requests back to back: one primary at the end, the last requested;
 * - an upgrade with `upgrade.primaryUpdateMethod: switchover`: the primary's role is handed to an
 *   updated member before the primary is updated; no acknowledged write lost.
 *
 * Figures (writes paused, switchover time, rejoin) go to stderr as `[switchover] …`.
 */
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../../tools/stack/wait';
import { lostWrites, waitForRejoined, waitForWritesBack } from '../support/failover';
import { memberSql } from '../support/members';
import {
  applyDatabase,
  databaseEventReasons,
  getDatabase,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import { superuser } from '../support/sql';
import { recordAndReplayNamespace } from '../support/record-histories';
import { createNamespace, deleteNamespace, kubeConfig, kubectlOk } from '../support/stack';
import { WriterLoop } from '../support/writer-loop';
import type { Database } from '../../crds';

jest.setTimeout(900_000);

const figure = (text: string) => process.stderr.write(`[switchover] ${text}\n`);
const READY_TIMEOUT_MS = 420_000;
const DB = 'pg';
const TIMEOUT_SECONDS = 8;

describe('planned switchover on real nodes', () => {
  let ns: string;
  let op: RunningOperator;
  let core: k8s.CoreV1Api;
  let writer: WriterLoop;
  const { pgQuery } = memberSql(() => ns);

  beforeAll(async () => {
    ns = await createNamespace('switchover');
    op = await startOperator(ns);
    core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await applyDatabase(ns, DB, {
      engine: 'postgres',
      version: '17',
      replicas: 3,
      failover: { switchoverTimeoutSeconds: TIMEOUT_SECONDS },
    });
  });
  afterAll(async () => {
    await writer?.stop();
    await op?.stop();
    if (ns) await deleteNamespace(ns);
  });

  const ask = (member: string) =>
    kubectlOk(['annotate', 'database', DB, '-n', ns, `durable.dev/switchover-to=${member}`, '--overwrite']);
  const annotation = async () =>
    (await getDatabase(ns, DB))?.metadata?.annotations?.['durable.dev/switchover-to'];
  const primarySelector = async () =>
    (await core.readNamespacedService({ name: `${DB}-primary`, namespace: ns })).spec?.selector?.[
      'statefulset.kubernetes.io/pod-name'
    ];
  const recorded = async () =>
    (await core.readNamespacedConfigMap({ name: `${DB}-roles`, namespace: ns })).data;
  /** The switchover's outcome once status shows a settled one for `to` after `since`. */
  const settled = (to: string, since: number): Promise<Database> =>
    waitFor(
      `a settled switchover to ${to}`,
      async () => {
        const d = await getDatabase(ns, DB);
        const s = d?.status?.switchover;
        return s?.to === to && s.state !== 'Running' && s.time && Date.parse(s.time) >= since - 1_000
          ? d
          : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 100 },
    );
  const inRecovery = async (ordinal: number) =>
    (await pgQuery<{ r: boolean }>(DB, ordinal, 'SELECT pg_is_in_recovery() AS r'))[0]!.r;
  const writtenIds = async (ordinal: number, table = 'writes') =>
    (await pgQuery<{ id: number }>(DB, ordinal, `SELECT id FROM ${table}`)).map((r) => Number(r.id));

  it('goes Ready; a writer loop writes through the primary Service', async () => {
    await waitForPhase(ns, DB, 'Ready', { timeoutMs: READY_TIMEOUT_MS });
    await pgQuery(DB, 0, 'CREATE TABLE writes (id int PRIMARY KEY)');
    const { user, password } = await superuser(ns, DB);
    writer = new WriterLoop({ service: `${DB}-primary`, namespace: ns, user, password, table: 'writes' });
    writer.start();
    await waitFor('writes through the primary Service', async () =>
      writer.acknowledged.length > 20 ? true : undefined,
    );
  });

  it('moves the primary to the member asked for, with no acknowledged write lost', async () => {
    const asked = Date.now();
    await ask(`${DB}-1`);
    const db = await settled(`${DB}-1`, asked);
    const tookMs = Date.now() - asked;
    expect(db.status?.switchover).toMatchObject({ from: `${DB}-0`, to: `${DB}-1`, state: 'SwitchedOver' });
    expect(db.status?.currentPrimary).toBe(`${DB}-1`);
    expect(await recorded()).toEqual({ primary: `${DB}-1` });
    expect(await primarySelector()).toBe(`${DB}-1`);
    expect(await inRecovery(1)).toBe(false);
    await waitFor('the annotation removed', async () =>
      (await annotation()) === undefined ? true : undefined,
    );
    const back = await waitForWritesBack(writer, asked);
    // The pause an application saw: from its first failed write to its next acknowledged one.
    const firstFailure = writer.firstFailureAfter(asked);
    const paused = firstFailure === undefined ? 0 : back - (firstFailure - asked);
    figure(
      `switchover pg-0 → pg-1: settled ${tookMs} ms after kubectl annotate; writes through ${DB}-primary failed for ${paused} ms, ` +
        `back ${back} ms after the annotate (the workflow: ${db.status?.switchover?.reason?.match(/writes paused \d+ ms \(\d+ ms in all\)/)?.[0] ?? '?'})`,
    );
    const rejoined = await waitForRejoined(ns, DB, `${DB}-0`);
    figure(`old primary pg-0 streaming again ${Date.now() - asked} ms after kubectl annotate`);
    expect(rejoined.status?.members?.find((m) => m.name === `${DB}-0`)?.role).toBe('replica');
    const lost = lostWrites(writer, await writtenIds(1));
    // Writes acknowledged after the read above are not in it: only those before count.
    const before = lost.filter((a) => a.at < Date.now() - 2_000);
    figure(`switchover: acknowledged writes ${writer.acknowledged.length}, lost ${before.length}`);
    expect(before).toEqual([]);
    const reasons = await databaseEventReasons(ns, DB);
    expect(reasons).toEqual(expect.arrayContaining(['SwitchoverStarted', 'SwitchedOver']));
    expect(reasons).not.toContain('PrimaryFailed');
  });

  it('aborts a switchover to a lagging member at its deadline, with nothing changed', async () => {
    await waitForPhase(ns, DB, 'Ready', { timeoutMs: 120_000 });
    await pgQuery(DB, 2, 'SELECT pg_wal_replay_pause()');
    try {
      // The writer's inserts pile up behind the paused replay.
      await pgQuery(
        DB,
        1,
        'CREATE TABLE filler AS SELECT g AS id, repeat(md5(g::text), 20) AS pad FROM generate_series(1, 20000) g',
      );
      const asked = Date.now();
      const failuresBefore = writer.failures.length;
      await ask(`${DB}-2`);
      const db = await settled(`${DB}-2`, asked);
      const tookMs = Date.now() - asked;
      figure(
        `lagging target: ${db.status?.switchover?.state} ${tookMs} ms after kubectl annotate (${db.status?.switchover?.reason})`,
      );
      expect(db.status?.switchover).toMatchObject({ to: `${DB}-2`, from: `${DB}-1`, state: 'Aborted' });
      expect(db.status?.switchover?.reason).toMatch(
        new RegExp(`did not catch up within ${TIMEOUT_SECONDS}s`),
      );
      expect(tookMs).toBeGreaterThanOrEqual(TIMEOUT_SECONDS * 1000);
      expect(db.status?.currentPrimary).toBe(`${DB}-1`);
      expect(await recorded()).toEqual({ primary: `${DB}-1` });
      expect(await primarySelector()).toBe(`${DB}-1`);
      expect(await inRecovery(1)).toBe(false);
      expect(await inRecovery(2)).toBe(true);
      // Nothing was fenced: the writes never stopped.
      expect(writer.failures.slice(failuresBefore)).toEqual([]);
      expect(await databaseEventReasons(ns, DB)).toContain('SwitchoverAborted');
    } finally {
      await pgQuery(DB, 2, 'SELECT pg_wal_replay_resume()');
    }
  });

  it('two switchovers asked back to back end with one primary, the last asked for', async () => {
    await waitForPhase(ns, DB, 'Ready', { timeoutMs: 120_000 });
    const asked = Date.now();
    await ask(`${DB}-2`);
    await ask(`${DB}-0`);
    await settled(`${DB}-0`, asked);
    const db = (await getDatabase(ns, DB))!;
    expect(db.status?.switchover).toMatchObject({ to: `${DB}-0`, state: 'SwitchedOver' });
    expect(db.status?.currentPrimary).toBe(`${DB}-0`);
    expect(await recorded()).toEqual({ primary: `${DB}-0` });
    expect(await primarySelector()).toBe(`${DB}-0`);
    for (const member of [`${DB}-1`, `${DB}-2`]) await waitForRejoined(ns, DB, member);
    figure(
      `back to back (pg-2, then pg-0): pg-0 primary and both others streaming ${Date.now() - asked} ms after the first annotate`,
    );
    expect(await Promise.all([0, 1, 2].map(inRecovery))).toEqual([false, true, true]);
    const labels = (
      await core.listNamespacedPod({ namespace: ns, labelSelector: 'durable.dev/role=primary' })
    ).items
      .map((p) => p.metadata?.name)
      .filter((n) => n?.startsWith(`${DB}-`));
    expect(labels).toEqual([`${DB}-0`]);
    await writer.stop();
    const lost = lostWrites(writer, await writtenIds(0));
    figure(`in all: acknowledged writes ${writer.acknowledged.length}, lost ${lost.length}`);
    expect(lost).toEqual([]);
  });

  it('an upgrade with primaryUpdateMethod switchover hands the primary over before updating it', async () => {
    await waitForPhase(ns, DB, 'Ready', { timeoutMs: 120_000 });
    const before = (await getDatabase(ns, DB))!;
    expect(before.status?.currentPrimary).toBe(`${DB}-0`);
    await pgQuery(DB, 0, 'CREATE TABLE upgrade_writes (id int PRIMARY KEY)');
    const { user, password } = await superuser(ns, DB);
    const during = new WriterLoop({
      service: `${DB}-primary`,
      namespace: ns,
      user,
      password,
      table: 'upgrade_writes',
    });
    during.start();
    try {
      await waitFor('writes', async () => (during.acknowledged.length > 20 ? true : undefined));
      const applied = Date.now();
      await applyDatabase(ns, DB, {
        engine: 'postgres',
        version: '17.12',
        replicas: 3,
        failover: { switchoverTimeoutSeconds: TIMEOUT_SECONDS },
        upgrade: { primaryUpdateMethod: 'switchover' },
      });
      const gen = (await getDatabase(ns, DB))!.metadata.generation!;
      const db = await waitForPhase(ns, DB, 'Ready', { generation: gen, timeoutMs: 420_000 });
      expect(db.status?.currentVersion).toBe('17.12');
      // The rollout went 2, 1, then handed the primary from 0 to 1 (updated last) before 0.
      expect(db.status?.currentPrimary).toBe(`${DB}-1`);
      expect(await recorded()).toEqual({ primary: `${DB}-1` });
      const pods = await core.listNamespacedPod({
        namespace: ns,
        labelSelector: `app.kubernetes.io/instance=${DB}`,
      });
      expect(
        pods.items.map((p) => p.spec?.containers.find((c) => c.name === 'database')?.image).sort(),
      ).toEqual(['postgres:17.12', 'postgres:17.12', 'postgres:17.12']);
      for (const member of [`${DB}-0`, `${DB}-2`]) await waitForRejoined(ns, DB, member);
      const failed = during.failures.filter((f) => f.at > applied);
      const window = failed.length > 0 ? failed.at(-1)!.at - failed[0]!.at : 0;
      figure(
        `upgrade 17 → 17.12 with switchover: Ready ${Date.now() - applied} ms after kubectl apply; ` +
          `writes failed ${failed.length} times over ${window} ms`,
      );
      await during.stop();
      const lost = lostWrites(during, await writtenIds(1, 'upgrade_writes'));
      figure(
        `upgrade with switchover: acknowledged writes ${during.acknowledged.length}, lost ${lost.length}`,
      );
      expect(lost).toEqual([]);
      const reasons = await databaseEventReasons(ns, DB);
      expect(reasons).toContain('Upgraded');
    } finally {
      await during.stop();
    }
  });

  it('records histories that replay cleanly against the workflow code', async () => {
    const recorded = ['databaseWorkflow', 'switchoverWorkflow', 'upgradeWorkflow'] as const;
    const found = await recordAndReplayNamespace(
      ns,
      'switchover',
      recorded,
      'PostgreSQL: a planned switchover with a writer loop, one aborted at its deadline (lagging target), two asked back to back, an upgrade that switches the primary over',
    );
    expect(found).toEqual(new Set(recorded));
  });
});
