/**
 * An upgrade (databaseWorkflow → its upgradeWorkflow child) on a real Temporal dev server with
 * FakeActivities: a person cancels it while the primary is being gated; the child rolls back, the
 * Database's workflow reports the outcome and holds the generation on the version that runs.
 */
import { cancelUpgradeSignal, driftSignal, upgradeWorkflowId } from '../../workflows/signals';
import type { DatabaseTarget } from '../../activities';
import type { upgradeWorkflow } from '../../workflows/upgrade';
import { DatabaseUnderTest, useWorkflowTestEnv } from './env';
import { conditionOf, eventReasons, heartbeatUntilCancelled } from './fake-activities';

const env = useWorkflowTestEnv();

test('cancelling an upgrade: the child is cancelled, rolls back, and the rollback is reported', async () => {
  const db = new DatabaseUnderTest(env, 'inventory', { engine: 'mariadb', version: '11.4', replicas: 2 });
  env.fakes.script(db.namespace, {
    // The primary (ordinal 0) never becomes Ready on the new version: only a cancellation ends it.
    waitForMember: async (t, ordinal) =>
      ordinal === 0 && t.spec.version === '11.8'
        ? heartbeatUntilCancelled()
        : { ready: true, message: `member ${ordinal} ready` },
  });
  await db.apply();
  await db.ready(1);
  await db.idle();
  const upgradeFrom = env.fakes.mark();
  const g2 = await db.apply({ version: '11.8' });

  const gate = await env.fakes.waitFor(
    db.namespace,
    (c) => c.name === 'waitForMember' && c.args[1] === 0,
    'the gate of the primary',
  );
  await db.handle.signal(cancelUpgradeSignal, { uid: db.uid });

  const child = env.client.workflow.getHandle<typeof upgradeWorkflow>(
    upgradeWorkflowId(db.namespace, db.name, g2),
  );
  const outcome = await child.result();
  expect(outcome).toMatchObject({
    state: 'RolledBack',
    cause: 'UpgradeCancelled',
    running: { version: '11.4' },
    updated: [1],
  });
  const state = await db.ready(g2);
  await db.idle();
  expect(gate.outcome).toBe('cancelled');

  // Replicas first, the primary last, then the rollback to what ran, with partition 0. The
  // applies of the rollout record the build the members move from; the rollback's drops it.
  const calls = env.fakes.in(db.namespace).filter((c) => c.seq > upgradeFrom);
  const rollouts = calls
    .filter((c) => c.name === 'applyRollout')
    .map((c) => [(c.args[0] as DatabaseTarget).spec.version, c.args[2], c.args[3]]);
  const from = { version: '11.4' };
  expect(rollouts).toEqual([
    ['11.8', 2, from],
    ['11.8', 1, from],
    ['11.8', 0, from],
    ['11.4', 0, undefined],
  ]);
  const rollback = calls.filter((c) => c.name === 'applyRollout').at(-1)!;
  expect(rollback.seq).toBeGreaterThan(gate.seq);
  const deleted = calls.filter((c) => c.name === 'deletePodsOfRevision');
  expect(deleted.map((c) => c.args[1])).toEqual(['rev-11.8']);
  expect(calls.filter((c) => c.name === 'clearCancelUpgrade')).toHaveLength(1);
  // The Database's own StatefulSet apply never renders the new version.
  const applied = calls.filter((c) => c.name === 'applyStatefulSet');
  expect(applied.map((c) => (c.args[0] as DatabaseTarget).spec.version)).toEqual(['11.4']);
  expect(applied[0]!.seq).toBeGreaterThan(rollback.seq);

  expect(state.status).toMatchObject({
    currentVersion: '11.4',
    upgrade: { fromVersion: '11.4', toVersion: '11.8', state: 'RolledBack' },
  });
  expect(conditionOf(state.status, 'Upgraded')).toMatchObject({
    status: 'False',
    reason: 'UpgradeCancelled',
  });
  const reasons = eventReasons(calls);
  for (const reason of [
    'Upgrading',
    'MemberUpgraded',
    'UpgradeCancelled',
    'CancelUpgradeHandled',
    'RolledBack',
    'Ready',
  ]) {
    expect(reasons).toContain(reason);
  }
  expect(reasons.indexOf('UpgradeCancelled')).toBeLessThan(reasons.indexOf('RolledBack'));

  // The cancelled generation stays on what runs: a drift repair does not start the upgrade again.
  const repairFrom = env.fakes.mark();
  await db.handle.signal(driftSignal, { kind: 'StatefulSet', name: db.name, change: 'modified' });
  await env.fakes.waitFor(db.namespace, (c) => c.seq > repairFrom && c.name === 'applyStatefulSet', 'repair');
  await db.idle();
  const repair = env.fakes.in(db.namespace).filter((c) => c.seq > repairFrom);
  expect(repair.filter((c) => c.name === 'applyRollout')).toEqual([]);
  expect(
    repair.map((c) => (c.args[0] as Partial<DatabaseTarget>).spec?.version).filter(Boolean),
  ).not.toContain('11.8');
});
