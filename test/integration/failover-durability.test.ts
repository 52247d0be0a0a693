/**
 * A failover survives its worker being SIGKILLed at every activity boundary (issue 10): each
 * worker process completes exactly one activity (one-activity-worker.ts) and is killed as soon as
 * that completion is in a history, so it also dies in the middle of the next one. The failover
 * must still end with exactly one primary: one member out of recovery, the role record, the
 * primary Service and the role labels all naming it. Then a planned switchover under the same
 * kills ends with the member asked for as the only primary.
 */
import * as k8s from '@kubernetes/client-node';
import type { Client, Connection } from '@temporalio/client';
import { waitFor } from '../../tools/stack/wait';
import { failoverWorkflowId } from '../../workflows/failover-names';
import { switchoverWorkflowId } from '../../workflows/switchover-names';
import { databaseWorkflowId } from '../../workflows/signals';
import { killPostgresForGood, waitForNewPrimary } from '../support/failover';
import { memberSql } from '../support/members';
import {
  applyDatabase,
  completedActivities,
  getDatabase,
  installCrds,
  operatorConfig,
  operatorProcesses,
  waitForPhase,
} from '../support/operator';
import {
  createNamespace,
  deleteNamespace,
  kubeConfig,
  kubectlOk,
  temporalClient,
  temporalConnection,
  uniqueName,
} from '../support/stack';

jest.setTimeout(900_000);

const DB = 'crashy';

describe('failover durability', () => {
  let ns: string;
  let connection: Connection;
  let client: Client;
  const { start, kill, killAll } = operatorProcesses();
  const { pgQuery } = memberSql(() => ns);

  beforeAll(async () => {
    await installCrds();
    ns = await createNamespace('failover-crash');
    connection = await temporalConnection();
    client = temporalClient(connection);
  });
  afterAll(async () => {
    killAll();
    await connection.close();
    if (ns) await deleteNamespace(ns);
  });

  /** Activities completed by the Database workflow and its first failover, in order. */
  const completed = async () => [
    ...(await completedActivities(client, databaseWorkflowId(ns, DB))),
    ...(await completedActivities(client, failoverWorkflowId(ns, DB, 1))).map((a) => `failover:${a}`),
  ];

  // One task queue for both tests: the Database's workflow and its children stay on the queue
  // they were started on.
  const taskQueue = uniqueName('failover-crash');

  it('ends with exactly one primary after the worker is SIGKILLed at every activity boundary', async () => {
    const cfg = operatorConfig(ns, taskQueue);
    const watcher = start('watcher', cfg, `watcher-${taskQueue}`);
    let worker = start('worker', cfg, `worker-${taskQueue}-provision`);
    await applyDatabase(ns, DB, {
      engine: 'postgres',
      version: '17',
      replicas: 3,
      failover: { delaySeconds: 2 },
    });
    await waitForPhase(ns, DB, 'Ready', { timeoutMs: 420_000 });
    await kill(worker);

    await killPostgresForGood(ns, `${DB}-0`);

    const kills: string[] = [];
    for (let round = 0; round < 60; round++) {
      worker = start('oneActivityWorker', cfg, `worker-${taskQueue}-${round}`);
      const seen = (await completed()).length;
      const last = await waitFor(
        `activity ${seen + 1} to complete (round ${round})`,
        async () => {
          const done = await completed();
          return done.length > seen ? done.at(-1)! : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 100 },
      );
      await kill(worker);
      kills.push(last);
      process.stderr.write(`[failover-durability] SIGKILLed the worker after ${last}\n`);
      if (last === 'failover:configureReplication') break;
    }
    // Killed after each step of the failover runbook.
    for (const step of [
      'assessPrimary',
      'chooseFailoverTarget',
      'fencePrimary',
      'reserveSlots',
      'pointReplicasAt',
      'promoteMember',
      'completeFailover',
    ]) {
      expect(kills).toContain(`failover:${step}`);
    }

    worker = start('worker', cfg, `worker-${taskQueue}-final`);
    const db = await waitForNewPrimary(ns, DB, `${DB}-0`, 180_000);
    const primary = db.status!.currentPrimary!;
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const roles = await core.readNamespacedConfigMap({ name: `${DB}-roles`, namespace: ns });
    expect(roles.data).toEqual({ primary });
    const service = await core.readNamespacedService({ name: `${DB}-primary`, namespace: ns });
    expect(service.spec?.selector?.['statefulset.kubernetes.io/pod-name']).toBe(primary);
    // One member out of recovery, once the old primary is back as a standby.
    await waitFor(
      'the old primary streaming',
      async () => {
        const d = await getDatabase(ns, DB);
        return d?.status?.phase === 'Ready' && d.status.members?.every((m) => m.state !== 'not connected')
          ? true
          : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 500 },
    );
    const writable: string[] = [];
    for (const ordinal of [0, 1, 2]) {
      const [row] = await pgQuery<{ r: boolean }>(DB, ordinal, 'SELECT pg_is_in_recovery() AS r');
      if (row && !row.r) writable.push(`${DB}-${ordinal}`);
    }
    expect(writable).toEqual([primary]);
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'durable.dev/role=primary' });
    expect(pods.items.map((p) => p.metadata?.name)).toEqual([primary]);
    await kill(worker);
    await kill(watcher);
  });

  /**
   * Activities completed since `dbBefore` by the Database workflow, then those of its first
   * switchover, each list in order (the newest of either is last in its own list only).
   */
  const completedWithSwitchover = async (dbBefore: number) => [
    ...(await completedActivities(client, databaseWorkflowId(ns, DB))).slice(dbBefore),
    ...(await completedActivities(client, switchoverWorkflowId(ns, DB, 1))).map((a) => `switchover:${a}`),
  ];

  it('a switchover ends with exactly one primary, the one asked for, after the same kills', async () => {
    const cfg = operatorConfig(ns, taskQueue);
    const watcher = start('watcher', cfg, `watcher-${taskQueue}-switchover`);
    const from = (await getDatabase(ns, DB))!.status!.currentPrimary!;
    const to = [0, 1, 2].map((o) => `${DB}-${o}`).find((m) => m !== from)!;
    await kubectlOk(['annotate', 'database', DB, '-n', ns, `durable.dev/switchover-to=${to}`, '--overwrite']);
    const dbBefore = (await completedActivities(client, databaseWorkflowId(ns, DB))).length;
    const kills: string[] = [];
    for (let round = 0; round < 60; round++) {
      const worker = start('oneActivityWorker', cfg, `worker-${taskQueue}-switchover-${round}`);
      const before = await completedWithSwitchover(dbBefore);
      const last = await waitFor(
        `activity ${before.length + 1} to complete (round ${round})`,
        async () => {
          const done = await completedWithSwitchover(dbBefore);
          return done.length > before.length ? done.find((a, i) => a !== before[i])! : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 100 },
      );
      await kill(worker);
      kills.push(last);
      process.stderr.write(`[failover-durability] switchover: SIGKILLed the worker after ${last}\n`);
      if (last === 'clearSwitchoverRequest') break;
    }
    for (const step of [
      'checkSwitchover',
      'waitForCatchUp',
      'reserveSlots',
      'fencePrimary',
      'waitForHandover',
      'promoteMember',
      'completeFailover',
    ]) {
      expect(kills).toContain(`switchover:${step}`);
    }

    const worker = start('worker', cfg, `worker-${taskQueue}-switchover-final`);
    const db = await waitFor(
      `${to} primary and every member streaming`,
      async () => {
        const d = await getDatabase(ns, DB);
        return d?.status?.phase === 'Ready' &&
          d.status.currentPrimary === to &&
          d.status.members?.every((m) => m.state !== 'not connected')
          ? d
          : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 500 },
    );
    expect(db.status?.switchover).toMatchObject({ to, from, state: 'SwitchedOver' });
    expect(db.metadata.annotations?.['durable.dev/switchover-to']).toBeUndefined();
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    const roles = await core.readNamespacedConfigMap({ name: `${DB}-roles`, namespace: ns });
    expect(roles.data).toEqual({ primary: to });
    const writable: string[] = [];
    for (const ordinal of [0, 1, 2]) {
      const [row] = await pgQuery<{ r: boolean }>(DB, ordinal, 'SELECT pg_is_in_recovery() AS r');
      if (row && !row.r) writable.push(`${DB}-${ordinal}`);
    }
    expect(writable).toEqual([to]);
    const pods = await core.listNamespacedPod({ namespace: ns, labelSelector: 'durable.dev/role=primary' });
    expect(pods.items.map((p) => p.metadata?.name)).toEqual([to]);
    await kill(worker);
    await kill(watcher);
  });
});
