/**
 * One backup run (backupWorkflow) on a real Temporal dev server with FakeActivities: every Job
 * attempt fails, so the run retries after its backoff, then ends Failed with the reason, and the
 * Database's workflow takes the outcome into its status.
 */
import type { BackupRef, DatabaseTarget, EventRecord } from '../../activities';
import { parseDatabaseSpec } from '../../crds';
import type { BackupResult, backupWorkflow } from '../../workflows/backup';
import { BACKUP_WORKFLOW_TYPE, backupWorkflowId } from '../../contracts/backup-names';
import { DatabaseUnderTest, useWorkflowTestEnv } from './env';
import { conditionOf } from './fake-activities';

const env = useWorkflowTestEnv();

const JOB_ERROR = 'pg_dump: error: connection to server at "orders-primary" failed: Connection refused';

test('a backup whose every attempt fails: retried after the backoff, then Failed with the reason', async () => {
  const backup = { enabled: true, schedule: '0 3 * * *', maxAttempts: 2, backoffSeconds: 2 };
  const db = new DatabaseUnderTest(env, 'orders', { engine: 'postgres', version: '16', replicas: 1, backup });
  await db.apply();
  await db.ready(1);
  await db.idle();
  const parsed = parseDatabaseSpec(db.spec);
  if (!parsed.ok) throw new Error(parsed.message);
  const target: DatabaseTarget = {
    namespace: db.namespace,
    name: db.name,
    uid: db.uid,
    generation: 1,
    spec: parsed.spec,
  };
  env.fakes.script(db.namespace, {
    loadBackupPlan: async () => ({ target }),
    waitForJob: async () => ({ state: 'failed', message: JOB_ERROR }),
  });

  const backupName = `${db.name}-manual-1`;
  const run = await env.client.workflow.start<typeof backupWorkflow>(BACKUP_WORKFLOW_TYPE, {
    workflowId: backupWorkflowId(db.namespace, backupName),
    taskQueue: env.taskQueue,
    args: [{ namespace: db.namespace, databaseName: db.name, backupName, reason: 'manual' }],
  });
  const result: BackupResult = await run.result();
  expect(result).toEqual({ phase: 'Failed', attempts: 2, error: `attempt 2: ${JOB_ERROR}` });

  const calls = env.fakes.in(db.namespace).filter((c) => c.workflowId === run.workflowId);
  const jobs = calls.filter((c) => c.name === 'startBackupJob');
  expect(jobs.map((c) => c.args[2])).toEqual([1, 2]);
  // The second attempt waits out the backoff (backoffSeconds) after the first one failed.
  const firstWait = calls.find((c) => c.name === 'waitForJob')!;
  expect(firstWait.args[1]).toBe(`${backupName}-1`);
  expect(jobs[1]!.startedAt - firstWait.endedAt!).toBeGreaterThanOrEqual(1_950);

  const statuses = calls
    .filter((c) => c.name === 'updateBackupStatus')
    .map((c) => c.args[1] as Record<string, unknown>);
  expect(statuses[0]).toMatchObject({ phase: 'Running' });
  expect(statuses.at(-1)).toMatchObject({ phase: 'Failed', attempts: 2, error: `attempt 2: ${JOB_ERROR}` });
  expect(statuses.filter((s) => s.phase === 'Succeeded')).toEqual([]);
  const outcome = calls.find((c) => c.name === 'recordBackupOutcome')!;
  expect((outcome.args[1] as BackupRef).name).toBe(backupName);
  expect(outcome.args[2] as EventRecord).toMatchObject({ type: 'Warning', reason: 'BackupFailed' });
  expect((outcome.args[2] as EventRecord).message).toContain('failed after 2 attempt(s)');
  // Retention only follows a backup that succeeded.
  expect(calls.filter((c) => c.name === 'listExpiredBackups')).toEqual([]);

  // The Database's workflow (the only writer of its status) reports the outcome.
  const state = await db.until((s) => s.status.lastBackup?.phase === 'Failed', 'told of the failed backup');
  expect(state.status.lastBackup?.name).toBe(backupName);
  expect(conditionOf(state.status, 'LastBackupSucceeded')).toMatchObject({
    status: 'False',
    reason: 'BackupFailed',
  });
  await env.fakes.waitFor(
    db.namespace,
    (c) =>
      c.name === 'reportStatus' &&
      c.workflowId === db.workflowId &&
      (c.args[1] as { lastBackup?: { phase: string } }).lastBackup?.phase === 'Failed',
    'status report of the failed backup',
  );
});
