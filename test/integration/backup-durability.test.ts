import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { waitFor } from '../../tools/stack/wait';
import { BACKUP_WORKFLOW_TYPE, backupWorkflowId } from '../../contracts/backup-names';
import type { BackupResult, BackupWorkflowInput } from '../../workflows/backup';
import { dumpFileOnHost, getBackup, jobNames, listBackups, withReadyDatabase } from '../support/backups';
import { sql } from '../support/sql';
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
 * the next): it finishes with one attempt, one Job, one DatabaseBackup and one Event, and its
 * dump (a real mariadb-dump of real rows) is complete.
 */
jest.setTimeout(900_000);
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
    await sql(ns, db, 'mariadb', 'CREATE DATABASE vault');
    await sql(ns, db, 'mariadb', 'CREATE TABLE vault.secrets (id int PRIMARY KEY, label varchar(20))');
    await sql(ns, db, 'mariadb', "INSERT INTO vault.secrets VALUES (1, 'kept'), (2, 'safe')");
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
    const status = (await getBackup(ns, name))?.status;
    expect(status).toMatchObject({ phase: 'Succeeded', attempts: 1 });
    // The dump in the volume is whole: the rows, and mariadb-dump's last line.
    expect(status?.sizeBytes).toBeGreaterThan(0);
    const dump = zlib.gunzipSync(fs.readFileSync(await dumpFileOnHost(ns, status!.location!))).toString();
    // (mariadb-dump 11.8 writes one row a line)
    expect(dump).toMatch(/INSERT INTO `secrets` VALUES\s*\(1,'kept'\),\s*\(2,'safe'\);/);
    expect(dump.trimEnd()).toMatch(/-- Dump completed on .+$/);
    expect(await eventReasons(ns, 'DatabaseBackup', name)).toEqual(['BackupSucceeded']);
  }, 600_000);
});
