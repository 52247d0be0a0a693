import type { ChildProcess } from 'node:child_process';
import type { Client, Connection } from '@temporalio/client';
import { waitFor } from '../../tools/stack/wait';
import { BACKUP_WORKFLOW_TYPE, backupWorkflowId } from '../../workflows/backup-names';
import type { BackupResult, BackupWorkflowInput } from '../../workflows/backup';
import { eventReasons, getBackup, jobNames, listBackups } from '../support/backups';
import {
  applyDatabase,
  entryPoints,
  operatorConfig,
  spawnOperatorProcess,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import {
  createNamespace,
  deleteNamespace,
  temporalClient,
  temporalConnection,
  uniqueName,
} from '../support/stack';

/**
 * A backup run survives its worker being SIGKILLed at every activity boundary (each worker
 * process completes exactly one activity, see one-activity-worker.ts, and dies in the middle of
 * the next): it finishes with one attempt, one Job, one DatabaseBackup and one Event.
 */
describe('backup durability', () => {
  const db = 'vault';
  let ns: string;
  let op: RunningOperator;
  let connection: Connection;
  let client: Client;
  const children = new Set<ChildProcess>();

  beforeAll(async () => {
    ns = await createNamespace('bakcrash');
    // The Database itself is provisioned by an in-process operator on its own task queue.
    op = await startOperator(ns);
    connection = await temporalConnection();
    client = temporalClient(connection);
    await applyDatabase(ns, db, { engine: 'mysql', version: '8.4', backup: { backoffSeconds: 1 } });
    await waitForPhase(ns, db, 'Ready');
  });
  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await op.stop();
    await connection.close();
    await deleteNamespace(ns);
  });

  it('finishes with exactly one Job after the worker is SIGKILLed at every activity boundary', async () => {
    const name = `${db}-crash`;
    const taskQueue = uniqueName('bakcrash');
    const cfg = operatorConfig(ns, taskQueue);
    const workflowId = backupWorkflowId(ns, name);
    const input: BackupWorkflowInput = {
      namespace: ns,
      databaseName: db,
      backupName: name,
      reason: 'manual',
    };
    const handle = await client.workflow.start(BACKUP_WORKFLOW_TYPE, {
      workflowId,
      taskQueue,
      args: [input],
    });

    const completed = async (): Promise<string[]> => {
      const history = await handle.fetchHistory();
      const scheduled = new Map<string, string>();
      const done: string[] = [];
      for (const e of history.events ?? []) {
        const s = e.activityTaskScheduledEventAttributes;
        if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '?');
        const c = e.activityTaskCompletedEventAttributes;
        if (c) done.push(scheduled.get(String(c.scheduledEventId)) ?? '?');
      }
      return done;
    };
    const closed = async () => (await handle.describe()).status.name !== 'RUNNING';
    const kill = async (child: ChildProcess) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    };

    const kills: string[] = [];
    const started = Date.now();
    for (let round = 0; round < 20 && !(await closed()); round++) {
      const worker = spawnOperatorProcess(entryPoints.oneActivityWorker, cfg, `worker-${taskQueue}-${round}`);
      children.add(worker);
      const seen = (await completed()).length;
      const last = await waitFor(
        `activity ${seen + 1} of the backup to complete (round ${round})`,
        async () => {
          const done = await completed();
          return done.length > seen ? done.at(-1)! : (await closed()) ? 'closed' : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 100 },
      );
      await kill(worker);
      children.delete(worker);
      kills.push(last);
      process.stderr.write(
        `[backup-durability] SIGKILLed the worker after ${last} (${Date.now() - started} ms)\n`,
      );
      if (last === 'recordBackupOutcome') break;
    }
    const final = spawnOperatorProcess(entryPoints.worker, cfg, `worker-${taskQueue}-final`);
    children.add(final);
    const result = (await handle.result()) as BackupResult;
    await kill(final);

    expect(result).toMatchObject({ phase: 'Succeeded', attempts: 1 });
    for (const step of ['ensureBackupRecord', 'startBackupJob', 'waitForJob', 'updateBackupStatus']) {
      expect(kills).toContain(step);
    }
    // One Job (attempt 1, created once), one DatabaseBackup, one final Event.
    expect((await jobNames(ns)).filter((j) => j.startsWith(name))).toEqual([`${name}-1`]);
    expect((await listBackups(ns)).map((b) => b.metadata.name)).toEqual([name]);
    expect((await getBackup(ns, name))?.status).toMatchObject({ phase: 'Succeeded', attempts: 1 });
    expect(await eventReasons(ns, 'DatabaseBackup', name)).toEqual(['BackupSucceeded']);
  }, 600_000);
});
