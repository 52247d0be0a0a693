import type { ChildProcess } from 'node:child_process';
import { waitFor } from '../../tools/stack/wait';
import { BACKUP_WORKFLOW_TYPE, backupWorkflowId } from '../../workflows/backup-names';
import type { BackupResult, BackupWorkflowInput } from '../../workflows/backup';
import { getBackup, jobNames, listBackups, withReadyDatabase } from '../support/backups';
import {
  completedActivities,
  entryPoints,
  eventReasons,
  operatorConfig,
  sigkill,
  spawnOperatorProcess,
} from '../support/operator';
import { uniqueName } from '../support/stack';

/**
 * A backup run survives its worker being SIGKILLed at every activity boundary (each worker
 * process completes exactly one activity, see one-activity-worker.ts, and dies in the middle of
 * the next): it finishes with one attempt, one Job, one DatabaseBackup and one Event.
 */
describe('backup durability', () => {
  const db = 'vault';
  // The Database itself is provisioned by an in-process operator on its own task queue.
  const bed = withReadyDatabase('bakcrash', db, {
    engine: 'mariadb',
    version: '11.8',
    backup: { backoffSeconds: 1 },
  });
  const children = new Set<ChildProcess>();
  afterAll(() => {
    for (const child of children) child.kill('SIGKILL');
  });

  it('finishes with exactly one Job after the worker is SIGKILLed at every activity boundary', async () => {
    const { ns, client } = bed;
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

    const completed = () => completedActivities(client, workflowId);
    const closed = async () => (await handle.describe()).status.name !== 'RUNNING';

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
      await sigkill(worker);
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
    await sigkill(final);

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
