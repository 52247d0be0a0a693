/**
 * The cancelUpgrade Update of a Database's workflow on a real Temporal dev server with
 * FakeActivities: refused (the validator throws, nothing is recorded) when no upgrade runs or the
 * request names another incarnation; accepted while an upgrade gates its members, after which the
 * child rolls back; refused again once the rollback is under way.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { CANCEL_UPGRADE_REJECTED, cancelUpgradeUpdate } from '../../workflows/cancel-upgrade-update';
import { upgradeWorkflowId } from '../../workflows/signals';
import type { upgradeWorkflow } from '../../workflows/upgrade';
import { readyAtRest, useWorkflowTestEnv, type DatabaseUnderTest } from './env';
import { conditionOf, eventReasons, heartbeatUntilCancelled } from './fake-activities';

const env = useWorkflowTestEnv();

/** The Update's answer: the accepted result, or the validator's reason (and its failure type). */
async function cancel(db: DatabaseUnderTest, uid = db.uid) {
  try {
    return { accepted: await db.handle.executeUpdate(cancelUpgradeUpdate, { args: [{ uid }] }) };
  } catch (err) {
    if (!(err instanceof WorkflowUpdateFailedError)) throw err;
    const cause = err.cause as { message?: string; type?: string } | undefined;
    return { rejected: cause?.message, type: cause?.type };
  }
}

test('rejected at once when no upgrade runs, or for another incarnation; nothing is recorded', async () => {
  const db = await readyAtRest(env, 'ledger', { engine: 'postgres', version: '15', replicas: 1 });
  const before = (await db.handle.fetchHistory()).events?.length ?? 0;
  const t0 = Date.now();
  expect(await cancel(db)).toEqual({ rejected: 'no upgrade is running', type: CANCEL_UPGRADE_REJECTED });
  const tookMs = Date.now() - t0;
  expect((await cancel(db, 'uid-of-another')).rejected).toMatch(
    /^the request is for uid uid-of-another, not the Database ledger this workflow runs \(uid uid-/,
  );
  // A rejected Update leaves no trace in the history, and the workflow does nothing.
  await db.idle();
  expect((await db.handle.fetchHistory()).events?.length).toBe(before);
  expect(env.fakes.in(db.namespace).filter((c) => c.name === 'clearCancelUpgrade')).toEqual([]);
  process.stderr.write(`[cancelUpgrade update] rejected in ${tookMs} ms\n`);
});

test('accepted during an upgrade: the child rolls back; a second request is past the point of no return', async () => {
  const db = await readyAtRest(env, 'inventory', { engine: 'mariadb', version: '11.4', replicas: 2 });
  env.fakes.script(db.namespace, {
    // The primary (ordinal 0) never becomes Ready on the new version: only a cancellation ends it.
    waitForMember: async (t, ordinal) =>
      ordinal === 0 && t.spec.version === '11.8'
        ? heartbeatUntilCancelled()
        : { ready: true, message: `member ${ordinal} ready` },
  });
  const g2 = await db.apply({ version: '11.8' });
  const gate = await env.fakes.waitFor(
    db.namespace,
    (c) => c.name === 'waitForMember' && c.args[1] === 0,
    'the gate of the primary',
  );
  const t0 = Date.now();
  const first = await cancel(db);
  const tookMs = Date.now() - t0;
  const childId = upgradeWorkflowId(db.namespace, db.name, g2);
  expect(first).toEqual({
    accepted: {
      generation: g2,
      fromVersion: '11.4',
      toVersion: '11.8',
      upgradeWorkflowId: childId,
      message: `cancelling the upgrade mariadb 11.4 → mariadb 11.8 (generation ${g2}, workflow ${childId}): it rolls back`,
    },
  });
  const second = await cancel(db);
  expect(second.type).toBe(CANCEL_UPGRADE_REJECTED);
  expect(second.rejected).toMatch(
    /^the upgrade mariadb 11\.4 → mariadb 11\.8 is past the point of no return: it rolls back \(.+\), and a rollback runs to its end$/,
  );

  const outcome = await env.client.workflow.getHandle<typeof upgradeWorkflow>(childId).result();
  expect(outcome).toMatchObject({
    state: 'RolledBack',
    cause: 'UpgradeCancelled',
    running: { version: '11.4' },
  });
  const state = await db.ready(g2);
  await db.idle();
  expect(gate.outcome).toBe('cancelled');
  expect(conditionOf(state.status, 'Upgraded')).toMatchObject({
    status: 'False',
    reason: 'UpgradeCancelled',
  });
  const calls = env.fakes.in(db.namespace);
  // The accepted request is handled as the annotation's signal is: one clear, one Event.
  expect(calls.filter((c) => c.name === 'clearCancelUpgrade')).toHaveLength(1);
  expect(eventReasons(calls)).toContain('CancelUpgradeHandled');
  // Once it is over, there is nothing to cancel.
  expect(await cancel(db)).toEqual({ rejected: 'no upgrade is running', type: CANCEL_UPGRADE_REJECTED });
  process.stderr.write(`[cancelUpgrade update] accepted in ${tookMs} ms\n`);
});
