/**
 * Failover on real nodes for MariaDB 11.8 (issue 10), three members and a writer loop through the
 * primary Service, as an application would write:
 *
 * - the primary's engine frozen (SIGSTOP: it holds its port and answers nothing) after its
 *   replicas stopped receiving, so that its last acknowledged writes are on it alone, as
 *   asynchronous replication can leave them: the operator fences it, promotes a replica, and the
 *   writes go on through the same Service; the old primary, back in a new pod, is refused by the
 *   new primary (error 1236: it holds transactions the new primary never had), is given an empty
 *   volume and replays the new primary's binary log: it streams again, with exactly the new
 *   primary's rows;
 * - the new primary frozen with nothing unreplicated: replaced the same way, and back as a
 *   replica that continues from its own last transaction, its data kept.
 *
 * Figures go to stderr as `[failover-mariadb] …`.
 */
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../../tools/stack/wait';
import { freezeEngine } from '../support/faults';
import { lostWrites, waitForNewPrimary, waitForRejoined, waitForWritesBack } from '../support/failover';
import { memberSql } from '../support/members';
import {
  applyDatabase,
  databaseEventReasons,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import { superuser } from '../support/sql';
import { recordAndReplayNamespace } from '../support/record-histories';
import { createNamespace, deleteNamespace, kubeConfig, kubectlOk } from '../support/stack';
import { WriterLoop } from '../support/writer-loop';

jest.setTimeout(900_000);

const figure = (text: string) => process.stderr.write(`[failover-mariadb] ${text}\n`);
const READY_TIMEOUT_MS = 420_000;
const DB = 'mdb';

describe('MariaDB failover on real nodes', () => {
  let ns: string;
  let op: RunningOperator;
  let core: k8s.CoreV1Api;
  let writer: WriterLoop | undefined;
  const { myQuery } = memberSql(() => ns);

  beforeAll(async () => {
    ns = await createNamespace('failover-mariadb');
    op = await startOperator(ns);
    core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await applyDatabase(ns, DB, {
      engine: 'mariadb',
      version: '11.8',
      replicas: 3,
      failover: { delaySeconds: 3 },
    });
  });
  afterAll(async () => {
    await writer?.stop();
    await op?.stop();
    if (ns) await deleteNamespace(ns);
  });

  const ordinalOf = (member: string) => Number(member.split('-').pop());
  const primarySelector = async () =>
    (await core.readNamespacedService({ name: `${DB}-primary`, namespace: ns })).spec?.selector?.[
      'statefulset.kubernetes.io/pod-name'
    ];
  const roleLabel = async (pod: string) =>
    (await core.readNamespacedPod({ name: pod, namespace: ns })).metadata?.labels?.['durable.dev/role'];
  const count = (all: string[], reason: string) => all.filter((r) => r === reason).length;
  const writtenIds = async (ordinal: number) =>
    (await myQuery<{ id: number }>(DB, ordinal, 'SELECT id FROM app.writes'))
      .map((r) => Number(r.id))
      .sort((a, b) => a - b);
  const claimUid = (ordinal: number) =>
    kubectlOk(['get', 'pvc', '-n', ns, `data-${DB}-${ordinal}`, '-o', 'jsonpath={.metadata.uid}']);
  const startWriter = async () => {
    const { user, password } = await superuser(ns, DB);
    writer = new WriterLoop({
      service: `${DB}-primary`,
      namespace: ns,
      user,
      password,
      table: 'writes',
      engine: 'mariadb',
      database: 'app',
    });
    writer.start();
    const from = writer.acknowledged.length;
    await waitFor('writes through the primary Service', async () =>
      writer!.acknowledged.length > from + 20 ? true : undefined,
    );
  };

  it('goes Ready with member 0 as the primary, and a writer loop writes through the primary Service', async () => {
    const db = await waitForPhase(ns, DB, 'Ready', { timeoutMs: READY_TIMEOUT_MS });
    expect(db.status?.members?.map((m) => `${m.name} ${m.role}`)).toEqual([
      `${DB}-0 primary`,
      `${DB}-1 replica`,
      `${DB}-2 replica`,
    ]);
    expect(await primarySelector()).toBe(`${DB}-0`);
    await myQuery(DB, 0, 'CREATE DATABASE app');
    await myQuery(DB, 0, 'CREATE TABLE app.writes (id int PRIMARY KEY)');
    await startWriter();
  });

  it('a frozen primary whose last writes no replica has is replaced; it comes back on an empty volume', async () => {
    // The replicas stop receiving: what the primary acknowledges from now on is on it alone.
    for (const ordinal of [1, 2]) await myQuery(DB, ordinal, 'STOP SLAVE IO_THREAD');
    const unshipped = writer!.acknowledged.length;
    await waitFor('writes only the primary has', async () =>
      writer!.acknowledged.length > unshipped + 10 ? true : undefined,
    );
    const claimBefore = await claimUid(0);
    const frozen = await freezeEngine(ns, `${DB}-0`);
    const failedOver = await waitForNewPrimary(ns, DB, `${DB}-0`);
    const newPrimary = failedOver.status!.currentPrimary!;
    const failoverMs = Date.now() - frozen;
    const writesBackMs = await waitForWritesBack(writer!, frozen);
    const failed = writer!.failures.filter((f) => f.at > frozen);
    figure(
      `primary frozen → ${newPrimary} recorded primary ${failoverMs} ms (delay 3 s); writes accepted through ${DB}-primary after ${writesBackMs} ms ` +
        `(${failed.length} failed attempts, the first ${failed.length > 0 ? failed[0]!.at - frozen : '-'} ms after the freeze: ${failed[0]?.message ?? ''}; ` +
        `${writer!.acknowledged.filter((a) => a.at > frozen && a.at < frozen + failoverMs).length} acknowledged in between)`,
    );
    expect(await databaseEventReasons(ns, DB)).toEqual(
      expect.arrayContaining(['PrimaryFailed', 'FailedOver']),
    );
    expect(await primarySelector()).toBe(newPrimary);
    const [promoted] = await myQuery<{ ro: number; replicas: number }>(
      DB,
      ordinalOf(newPrimary),
      'SELECT @@GLOBAL.read_only AS ro',
    );
    expect(Number(promoted?.ro)).toBe(0);
    expect(await myQuery(DB, ordinalOf(newPrimary), 'SHOW SLAVE STATUS')).toEqual([]);

    // The old primary's pod was deleted by the fence; its new pod is refused by the new primary,
    // which never had its last transactions, and is given an empty volume.
    await waitForRejoined(ns, DB, `${DB}-0`);
    figure(
      `old primary ${DB}-0 streaming from ${newPrimary} again ${((Date.now() - frozen) / 1000).toFixed(1)} s after the freeze`,
    );
    expect(await databaseEventReasons(ns, DB)).toContain('ReplicaDiverged');
    expect(await claimUid(0)).not.toBe(claimBefore);
    expect(await roleLabel(`${DB}-0`)).toBe('replica');
    const [ro] = await myQuery<{ ro: number }>(DB, 0, 'SELECT @@GLOBAL.read_only AS ro');
    expect(Number(ro?.ro)).toBe(1);

    await writer!.stop();
    const onPrimary = await writtenIds(ordinalOf(newPrimary));
    const lost = lostWrites(writer!, onPrimary);
    figure(
      `acknowledged writes: ${writer!.acknowledged.length}, lost with the frozen primary (asynchronous, unshipped by design): ${lost.length}`,
    );
    // Lost: only writes the old primary acknowledged while the replicas were not receiving, before
    // the outage began (a commit can race the freeze); none once writes flowed again.
    expect(lost.length).toBeGreaterThanOrEqual(10);
    const outageBegan = writer!.firstFailureAfter(frozen);
    expect(outageBegan).toBeDefined();
    expect(lost.filter((a) => a.at > outageBegan!)).toEqual([]);
    // Every member ends with the new primary's rows, the re-cloned one included.
    await waitFor('the members agree', async () => {
      const all = await Promise.all([0, 1, 2].map((o) => writtenIds(o).then((ids) => ids.join(','))));
      return all.every((x) => x === all[0]) ? true : undefined;
    });
  });

  it('a frozen primary with nothing unreplicated is replaced and rejoins from its own last transaction, data kept', async () => {
    const primary = (await primarySelector())!;
    const diverged = count(await databaseEventReasons(ns, DB), 'ReplicaDiverged');
    const claimBefore = await claimUid(ordinalOf(primary));
    const frozen = await freezeEngine(ns, primary);
    const failedOver = await waitForNewPrimary(ns, DB, primary);
    const next = failedOver.status!.currentPrimary!;
    figure(`${primary} frozen → ${next} recorded primary ${Date.now() - frozen} ms`);
    await waitForRejoined(ns, DB, primary);
    figure(
      `${primary} streaming from ${next} ${((Date.now() - frozen) / 1000).toFixed(1)} s after the freeze, its data kept`,
    );
    expect(count(await databaseEventReasons(ns, DB), 'ReplicaDiverged')).toBe(diverged);
    expect(await claimUid(ordinalOf(primary))).toBe(claimBefore);
    await startWriter();
    await writer!.stop();
    const ids = await writtenIds(ordinalOf(next));
    await waitFor(`${primary} has the new primary's rows`, async () =>
      (await writtenIds(ordinalOf(primary))).length === ids.length ? true : undefined,
    );
  });

  it('records histories that replay cleanly against the workflow code', async () => {
    const found = await recordAndReplayNamespace(
      ns,
      'failover-mariadb',
      ['databaseWorkflow', 'failoverWorkflow'],
      'MariaDB: two failovers of a frozen primary; a diverged former primary given an empty volume, a clean one continuing from its binary log',
    );
    expect(found).toEqual(new Set(['databaseWorkflow', 'failoverWorkflow']));
  });
});
