/**
 * databaseWorkflow continuing as new, with a small history limit (WorkflowLimits.historyEvents,
 * which the watcher passes from DATABASE_HISTORY_LIMIT), so a few steps reach it. The new run
 * must go on from what the old one knew: same incarnation, a generation already reconciled is not
 * redone, one not yet Ready is resumed.
 */
import { driftSignal } from '../../workflows/signals';
import { DatabaseUnderTest, useWorkflowTestEnv } from './env';
import { eventReasons, type Call } from './fake-activities';

const env = useWorkflowTestEnv();

/** Above one provision (about 100 events), below a provision and a few drift repairs. */
const limits = { historyEvents: 200 };
const postgres = { engine: 'postgres', version: '16', replicas: 1 };

/** The run IDs the workflow went through, oldest first (as the activities saw them). */
const runsOf = (calls: Call[]) => [...new Set(calls.map((c) => c.runId))];

test.concurrent('continue-as-new after drift repairs: the new run keeps what the old one knew', async () => {
  const db = new DatabaseUnderTest(env, 'orders', postgres, limits);
  await db.apply();
  await db.ready(1);
  await db.idle();
  const first = (await db.handle.describe()).runId;

  // Drift repairs, one at a time, until the run has continued as new.
  const notice = { kind: 'ConfigMap', name: `${db.name}-config`, change: 'deleted' } as const;
  let current = first;
  for (let i = 0; i < 20 && current === first; i++) {
    await db.handle.signal(driftSignal, notice);
    await db.idle();
    current = (await db.handle.describe()).runId;
  }
  expect(current).not.toBe(first);
  const old = await env.client.workflow.getHandle(db.workflowId, first).describe();
  expect(old.status.name).toBe('CONTINUED_AS_NEW');
  expect(old.historyLength).toBeLessThan(limits.historyEvents + 100);

  const state = await db.state();
  expect(state).toMatchObject({ uid: db.uid, observedGeneration: 1, pendingGeneration: 1, phase: 'Ready' });
  // A drift repair in the new run is a repair, not a new reconcile of generation 1.
  const repairedFrom = env.fakes.mark();
  await db.handle.signal(driftSignal, notice);
  await db.idle();
  const newRun = () => env.fakes.in(db.namespace).filter((c) => c.runId !== first);
  const repair = newRun();
  expect(repair.filter((c) => c.seq > repairedFrom).map((c) => c.name)).toContain('applyConfigMap');
  expect(repair.filter((c) => c.name === 'ensureBackupSchedule')).toEqual([]);
  expect(eventReasons(repair)).toContain('DriftCorrected');
  expect(eventReasons(repair).filter((r) => r === 'Provisioning' || r === 'Updating')).toEqual([]);

  // A new generation updates what the old run applied: "Updating", not a first "Provisioning".
  const g2 = await db.apply({ parameters: { max_connections: '200' } });
  await db.ready(g2);
  await db.idle();
  expect(eventReasons(newRun())).toContain('Updating');
  expect(eventReasons(newRun())).not.toContain('Provisioning');
});

test.concurrent('a generation that is not Ready for long continues as new and is resumed', async () => {
  const db = new DatabaseUnderTest(env, 'orders', postgres, limits);
  let ready = false;
  env.fakes.script(db.namespace, {
    waitForStatefulSetReady: async (t) => ({
      ready,
      replicas: t.spec.replicas,
      readyReplicas: ready ? t.spec.replicas : 0,
      message: ready ? '1/1 pods ready' : '0/1 pods ready',
      reason: ready ? undefined : `${t.name}-0: container database ImagePullBackOff`,
    }),
  });
  await db.apply();
  // Each wait comes back unready at once: the history of the one generation grows with them.
  const waits = () => env.fakes.in(db.namespace).filter((c) => c.name === 'waitForStatefulSetReady');
  await env.fakes.waitFor(db.namespace, () => runsOf(waits()).length >= 3, 'waits in three runs', 60_000);
  const runs = runsOf(waits());
  for (const runId of runs.slice(0, -1)) {
    const run = await env.client.workflow.getHandle(db.workflowId, runId).describe();
    expect(run.status.name).toBe('CONTINUED_AS_NEW');
    expect(run.historyLength).toBeLessThan(limits.historyEvents + 100);
  }
  // Still generation 1, still saying why, in every run.
  const state = await db.state();
  expect(state).toMatchObject({ uid: db.uid, pendingGeneration: 1, phase: 'Provisioning' });
  expect(state.status.conditions?.find((c) => c.type === 'Ready')?.message).toContain('ImagePullBackOff');

  ready = true;
  await db.ready(1);
  await db.idle();
  // A later run finished the generation the first one started.
  const readyReport = env.fakes.reports(db.namespace).find((r) => r.event?.reason === 'Ready')!;
  expect(readyReport.call.runId).not.toBe(runs[0]);
  expect(readyReport.status.observedGeneration).toBe(1);
});
