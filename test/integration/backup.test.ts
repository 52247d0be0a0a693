import { ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import { waitFor } from '../../tools/stack/wait';
import { recordNamespaceHistories } from '../support/record-histories';
import { BACKUP_CATCHUP_WINDOW } from '../../activities/backup-schedule';
import { backupScheduleId, backupWorkflowId, scheduledBackupName } from '../../contracts/backup-names';
import type { ScheduledBackupResult } from '../../workflows/backup';
import {
  AUTH_FAILED,
  breakCredentials,
  createBackup,
  dumpFileOnHost,
  fileExists,
  getBackup,
  jobNames,
  listBackups,
  restoreCredentials,
  retryBackup,
  waitForBackupDone,
  waitForJobFailed,
  withReadyDatabase,
} from '../support/backups';
import {
  applyDatabase,
  databaseEventReasons,
  eventReasons,
  getDatabase,
  waitForPhase,
} from '../support/operator';
import { kubectlOk } from '../support/stack';

/**
 * Backups and restore against the real stack: kubectl → watcher → backup workflow → Jobs (real
 * pg_dump/psql containers against member 0) → status, Events, Schedule. Faults are real: the
 * superuser's password inside the engine is changed so that the Secret's no longer works, and set
 * back from the Secret when the test wants the Jobs to succeed again. The tests build on each
 * other in order, as a user's session would.
 */
jest.setTimeout(600_000);

describe('backups', () => {
  const db = 'shop';
  // The backoff leaves a test time to mend the credentials between one attempt and the next
  // (attempt 3 starts 2 × 10 s after attempt 2 has failed).
  const backupSpec = { enabled: false, maxAttempts: 3, backoffSeconds: 10, retention: { count: 2 } };
  const spec = { engine: 'postgres' as const, version: '15', backup: backupSpec };
  const bed = withReadyDatabase('bak', db, spec);
  let ns: string;
  beforeAll(() => {
    ns = bed.ns;
  });
  const client = () => bed.client;
  /** The Succeeded backup the restore test restores (set by the schedule test). */
  let restoreSource = '';
  const backupRuns = async (result: 'succeeded' | 'failed') =>
    (await bed.op.metrics.backupRuns.get()).values.find((v) => v.labels.result === result)?.value ?? 0;

  const figures: Record<string, unknown> = {};
  afterAll(() => process.stderr.write(`[backup figures] ${JSON.stringify(figures)}\n`));

  it('a Job that fails twice, then succeeds: one Succeeded DatabaseBackup with 3 attempts', async () => {
    const name = `${db}-m1`;
    await breakCredentials(ns, db, 'postgres');
    const t0 = Date.now();
    try {
      await createBackup(ns, name, db);
      await waitForJobFailed(ns, `${name}-2`);
      // While it waits for attempt 3, the backup says why attempt 2 failed: the engine's words.
      const waiting = await waitFor('the error of attempt 2', async () => {
        const b = await getBackup(ns, name);
        return b?.status?.error?.startsWith('attempt 2:') ? b : undefined;
      });
      expect(waiting.status?.phase).toBe('Running');
      expect(waiting.status?.error).toContain(AUTH_FAILED.postgres);
    } finally {
      await restoreCredentials(ns, db, 'postgres');
    }
    const backup = await waitForBackupDone(ns, name);
    const seconds = (Date.now() - t0) / 1000;
    expect(backup.status).toMatchObject({
      phase: 'Succeeded',
      attempts: 3,
      jobName: `${name}-3`,
      location: `pvc://${db}-backups/${db}/${name}.sql.gz`,
    });
    expect(backup.status?.error).toBeUndefined();
    expect(backup.status?.sizeBytes).toBeGreaterThan(0);
    const recorded =
      (Date.parse(String(backup.status!.finishedAt)) - Date.parse(String(backup.status!.startedAt))) / 1000;
    figures.retryTest = {
      attempts: backup.status?.attempts,
      wallSeconds: seconds,
      startedToFinishedSeconds: recorded,
    };
    // One Job per attempt, each created once; the operator made the default backup volume.
    expect((await jobNames(ns)).filter((j) => j.startsWith(name))).toEqual(
      [1, 2, 3].map((i) => `${name}-${i}`),
    );
    await kubectlOk(['get', 'pvc', `${db}-backups`, '-n', ns]);
    expect(backup.metadata.labels).toMatchObject({
      'durable.dev/database': db,
      'app.kubernetes.io/name': 'postgres',
    });

    // The Database tells too: lastBackup, the condition, an Event on it and on the backup.
    const d = await waitFor('lastBackup on the Database', async () => {
      const x = await getDatabase(ns, db);
      return x?.status?.lastBackup?.name === name ? x : undefined;
    });
    expect(d.status?.lastBackup).toMatchObject({ phase: 'Succeeded' });
    expect(d.status?.conditions?.find((c) => c.type === 'LastBackupSucceeded')).toMatchObject({
      status: 'True',
      reason: 'BackupSucceeded',
    });
    expect(await databaseEventReasons(ns, db)).toContain('BackupSucceeded');
    expect(await eventReasons(ns, 'DatabaseBackup', name)).toEqual(['BackupSucceeded']);
    // One run, counted once, however many attempts it took.
    expect(await backupRuns('succeeded')).toBe(1);
    expect(await backupRuns('failed')).toBe(0);
  });

  it('a backup that always fails: Failed with the error, condition and Event; the documented retry succeeds', async () => {
    const name = `${db}-bad`;
    await breakCredentials(ns, db, 'postgres');
    let failed;
    try {
      await createBackup(ns, name, db);
      failed = await waitForBackupDone(ns, name);
    } finally {
      await restoreCredentials(ns, db, 'postgres');
    }
    expect(failed.status).toMatchObject({ phase: 'Failed', attempts: 3 });
    // The script's own words, then the client's: psql lists the databases before pg_dump runs.
    expect(failed.status?.error).toMatch(/^attempt 3: dump failed \(exit \d+\): /);
    expect(failed.status?.error).toContain(AUTH_FAILED.postgres);
    expect((await jobNames(ns)).filter((j) => j.startsWith(`${name}-`))).toEqual(
      [1, 2, 3].map((i) => `${name}-${i}`),
    );
    const d = await waitFor('LastBackupSucceeded False', async () => {
      const x = await getDatabase(ns, db);
      const c = x?.status?.conditions?.find((y) => y.type === 'LastBackupSucceeded');
      return c?.status === 'False' ? c : undefined;
    });
    expect(d).toMatchObject({ reason: 'BackupFailed' });
    expect(d.message).toContain(AUTH_FAILED.postgres);
    expect(await databaseEventReasons(ns, db)).toContain('BackupFailed');
    expect(await eventReasons(ns, 'DatabaseBackup', name)).toEqual(['BackupFailed']);
    expect(await backupRuns('failed')).toBe(1);

    // The README's one-liner: a new run of the same backup, attempts numbered on (Job -4).
    const retried = await retryBackup(ns, name, '1');
    expect(retried.status).toMatchObject({ attempts: 4, jobName: `${name}-4` });
    expect(retried.status?.error).toBeUndefined();
    expect(await eventReasons(ns, 'DatabaseBackup', name)).toEqual(['BackupFailed', 'BackupSucceeded']);
    // The same annotation seen again (a watcher restart re-lists it) starts nothing new.
    const history = await client().workflow.getHandle(backupWorkflowId(ns, name)).describe();
    expect(history.memo?.retryToken).toBe('1');
  });

  it('an on-demand backup via kubectl create; retention keeps the newest 2 Succeeded and deletes the data of the others', async () => {
    const name = `${db}-m2`;
    const pruned = `${db}-m1`;
    // The dump of m1 is a real file in the backup volume's directory on this machine.
    const prunedFile = await dumpFileOnHost(ns, (await getBackup(ns, pruned))!.status!.location!);
    expect(fileExists(prunedFile)).toBe(true);
    await createBackup(ns, name, db);
    expect((await waitForBackupDone(ns, name)).status?.phase).toBe('Succeeded');
    // Three Succeeded now (m1, bad after its retry, m2): m1, the oldest, goes, data first.
    await waitFor(
      'retention to delete the oldest backup',
      async () => (await getBackup(ns, pruned)) === undefined,
      { timeoutMs: 120_000 },
    );
    expect(fileExists(prunedFile)).toBe(false);
    for (const kept of [`${db}-bad`, name]) {
      expect(fileExists(await dumpFileOnHost(ns, (await getBackup(ns, kept))!.status!.location!))).toBe(true);
    }
    const kept = (await listBackups(ns)).map((b) => b.metadata.name).sort();
    expect(kept).toEqual([`${db}-bad`, name].sort());
    const history = await client().workflow.getHandle(backupWorkflowId(ns, name)).fetchHistory();
    const activities = (history.events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter(Boolean);
    expect(activities).toEqual(
      expect.arrayContaining(['listExpiredBackups', 'startDeleteDataJob', 'deleteBackupRecord']),
    );
  });

  it('spec.backup.enabled creates the Schedule (short catch-up, skip overlaps); a trigger runs a scheduled backup; disabling pauses it', async () => {
    await applyDatabase(ns, db, { ...spec, backup: { ...backupSpec, enabled: true, schedule: '0 3 * * *' } });
    const scheduleId = backupScheduleId(ns, db);
    const described = await waitFor('the Schedule', async () => {
      try {
        return await client().schedule.getHandle(scheduleId).describe();
      } catch (err) {
        if (err instanceof ScheduleNotFoundError) return undefined;
        throw err;
      }
    });
    expect(described.state.paused).toBe(false);
    expect(described.state.note).toContain(`Database ${ns}/${db}`);
    expect(described.policies.overlap).toBe('SKIP');
    expect(described.policies.catchupWindow).toBeLessThanOrEqual(10 * 60_000);
    expect(BACKUP_CATCHUP_WINDOW).toBe('10 minutes');
    expect(described.memo).toMatchObject({ database: `${ns}/${db}` });
    await waitForPhase(ns, db, 'Ready', { generation: 2 });
    const scheduled = await waitFor('BackupScheduled', async () => {
      const c = (await getDatabase(ns, db))?.status?.conditions?.find((x) => x.type === 'BackupScheduled');
      return c?.status === 'True' ? c : undefined;
    });
    expect(scheduled.message).toContain('0 3 * * *');

    // "Trigger" in the Temporal UI does this: a run now, named after its scheduled time. Twice
    // (overlap allowed for the second): both runs name the same minute's backup, and the second
    // finds it started and does nothing.
    // Temporal names a scheduled run after its start second, so the two triggers are 1.5 s apart
    // (new IDs) and within one minute (the same backup name).
    const second = new Date().getUTCSeconds();
    if (second >= 55) await new Promise((r) => setTimeout(r, (61 - second) * 1000));
    const before = new Date();
    await client().schedule.getHandle(scheduleId).trigger();
    await new Promise((r) => setTimeout(r, 1500));
    await client().schedule.getHandle(scheduleId).trigger(ScheduleOverlapPolicy.ALLOW_ALL);
    const backup = await waitFor(
      'a scheduled DatabaseBackup',
      async () => (await listBackups(ns)).find((b) => b.spec.reason === 'scheduled'),
      { timeoutMs: 60_000, intervalMs: 300 },
    );
    expect(backup.metadata.name).toMatch(new RegExp(`^${db}-\\d{12}$`));
    expect(Date.parse(String(backup.spec.scheduledTime))).toBeGreaterThanOrEqual(before.getTime() - 60_000);
    expect((await waitForBackupDone(ns, backup.metadata.name!)).status?.phase).toBe('Succeeded');

    // The same scheduled time twice (two backfills of 03:00, overlaps allowed): one backup, one
    // run of its workflow (here Temporal already refuses the second start: same workflow ID).
    const at = new Date();
    at.setUTCHours(3, 0, 0, 0);
    if (at.getTime() > Date.now() - 60_000) at.setUTCDate(at.getUTCDate() - 1);
    const range = { start: new Date(at.getTime() - 30_000), end: new Date(at.getTime() + 30_000) };
    const handle = client().schedule.getHandle(scheduleId);
    await handle.backfill([{ ...range, overlap: ScheduleOverlapPolicy.ALLOW_ALL }]);
    await handle.backfill([{ ...range, overlap: ScheduleOverlapPolicy.ALLOW_ALL }]);
    restoreSource = scheduledBackupName(db, at);
    expect((await waitForBackupDone(ns, restoreSource)).status).toMatchObject({
      phase: 'Succeeded',
      attempts: 1,
    });
    const runs: ScheduledBackupResult[] = await waitFor('the three scheduled runs to finish', async () => {
      const results: ScheduledBackupResult[] = [];
      for await (const wf of client().workflow.list({ query: `TemporalScheduledById = '${scheduleId}'` })) {
        if (wf.status.name !== 'COMPLETED') return undefined;
        results.push(
          (await client().workflow.getHandle(wf.workflowId, wf.runId).result()) as ScheduledBackupResult,
        );
      }
      return results.length >= 3 ? results : undefined;
    });
    // Per scheduled minute, exactly one run started the backup; every scheduled backup exists once.
    const names = [...new Set(runs.map((r) => r.backupName))];
    for (const n of names) expect(runs.filter((r) => r.backupName === n && r.started)).toHaveLength(1);
    const scheduledBackups = (await listBackups(ns)).filter((b) => b.spec.reason === 'scheduled');
    expect(scheduledBackups.map((b) => b.metadata.name).sort()).toEqual(
      names.filter((n) => scheduledBackups.some((b) => b.metadata.name === n)).sort(),
    );
    figures.scheduledRuns = runs.map((r) => `${r.backupName}:${r.started ? 'started' : 'already there'}`);
    const backupRunsOfThatTime = await waitFor('the run in the visibility store', async () => {
      let n = 0;
      for await (const wf of client().workflow.list({
        query: `WorkflowId = '${backupWorkflowId(ns, restoreSource)}'`,
      })) {
        if (wf.workflowId) n += 1;
      }
      return n;
    });
    expect(backupRunsOfThatTime).toBe(1);
    expect((await listBackups(ns)).filter((b) => b.metadata.name === restoreSource)).toHaveLength(1);

    await applyDatabase(ns, db, {
      ...spec,
      backup: { ...backupSpec, enabled: false, schedule: '0 3 * * *' },
    });
    await waitFor(
      'the Schedule paused',
      async () => (await client().schedule.getHandle(scheduleId).describe()).state.paused,
    );
    const paused = await waitFor('BackupScheduled False', async () => {
      const c = (await getDatabase(ns, db))?.status?.conditions?.find((x) => x.type === 'BackupScheduled');
      return c?.status === 'False' ? c : undefined;
    });
    expect(paused.reason).toBe('Paused');
  });

  it('restores a backup into a new Database before it is Ready; a missing backup leaves a clear condition', async () => {
    const source = restoreSource;
    expect(source).not.toBe('');
    await applyDatabase(ns, 'shop-copy', {
      engine: 'postgres',
      version: '15',
      bootstrap: { fromBackup: { name: source } },
    });
    const copy = await waitForPhase(ns, 'shop-copy', 'Ready', { timeoutMs: 120_000 });
    expect(copy.status?.conditions?.find((c) => c.type === 'Restored')).toMatchObject({
      status: 'True',
      reason: 'Restored',
    });
    const job = JSON.parse(await kubectlOk(['get', 'job', 'shop-copy-restore', '-n', ns, '-o', 'json'])) as {
      status: { succeeded?: number; completionTime?: string };
    };
    expect(job.status.succeeded).toBe(1);
    // Ready came after the restore had finished (Event timestamps have whole seconds only, so the
    // order is checked against the Job's completion and the Ready condition's transition).
    const ready = copy.status?.conditions?.find((c) => c.type === 'Ready');
    expect(Date.parse(job.status.completionTime!)).toBeLessThanOrEqual(
      Date.parse(String(ready?.lastTransitionTime)),
    );
    expect(await databaseEventReasons(ns, 'shop-copy')).toEqual(
      expect.arrayContaining(['Restoring', 'Restored', 'Ready']),
    );

    await applyDatabase(ns, 'shop-nope', {
      engine: 'postgres',
      version: '15',
      bootstrap: { fromBackup: { name: 'no-such-backup' } },
    });
    const nope = await waitForPhase(ns, 'shop-nope', 'Failed');
    expect(nope.status?.conditions?.find((c) => c.type === 'Restored')).toMatchObject({
      status: 'False',
      reason: 'BackupNotFound',
    });
    expect(nope.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'BackupNotFound',
    });
    expect(await databaseEventReasons(ns, 'shop-nope')).toContain('BackupNotFound');
  });

  it('deleting the Database deletes its Schedule; its backups stay', async () => {
    await kubectlOk(['delete', 'databases.durable.dev', db, '-n', ns, '--wait=false']);
    await waitFor('Database gone', async () => (await getDatabase(ns, db)) === undefined, {
      timeoutMs: 90_000,
    });
    await expect(client().schedule.getHandle(backupScheduleId(ns, db)).describe()).rejects.toBeInstanceOf(
      ScheduleNotFoundError,
    );
    expect((await listBackups(ns)).length).toBeGreaterThanOrEqual(2);
    await recordNamespaceHistories(
      client(),
      ns,
      'backup',
      'backup retried then Succeeded, always failing then retried, on-demand with retention, scheduled backups, restore and a missing backup, deletion with a Schedule',
    );
  });
});
