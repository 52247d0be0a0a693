import fs from 'node:fs';
import {
  AUTH_FAILED,
  breakCredentials,
  createBackup,
  dumpFileOnHost,
  fileExists,
  FIRST_ROWS,
  getBackup,
  ordersTable,
  readRows,
  restoreCredentials,
  retryBackup,
  waitForBackupDone,
  withReadyDatabase,
  writeFirstRows,
  writeLaterRows,
} from '../support/backups';
import { applyDatabase, getDatabase, waitForPhase } from '../support/operator';
import { sql, type StackEngine } from '../support/sql';
import { waitFor } from '../../tools/stack/wait';

jest.setTimeout(600_000);

/**
 * What a backup holds, on real engines: the rows written before it, read back through SQL from a
 * new Database restored from it, and not the rows written after it; and retention deletes the
 * dump file itself from the backup volume (a directory on this machine, see dumpFileOnHost); and a
 * Job fails for real when the engine refuses the Secret's password.
 */
const engines: { engine: StackEngine; version: string }[] = [
  { engine: 'postgres', version: '15' },
  { engine: 'mariadb', version: '11.8' },
];

describe.each(engines)('backup data on $engine $version', ({ engine, version }) => {
  const db = 'ledger';
  const copy = 'ledger-copy';
  const bed = withReadyDatabase(`bakdata-${engine.slice(0, 2)}`, db, {
    engine,
    version,
    backup: { enabled: false, maxAttempts: 1, retention: { count: 1 } },
  });
  const table = ordersTable(engine);
  const first = `${db}-first`;
  let firstFile = '';

  it('a backup holds the rows written before it; a restore into a new Database has those rows and no later ones', async () => {
    const { ns } = bed;
    await writeFirstRows(ns, db, engine);

    await createBackup(ns, first, db);
    const backup = await waitForBackupDone(ns, first);
    expect(backup.status).toMatchObject({
      phase: 'Succeeded',
      attempts: 1,
      location: `pvc://${db}-backups/${db}/${first}.sql.gz`,
    });
    expect(backup.status?.sizeBytes).toBeGreaterThan(0);
    // The size the pod reported is the size of the gzipped file in the volume.
    firstFile = await dumpFileOnHost(ns, backup.status!.location!);
    expect(fileExists(firstFile)).toBe(true);
    expect(fs.statSync(firstFile).size).toBe(backup.status?.sizeBytes);

    await writeLaterRows(ns, db, engine);

    await applyDatabase(ns, copy, { engine, version, bootstrap: { fromBackup: { name: first } } });
    const restored = await waitForPhase(ns, copy, 'Ready', { timeoutMs: 300_000 });
    expect(restored.status?.conditions?.find((c) => c.type === 'Restored')).toMatchObject({
      status: 'True',
    });
    expect(await readRows(ns, copy, engine)).toEqual(FIRST_ROWS);
    // The source still has everything: the restore read the dump, not the source.
    const source = await sql<{ n: number | string }>(ns, db, engine, `SELECT count(*) AS n FROM ${table}`);
    expect(Number(source[0]?.n)).toBe(4);
  });

  it('retention (count 1) deletes the older backup and its dump file from the volume', async () => {
    const { ns } = bed;
    expect(firstFile).not.toBe('');
    const second = `${db}-second`;
    await createBackup(ns, second, db);
    const backup = await waitForBackupDone(ns, second);
    expect(backup.status?.phase).toBe('Succeeded');
    await waitFor(
      'retention to delete the first backup',
      async () => (await getBackup(ns, first)) === undefined,
      {
        timeoutMs: 180_000,
      },
    );
    expect(fileExists(firstFile)).toBe(false);
    expect(fileExists(await dumpFileOnHost(ns, backup.status!.location!))).toBe(true);
    expect((await getDatabase(ns, db))?.status?.lastBackup).toMatchObject({
      name: second,
      phase: 'Succeeded',
    });
  });

  it("a backup against credentials the engine refuses fails with the engine's own words; once mended, the documented retry succeeds", async () => {
    const { ns } = bed;
    const name = `${db}-refused`;
    await breakCredentials(ns, db, engine);
    let failed;
    try {
      await createBackup(ns, name, db);
      failed = await waitForBackupDone(ns, name);
    } finally {
      await restoreCredentials(ns, db, engine);
    }
    expect(failed.status).toMatchObject({ phase: 'Failed', attempts: 1, jobName: `${name}-1` });
    expect(failed.status?.error).toMatch(/^attempt 1: dump failed \(exit \d+\): /);
    expect(failed.status?.error).toContain(AUTH_FAILED[engine]);
    const retried = await retryBackup(ns, name, '1');
    expect(retried.status).toMatchObject({ attempts: 2, jobName: `${name}-2` });
    expect(retried.status?.sizeBytes).toBeGreaterThan(0);
  });
});
