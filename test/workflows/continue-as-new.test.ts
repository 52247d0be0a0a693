/**
 * databaseWorkflow continuing as new, on a dev server of its own whose history threshold for
 * "continue as new suggested" is set low, so a few drift repairs reach it (instead of the
 * thousands of events of the workflow's own limit). The new run must go on from what the old
 * one knew: same incarnation, generation already reconciled (not redone), spec applied.
 */
import { driftSignal } from '../../workflows/signals';
import { DatabaseUnderTest, useWorkflowTestEnv } from './env';
import { eventReasons } from './fake-activities';

/** Above one provision (about 100 events), below a provision and a few drift repairs. */
const SUGGEST_CONTINUE_AS_NEW_AT = 200;

const env = useWorkflowTestEnv({ 'limit.historyCount.suggestContinueAsNew': SUGGEST_CONTINUE_AS_NEW_AT });

test('continue-as-new after drift repairs: the new run keeps what the old one knew', async () => {
  const db = new DatabaseUnderTest(env, 'orders', { engine: 'postgres', version: '16', replicas: 1 });
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

  const state = await db.state();
  expect(state).toMatchObject({ uid: db.uid, observedGeneration: 1, pendingGeneration: 1, phase: 'Ready' });
  // A drift repair in the new run is a repair, not a new reconcile of generation 1.
  const repairedFrom = env.fakes.mark();
  await db.handle.signal(driftSignal, notice);
  await env.fakes.waitFor(
    db.namespace,
    (c) => c.seq > repairedFrom && c.name === 'waitForStatefulSetReady',
    'repair',
  );
  await db.idle();
  const newRun = () => env.fakes.in(db.namespace).filter((c) => c.runId !== first);
  const repair = newRun();
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
