/**
 * Failover on real nodes (issue 10), PostgreSQL 17 with three members and a writer loop through
 * the primary Service, as an application would write:
 *
 * - the primary's engine SIGKILLed once: the container restarts within the delay, no failover;
 * - the primary's engine SIGKILLed for good (its control file moved away first, so every
 *   restart fails: CrashLoopBackOff): the operator confirms the failure, fences the old primary,
 *   promotes the most advanced replica and the writes go on through the same Service; the old
 *   primary, re-created by the fence, clones the new primary and rejoins as a replica.
 *
 * - the primary partitioned (its node's kubelet stopped, its pod's network cut): replaced; once the
 *   partition heals, the old primary rejoins as a replica, and no write it took after the outage
 *   began is acknowledged.
 *
 * Figures (detection, failover, rejoin, writes lost) go to stderr as `[failover] …`.
 */
import * as k8s from '@kubernetes/client-node';
import { waitFor } from '../../tools/stack/wait';
import { cutPodNetwork, enginePid, killEngine, stopKubelet } from '../support/faults';
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
  databaseEventReasons,
  getDatabase,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import { superuser } from '../support/sql';
import { recordAndReplayNamespace } from '../support/record-histories';
import {
  createNamespace,
  deleteNamespace,
  kubeConfig,
  kubectlOk,
  temporalClient,
  temporalConnection,
} from '../support/stack';
import { failoverWorkflowId } from '../../workflows/failover-names';
import type { FailoverOutcome } from '../../workflows/failover';
import { WriterLoop } from '../support/writer-loop';

jest.setTimeout(900_000);

const figure = (text: string) => process.stderr.write(`[failover] ${text}\n`);
const READY_TIMEOUT_MS = 420_000;
const DB = 'pg';
const spec = (delaySeconds: number) => ({
  engine: 'postgres' as const,
  version: '17',
  replicas: 3,
  failover: { delaySeconds },
});

describe('failover on real nodes', () => {
  let ns: string;
  let op: RunningOperator;
  let core: k8s.CoreV1Api;
  let writer: WriterLoop | undefined;
  const { pgQuery } = memberSql(() => ns);

  beforeAll(async () => {
    ns = await createNamespace('failover');
    op = await startOperator(ns);
    core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await applyDatabase(ns, DB, spec(15));
  });
  afterAll(async () => {
    await writer?.stop();
    await op?.stop();
    if (ns) await deleteNamespace(ns);
  });

  const primarySelector = async () =>
    (await core.readNamespacedService({ name: `${DB}-primary`, namespace: ns })).spec?.selector?.[
      'statefulset.kubernetes.io/pod-name'
    ];
  const roleLabel = async (pod: string) =>
    (await core.readNamespacedPod({ name: pod, namespace: ns })).metadata?.labels?.['durable.dev/role'];
  const reasons = () => databaseEventReasons(ns, DB);
  const count = (all: string[], reason: string) => all.filter((r) => r === reason).length;
  const writtenIds = async (ordinal: number) =>
    (await pgQuery<{ id: number }>(DB, ordinal, 'SELECT id FROM writes')).map((r) => Number(r.id));

  it('goes Ready with member 0 as the recorded primary, and a writer loop writes through the primary Service', async () => {
    const db = await waitForPhase(ns, DB, 'Ready', { timeoutMs: READY_TIMEOUT_MS });
    expect(db.status?.members?.map((m) => `${m.name} ${m.role}`)).toEqual([
      `${DB}-0 primary`,
      `${DB}-1 replica`,
      `${DB}-2 replica`,
    ]);
    const roles = await core.readNamespacedConfigMap({ name: `${DB}-roles`, namespace: ns });
    expect(roles.data).toEqual({ primary: `${DB}-0` });
    expect(await primarySelector()).toBe(`${DB}-0`);
    await waitFor('role labels', async () =>
      (await roleLabel(`${DB}-0`)) === 'primary' && (await roleLabel(`${DB}-1`)) === 'replica'
        ? true
        : undefined,
    );
    await pgQuery(DB, 0, 'CREATE TABLE writes (id int PRIMARY KEY)');
    const { user, password } = await superuser(ns, DB);
    writer = new WriterLoop({ service: `${DB}-primary`, namespace: ns, user, password, table: 'writes' });
    writer.start();
    await waitFor('writes through the primary Service', async () =>
      writer!.acknowledged.length > 20 ? true : undefined,
    );
  });

  it('a primary that comes back within the delay is not failed over', async () => {
    const before = await reasons();
    const { restarts } = await enginePid(ns, `${DB}-0`);
    const killed = await killEngine(ns, `${DB}-0`);
    // Back: restarted by the kubelet, Ready, and writes accepted again.
    await waitFor(
      'member 0 restarted',
      async () =>
        (await enginePid(ns, `${DB}-0`).catch(() => undefined))?.restarts === restarts + 1 ? true : undefined,
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    await waitFor(
      'writes again',
      async () => (writer!.writesBackAfter(killed) !== undefined ? true : undefined),
      {
        timeoutMs: 60_000,
        intervalMs: 100,
      },
    );
    figure(
      `engine killed once: writes accepted again after ${writer!.writesBackAfter(killed)} ms, by the same primary`,
    );
    // Longer than the delay (15 s) plus a look: had the operator decided to fail over, it would have.
    await new Promise((r) => setTimeout(r, 25_000));
    const after = await reasons();
    expect(count(after, 'PrimaryFailed')).toBe(count(before, 'PrimaryFailed'));
    expect(await primarySelector()).toBe(`${DB}-0`);
    expect((await getDatabase(ns, DB))?.status?.currentPrimary ?? `${DB}-0`).toBe(`${DB}-0`);
  });

  it('a primary failed for good is fenced and replaced; writes go on through the same Service', async () => {
    await applyDatabase(ns, DB, spec(3));
    await waitForPhase(ns, DB, 'Ready', { generation: 2, timeoutMs: 180_000 });
    const acknowledgedBefore = writer!.acknowledged.length;
    const killed = await killPostgresForGood(ns, `${DB}-0`);
    const failedOver = await waitForNewPrimary(ns, DB, `${DB}-0`);
    const newPrimary = failedOver.status!.currentPrimary!;
    const failoverMs = Date.now() - killed;
    const writesBackMs = await waitForWritesBack(writer!, killed);
    const events = await core.listNamespacedEvent({
      namespace: ns,
      fieldSelector: `involvedObject.name=${DB},involvedObject.kind=Database`,
    });
    const at = (reason: string) => {
      const e = events.items.filter((x) => x.reason === reason).at(-1);
      const t = e?.eventTime ?? e?.lastTimestamp ?? e?.firstTimestamp;
      return t ? new Date(t as unknown as string).getTime() : undefined;
    };
    figure(
      `primary lost → PrimaryFailed Event ${((at('PrimaryFailed') ?? Number.NaN) - killed) / 1000} s (delay 3 s); ` +
        `→ ${newPrimary} recorded primary ${failoverMs} ms; → writes accepted through ${DB}-primary after ${writesBackMs} ms`,
    );
    expect(await reasons()).toEqual(expect.arrayContaining(['PrimaryFailed', 'FailedOver']));
    expect(await primarySelector()).toBe(newPrimary);
    const roles = await core.readNamespacedConfigMap({ name: `${DB}-roles`, namespace: ns });
    expect(roles.data).toEqual({ primary: newPrimary });
    const ordinal = Number(newPrimary.split('-').pop());
    const [promoted] = await pgQuery<{ r: boolean }>(DB, ordinal, 'SELECT pg_is_in_recovery() AS r');
    expect(promoted?.r).toBe(false);
    expect(writer!.acknowledged.length).toBeGreaterThan(acknowledgedBefore);

    // The old primary rejoins as a replica of the new one (re-cloned: its pod was deleted by the
    // fence, and the re-created pod's init container found another member recorded as primary).
    const rejoined = await waitForRejoined(ns, DB, `${DB}-0`);
    const rejoinMs = Date.now() - killed;
    const [standby] = await pgQuery<{ r: boolean }>(DB, 0, 'SELECT pg_is_in_recovery() AS r');
    expect(standby?.r).toBe(true);
    expect(await roleLabel(`${DB}-0`)).toBe('replica');
    expect(await roleLabel(newPrimary)).toBe('primary');
    const logs = await kubectlOk(['logs', '-n', ns, `${DB}-0`, '-c', 'bootstrap-replica']);
    expect(logs).toMatch(new RegExp(`holds a former primary and ${newPrimary} is the primary now`));
    figure(
      `old primary ${DB}-0 streaming from ${newPrimary} again ${(rejoinMs / 1000).toFixed(1)} s after it was lost`,
    );

    // Acknowledged writes: asynchronous replication may lose the last ones before the kill.
    await writer!.stop();
    const lost = lostWrites(writer!, await writtenIds(ordinal));
    figure(
      `acknowledged writes: ${writer!.acknowledged.length}, lost across the failover (asynchronous): ${lost.length}; ` +
        `failed attempts during it: ${writer!.failures.filter((f) => f.at > killed).length}`,
    );
    // Lost writes can only be the old primary's last ones, acknowledged before the outage began
    // (a commit can race the kill); none acknowledged once writes flowed again.
    const outageBegan = writer!.firstFailureAfter(killed)!;
    expect(lost.filter((a) => a.at > outageBegan)).toEqual([]);
    // Status of the replicas, as the Database reports them.
    const members = rejoined.status?.members ?? [];
    expect(members.filter((m) => m.role === 'primary').map((m) => m.name)).toEqual([newPrimary]);
  });

  it('a deleted role record is made again from the primary Service, not handed back to member 0', async () => {
    const primary = (await getDatabase(ns, DB))!.status!.currentPrimary!;
    expect(primary).not.toBe(`${DB}-0`);
    await kubectlOk(['delete', 'configmap', `${DB}-roles`, '-n', ns]);
    const remade = await waitFor(
      'the role record again',
      async () =>
        (await core.readNamespacedConfigMap({ name: `${DB}-roles`, namespace: ns }).catch(() => undefined))
          ?.data,
      { timeoutMs: 120_000, intervalMs: 500 },
    );
    expect(remade).toEqual({ primary });
    expect(await primarySelector()).toBe(primary);
  });

  it('a partitioned primary (kubelet stopped, pod network cut) is replaced, and took no write after the outage began', async () => {
    const before = (await getDatabase(ns, DB))!.status!.currentPrimary!;
    const pod = await core.readNamespacedPod({ name: before, namespace: ns });
    const { user, password } = await superuser(ns, DB);
    writer = new WriterLoop({ service: `${DB}-primary`, namespace: ns, user, password, table: 'writes' });
    writer.start();
    await waitFor('writes', async () => (writer!.acknowledged.length > 20 ? true : undefined));
    const thaw = stopKubelet(pod.spec!.nodeName!);
    let heal: (() => Promise<void>) | undefined;
    const cut = Date.now();
    try {
      heal = await cutPodNetwork(pod.status!.podIP!);
      const replaced = await waitForNewPrimary(ns, DB, before, 240_000);
      const after = replaced.status!.currentPrimary!;
      const back = await waitForWritesBack(writer, cut);
      figure(
        `partition of ${before} (kubelet stopped, network cut) → ${after} primary after ${((Date.now() - cut) / 1000).toFixed(1)} s ` +
          `(the node controller marks the pod NotReady first); writes accepted again after ${back} ms`,
      );
      expect(await primarySelector()).toBe(after);
      // The partition heals: the kubelet runs again (it finishes the fence's deletion of the old
      // pod), the network is back. The old primary comes back as a replica of the new one.
      const healed = Date.now();
      thaw();
      await heal();
      heal = undefined;
      // Every member streams from the new primary: the third one too, whose WAL receiver the
      // failover moved off the partitioned primary before promoting (were it still tied to it,
      // the healed primary's last WAL would put it past the new timeline's fork for good).
      await waitForRejoined(ns, DB, before, 300_000);
      figure(
        `partition healed: ${before} streaming as a replica ${((Date.now() - healed) / 1000).toFixed(1)} s later`,
      );
      const third = [0, 1, 2].map((o) => `${DB}-${o}`).find((m) => m !== before && m !== after)!;
      const connection = await temporalConnection();
      try {
        const outcome = (await temporalClient(connection)
          .workflow.getHandle(failoverWorkflowId(ns, DB, 2))
          .result()) as FailoverOutcome;
        expect(outcome.to).toBe(Number(after.split('-').pop()));
        expect(outcome.steps.join('\n')).toMatch(new RegExp(`pointed ${third} → ${after}\\.`));
      } finally {
        await connection.close();
      }
      const members = (await getDatabase(ns, DB))!.status!.members!;
      expect(members.map((m) => `${m.name} ${m.state}`).sort()).toEqual(
        [0, 1, 2].map((o) => `${DB}-${o} ${`${DB}-${o}` === after ? 'writable' : 'streaming'}`),
      );
      await writer.stop();
      const lost = lostWrites(writer, await writtenIds(Number(after.split('-').pop())));
      figure(`partition: acknowledged writes ${writer.acknowledged.length}, lost ${lost.length}`);
      // The partitioned primary took no write through the Service once the outage began: every
      // write acknowledged since is on the new primary.
      expect(lost.filter((a) => a.at > writer!.firstFailureAfter(cut)!)).toEqual([]);
    } finally {
      thaw();
      await heal?.();
    }
  });

  it('records histories that replay cleanly against the workflow code', async () => {
    const found = await recordAndReplayNamespace(
      ns,
      'failover',
      ['databaseWorkflow', 'failoverWorkflow'],
      'PostgreSQL: a primary back within the delay (no failover), a failover with fencing, promotion and rejoin',
    );
    expect(found).toEqual(new Set(['databaseWorkflow', 'failoverWorkflow']));
  });
});
