import type { Client, Connection } from '@temporalio/client';
import { waitFor } from '../../tools/stack/wait';
import { databaseWorkflowId } from '../../workflows/signals';
import {
  applyDatabase,
  completedActivities,
  databaseEventReasons,
  getDatabase,
  objectsOfDatabase,
  installCrds,
  operatorConfig,
  operatorProcesses,
  waitForPhase,
} from '../support/operator';
import { PROVISION_STEPS } from '../support/provision-steps';
import {
  createNamespace,
  deleteNamespace,
  temporalClient,
  temporalConnection,
  uniqueName,
} from '../support/stack';

/**
 * Crash safety, with real processes and SIGKILL: the worker is killed after every activity of a
 * provisioning (each worker process completes exactly one activity, see one-activity-worker.ts,
 * so it also dies in the middle of the next one), the watcher is killed while a change is made,
 * and the Database still converges, with no object written twice and no step skipped.
 */
describe('durability', () => {
  const name = 'ledger';
  let ns: string;
  let connection: Connection;
  let client: Client;
  const { start, kill, killAll } = operatorProcesses();

  beforeAll(async () => {
    await installCrds();
    ns = await createNamespace('crash');
    connection = await temporalConnection();
    client = temporalClient(connection);
  });
  afterAll(async () => {
    killAll();
    await connection.close();
    await deleteNamespace(ns);
  });

  const completed = () => completedActivities(client, databaseWorkflowId(ns, name));

  it('converges after the worker is SIGKILLed at every activity boundary, and after a watcher kill', async () => {
    const taskQueue = uniqueName('crash');
    const cfg = operatorConfig(ns, taskQueue);
    let watcher = start('watcher', cfg, `watcher-${taskQueue}-0`);
    await applyDatabase(ns, name, { engine: 'mariadb', version: '11.8', replicas: 2 });

    const kills: string[] = [];
    const advances: number[] = [];
    const started = Date.now();
    for (let round = 0; round < 40; round++) {
      const worker = start('oneActivityWorker', cfg, `worker-${taskQueue}-${round}`);
      const seen = (await completed()).length;
      const progressed = await waitFor(
        `activity ${seen + 1} to complete (round ${round})`,
        async () => {
          const done = await completed();
          return done.length > seen ? { last: done.at(-1)!, advanced: done.length - seen } : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 100 },
      );
      await kill(worker);
      kills.push(progressed.last);
      advances.push(progressed.advanced);
      process.stderr.write(
        `[durability] SIGKILLed the worker after ${progressed.last} (${Date.now() - started} ms)\n`,
      );
      // Stop once the activity that reported Ready has completed (its Event is written by then).
      if ((await getDatabase(ns, name))?.status?.phase === 'Ready') break;
    }
    // Each process completed exactly one activity before it was killed: one kill per boundary.
    expect(advances.every((n) => n === 1)).toBe(true);
    const final = start('worker', cfg, `worker-${taskQueue}-final`);
    const db = await waitForPhase(ns, name, 'Ready', { generation: 1 });
    expect(db.status?.readyReplicas).toBe(2);

    // Killed after each kind of step of the provisioning, in its order.
    const order = ['assessSpec', PROVISION_STEPS[0]!, 'reportStatus', ...PROVISION_STEPS.slice(1)];
    for (const step of order) expect(kills).toContain(step);
    // No step skipped: every step completed, first occurrences in the intended order.
    const done = await completed();
    const firsts = order.map((step) => done.indexOf(step));
    expect(firsts.every((i) => i >= 0)).toBe(true);
    expect(firsts).toEqual([...firsts].sort((a, b) => a - b));

    // Nothing written twice: one object of each, each created once (one "…Created" Event each).
    const objects = await objectsOfDatabase(ns, name, 'statefulsets,services,configmaps,secrets');
    expect(objects).toEqual(
      [
        `configmap/${name}-config`,
        `configmap/${name}-roles`,
        `secret/${name}-credentials`,
        `service/${name}-headless`,
        `service/${name}-primary`,
        `service/${name}-ro`,
        `statefulset.apps/${name}`,
      ].sort(),
    );
    const reasons = await databaseEventReasons(ns, name);
    for (const reason of [
      'SecretCreated',
      'StatefulSetCreated',
      'ConfigMapCreated',
      'ServiceCreated',
      'Ready',
    ]) {
      expect(reasons.filter((r) => r === reason)).toHaveLength(1);
    }

    // The watcher SIGKILLed: a change made while no watcher runs is picked up by the next one.
    await kill(watcher);
    await applyDatabase(ns, name, { engine: 'mariadb', version: '11.8', replicas: 3 });
    watcher = start('watcher', cfg, `watcher-${taskQueue}-1`);
    const scaled = await waitForPhase(ns, name, 'Ready', { generation: 2 });
    expect(scaled.status?.readyReplicas).toBe(3);
    await kill(watcher);
    await kill(final);
  }, 600_000);
});
