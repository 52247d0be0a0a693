import {
  createBackup,
  FIRST_ROWS,
  getBackup,
  readRows,
  retryBackup,
  waitForBackupDone,
  withReadyDatabase,
  writeFirstRows,
  writeLaterRows,
} from '../support/backups';
import {
  listStoreObjects,
  parseS3Url,
  readGzippedObject,
  s3TargetFor,
  startObjectStore,
  stopObjectStore,
} from '../support/object-store';
import type { V1Job } from '@kubernetes/client-node';
import { applyDatabase, eventReasons, getDatabase, waitForPhase } from '../support/operator';
import { kubectlOk, stackInfo } from '../support/stack';
import { sql, type StackEngine } from '../support/sql';
import { readCredentials } from '../../tools/stack/object-store';
import type { S3Target } from '../../tools/stack/s3-bucket';
import { waitFor } from '../../tools/stack/wait';
import { DATABASE_BACKUP } from '../../crds';

jest.setTimeout(600_000);

/**
 * S3 backups against a real S3 server: the stack's object store (versitygw), reached from the
 * backup Jobs on the real nodes with credentials from a Secret. A backup is an object the store
 * lists, holding the rows; a new Database restored from it has exactly those rows; with the
 * store stopped (connections refused) a backup fails with the client's error in its status, on
 * the Database's condition and in an Event, and once the store is back the documented retry
 * succeeds; retention then deletes the older backup's object from the store.
 */
const engines: { engine: StackEngine; version: string }[] = [
  { engine: 'postgres', version: '17' },
  { engine: 'mariadb', version: '11.8' },
];

const BIG_ROWS = 100_000;
const say = (msg: string) => process.stderr.write(`[backup-s3] ${msg}\n`);

describe.each(engines)('S3 backups on $engine $version', ({ engine, version }) => {
  const db = 'vault';
  const copy = 'vault-copy';
  const prefix = 'nightly';
  let target: S3Target | undefined;
  const s3Target = () => ({ s3: { ...target!, prefix } });
  const bed = withReadyDatabase(`baks3-${engine.slice(0, 2)}`, db, async (ns) => {
    target = await s3TargetFor(ns);
    return {
      engine,
      version,
      backup: { enabled: false, maxAttempts: 1, retention: { count: 1 }, target: s3Target() },
    };
  });

  it('a backup is an object in the store holding the rows; a Database restored from it has exactly them', async () => {
    const { ns } = bed;
    await writeFirstRows(ns, db, engine);

    const name = `${db}-first`;
    const backupStarted = Date.now();
    await createBackup(ns, name, db);
    const backup = await waitForBackupDone(ns, name);
    const backupMs = Date.now() - backupStarted;
    const location = `s3://${target!.bucket}/${prefix}/${db}/${name}.sql.gz`;
    expect(backup.status).toMatchObject({ phase: 'Succeeded', attempts: 1, location });

    // The store itself lists the object, of the size the Job reported, and it holds the rows.
    const { bucket, key } = parseS3Url(location);
    const objects = await listStoreObjects(bucket, `${prefix}/`);
    expect(objects).toEqual([expect.objectContaining({ key, size: backup.status?.sizeBytes })]);
    expect(backup.status?.sizeBytes).toBeGreaterThan(0);
    expect(await readGzippedObject(bucket, key)).toContain('crème brûlée');
    // The keys reached the Job's pod only by reference to the Secret: in no value of the Job.
    const job = await kubectlOk(['get', 'job', `${name}-1`, '-n', ns, '-o', 'json']);
    expect(job).not.toContain(readCredentials(stackInfo().objectStore.credentialsFile).secretAccessKey);
    const upload = (JSON.parse(job) as V1Job).spec?.template.spec?.containers.find(
      (c) => c.name === 's3-upload',
    );
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      expect(upload?.env?.find((e) => e.name === key)).toEqual({
        name: key,
        valueFrom: { secretKeyRef: { name: target!.credentialsSecret, key } },
      });
    }

    await writeLaterRows(ns, db, engine);

    const restoreStarted = Date.now();
    await applyDatabase(ns, copy, {
      engine,
      version,
      backup: { enabled: false, target: s3Target() },
      bootstrap: { fromBackup: { name } },
    });
    const restored = await waitForPhase(ns, copy, 'Ready', { timeoutMs: 300_000 });
    const restoreMs = Date.now() - restoreStarted;
    expect(restored.status?.conditions?.find((c) => c.type === 'Restored')).toMatchObject({
      status: 'True',
    });
    expect(await readRows(ns, copy, engine)).toEqual(FIRST_ROWS);
    say(
      `${engine} ${version}: backup to S3 ${backupMs} ms (create → Succeeded, ${backup.status?.sizeBytes} bytes); ` +
        `restore ${restoreMs} ms (new Database applied → Ready, pods included)`,
    );
  });

  it('with the store down a backup fails with the error in its status, a condition and an Event; the retry after it is back succeeds', async () => {
    const { ns } = bed;
    const name = `${db}-outage`;
    await stopObjectStore();
    let failed;
    try {
      await createBackup(ns, name, db);
      failed = await waitForBackupDone(ns, name);
    } finally {
      await startObjectStore();
    }
    say(`${engine} ${version}: with the store down: ${failed.status?.error}`);
    expect(failed.status).toMatchObject({ phase: 'Failed', attempts: 1, jobName: `${name}-1` });
    // The script's words and the S3 client's own: the endpoint it could not reach.
    expect(failed.status?.error).toMatch(/^attempt 1: aws upload of s3:\/\/\S+ failed/);
    expect(failed.status?.error).toContain('Could not connect to the endpoint URL');
    expect(await eventReasons(ns, DATABASE_BACKUP.kind, name)).toContain('BackupFailed');
    const condition = (await getDatabase(ns, db))?.status?.conditions?.find(
      (c) => c.type === 'LastBackupSucceeded',
    );
    expect(condition).toMatchObject({ status: 'False' });
    expect(condition?.message).toContain(name);
    // Nothing half-written under the backup's name.
    const { bucket, key } = parseS3Url(`s3://${target!.bucket}/${prefix}/${db}/${name}.sql.gz`);
    expect((await listStoreObjects(bucket, `${prefix}/`)).map((o) => o.key)).not.toContain(key);

    const retried = await retryBackup(ns, name, '1');
    expect(retried.status).toMatchObject({ attempts: 2, jobName: `${name}-2` });
    expect(retried.status?.error).toBeUndefined();
    expect((await listStoreObjects(bucket, `${prefix}/`)).map((o) => o.key)).toContain(key);
    expect((await getBackup(ns, name))?.status?.phase).toBe('Succeeded');
  });

  it('retention (count 1) after that success deletes the older backup and its object in the store', async () => {
    const { ns } = bed;
    const first = `${db}-first`;
    await waitFor(
      'retention to delete the first backup',
      async () => (await getBackup(ns, first)) === undefined,
      {
        timeoutMs: 180_000,
      },
    );
    const keys = (await listStoreObjects(target!.bucket, `${prefix}/`)).map((o) => o.key);
    expect(keys).toEqual([`${prefix}/${db}/${db}-outage.sql.gz`]);
  });

  it('100 000 rows: backed up to the store and restored into a new Database, the same rows (times in the log)', async () => {
    const { ns } = bed;
    const big = engine === 'postgres' ? 'big' : 'shop.big';
    await sql(ns, db, engine, `CREATE TABLE ${big} (id int PRIMARY KEY, item char(32))`);
    await sql(
      ns,
      db,
      engine,
      engine === 'postgres'
        ? `INSERT INTO ${big} SELECT g, md5(random()::text) FROM generate_series(1, ${BIG_ROWS}) g`
        : `INSERT INTO ${big} SELECT seq, md5(rand()) FROM shop.seq_1_to_${BIG_ROWS}`,
    );
    // Count, sum of ids and a sum of per-row hashes: the same numbers only for the same rows.
    const fingerprint = (database: string) =>
      sql<Record<string, unknown>>(
        ns,
        database,
        engine,
        engine === 'postgres'
          ? `SELECT count(*)::text AS n, sum(id)::text AS ids, sum(hashtext(item)::bigint)::text AS h FROM ${big}`
          : `SELECT CAST(count(*) AS CHAR) AS n, CAST(sum(id) AS CHAR) AS ids, CAST(sum(crc32(item)) AS CHAR) AS h FROM ${big}`,
      );
    const source = await fingerprint(db);
    expect(source).toEqual([expect.objectContaining({ n: String(BIG_ROWS) })]);

    const name = `${db}-big`;
    const backupStarted = Date.now();
    await createBackup(ns, name, db);
    const backup = await waitForBackupDone(ns, name, 600_000);
    const backupMs = Date.now() - backupStarted;
    expect(backup.status?.phase).toBe('Succeeded');
    const { bucket, key } = parseS3Url(backup.status!.location!);
    expect(await listStoreObjects(bucket, key)).toEqual([
      expect.objectContaining({ key, size: backup.status?.sizeBytes }),
    ]);

    const restoreStarted = Date.now();
    await applyDatabase(ns, `${db}-big`, {
      engine,
      version,
      backup: { enabled: false, target: s3Target() },
      bootstrap: { fromBackup: { name } },
    });
    await waitForPhase(ns, `${db}-big`, 'Ready', { timeoutMs: 600_000 });
    const restoreMs = Date.now() - restoreStarted;
    expect(await fingerprint(`${db}-big`)).toEqual(source);
    say(
      `${engine} ${version}: ${BIG_ROWS} rows: backup to S3 ${backupMs} ms (${backup.status?.sizeBytes} bytes gzipped, ` +
        `Job ${backup.status?.startedAt} → ${backup.status?.finishedAt}); restore ${restoreMs} ms (applied → Ready)`,
    );
  });
});
