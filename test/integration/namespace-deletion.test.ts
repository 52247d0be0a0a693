import { ScheduleNotFoundError, type Client, type Connection } from '@temporalio/client';
import { waitFor } from '../../tools/stack/wait';
import { backupScheduleId } from '../../contracts/backup-names';
import { databaseWorkflowId } from '../../workflows/signals';
import { createBackup, waitForBackupDone } from '../support/backups';
import { applyDatabase, startOperator, waitForPhase, type RunningOperator } from '../support/operator';
import type { StackEngine } from '../support/sql';
import {
  deleteNamespace,
  kubectl,
  kubectlOk,
  temporalClient,
  temporalConnection,
  uniqueName,
} from '../support/stack';

jest.setTimeout(600_000);

/**
 * `kubectl delete namespace` as a user runs it, with a Ready Database of each engine in its own
 * namespace, backups enabled on a schedule and a DatabaseBackup taken: the namespaces must be
 * gone within a bounded time (the finalizer removed although the API refuses new objects, such
 * as Events, in a namespace being deleted), each Database's workflow completed and its backup
 * Schedule deleted.
 */
const engines: { engine: StackEngine; version: string; prefix: string }[] = [
  { engine: 'postgres', version: '15', prefix: 'nsdel-pg' },
  { engine: 'mariadb', version: '11.8', prefix: 'nsdel-ma' },
];
const db = 'doomed';
/** How long the namespace controller and the operator may take together. */
const GONE_WITHIN_MS = 180_000;

describe('deleting a namespace that holds Databases', () => {
  const namespaces = engines.map((e) => uniqueName(e.prefix));
  let op: RunningOperator | undefined;
  let connection: Connection | undefined;
  let client: Client;

  beforeAll(async () => {
    for (const ns of namespaces) await kubectlOk(['create', 'namespace', ns]);
    // One operator (worker and watcher) watching both namespaces, as a multi-namespace install.
    op = await startOperator(namespaces.join(','));
    connection = await temporalConnection();
    client = temporalClient(connection);
  });
  afterAll(async () => {
    await op?.stop();
    await connection?.close();
    for (const ns of namespaces) await deleteNamespace(ns);
  });

  it('Ready Databases of both engines with backups: the namespaces are gone, the workflows completed', async () => {
    await Promise.all(
      engines.map(async ({ engine, version }, i) => {
        const ns = namespaces[i]!;
        await applyDatabase(ns, db, {
          engine,
          version,
          replicas: 1,
          // A daily schedule: configured (the Schedule exists) without firing during the test.
          backup: { enabled: true, schedule: '17 3 * * *', maxAttempts: 1 },
        });
        await waitForPhase(ns, db, 'Ready', { timeoutMs: 300_000 });
        await createBackup(ns, `${db}-before`, db);
        expect((await waitForBackupDone(ns, `${db}-before`)).status?.phase).toBe('Succeeded');
        await client.schedule.getHandle(backupScheduleId(ns, db)).describe(); // throws if absent
      }),
    );

    const t0 = Date.now();
    for (const ns of namespaces) await kubectlOk(['delete', 'namespace', ns, '--wait=false']);
    const seconds: Record<string, number> = {};
    await Promise.all(
      namespaces.map(async (ns) => {
        await waitFor(
          `namespace ${ns} to be gone`,
          async () => {
            const res = await kubectl(['get', 'namespace', ns, '-o', 'name']);
            return res.code !== 0 && /NotFound/.test(res.stderr);
          },
          { timeoutMs: GONE_WITHIN_MS, intervalMs: 1000 },
        );
        seconds[ns] = (Date.now() - t0) / 1000;
      }),
    );
    process.stderr.write(`[namespace deletion seconds] ${JSON.stringify(seconds)}\n`);

    for (const ns of namespaces) {
      const handle = client.workflow.getHandle(databaseWorkflowId(ns, db));
      // The run the deletion went through ended by itself (not terminated, not continued).
      await expect(handle.result()).resolves.toBeUndefined();
      expect((await handle.describe()).status.name).toBe('COMPLETED');
      await expect(client.schedule.getHandle(backupScheduleId(ns, db)).describe()).rejects.toBeInstanceOf(
        ScheduleNotFoundError,
      );
    }
  });
});
