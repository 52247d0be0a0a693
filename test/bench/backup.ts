/**
 * Benchmark: backup size and time, and restore time, of a Database holding `--rows` rows
 * (default 100 000), on PostgreSQL 15 and MariaDB 11.8 on the real nodes of a running stack.
 * Prints figures; asserts nothing about speed (a busy 2-core machine would make that flaky), only
 * that the restored copy has every row.
 *
 *   DURABLE_STACK_FILE=.stack/<name>/stack.json npx tsx test/bench/backup.ts [--rows 100000] [--engine postgres|mariadb]
 *
 * Times: `backup` from `kubectl create` of the DatabaseBackup to phase Succeeded, and the Job
 * alone (its startTime to completionTime: pod start, dump, gzip, write); `restore` from
 * `kubectl apply` of the new Database to Ready (provisioning included), and its restore Job alone.
 */
import { parseArgs } from 'node:util';
import { createBackup, waitForBackupDone } from '../support/backups';
import { applyDatabase, startOperator, waitForPhase } from '../support/operator';
import { sql, type StackEngine } from '../support/sql';
import { deleteNamespace, kubectlOk } from '../support/stack';

const VERSIONS: Record<StackEngine, string> = { postgres: '15', mariadb: '11.8' };

/** Rows of ~100 bytes each: an id, a text payload that compresses as real data half does, a time. */
function loadStatements(engine: StackEngine, rows: number): string[] {
  if (engine === 'postgres') {
    return [
      'CREATE TABLE events (id int PRIMARY KEY, payload text NOT NULL, at timestamptz NOT NULL)',
      `INSERT INTO events SELECT i, md5(i::text) || ' ' || md5((i * 7)::text) || ' row ' || i, now() - i * interval '1 second' FROM generate_series(1, ${rows}) AS i`,
    ];
  }
  return [
    'CREATE DATABASE bench',
    'CREATE TABLE bench.events (id int PRIMARY KEY, payload varchar(100) NOT NULL, at datetime NOT NULL)',
    // MariaDB's Sequence engine: seq_1_to_<n> is a table of the numbers 1..n.
    `INSERT INTO bench.events SELECT seq, CONCAT(MD5(seq), ' ', MD5(seq * 7), ' row ', seq), NOW() - INTERVAL seq SECOND FROM bench.seq_1_to_${rows}`,
  ];
}

async function jobSeconds(ns: string, job: string): Promise<number> {
  const out = await kubectlOk([
    'get',
    'job',
    job,
    '-n',
    ns,
    '-o',
    'jsonpath={.status.startTime} {.status.completionTime}',
  ]);
  const [start, end] = out.trim().split(' ');
  return (Date.parse(end!) - Date.parse(start!)) / 1000;
}

async function bench(engine: StackEngine, rows: number): Promise<Record<string, unknown>> {
  const version = VERSIONS[engine];
  const ns = `bench-bak-${engine.slice(0, 2)}-${Date.now().toString(36).slice(-4)}`;
  await kubectlOk(['create', 'namespace', ns]);
  const op = await startOperator(ns);
  const log = (m: string) => process.stderr.write(`[bench-backup] ${engine}: ${m}\n`);
  try {
    await applyDatabase(ns, 'db', { engine, version, storage: { size: '2Gi' }, backup: { enabled: false } });
    await waitForPhase(ns, 'db', 'Ready', { timeoutMs: 300_000 });
    const t0 = performance.now();
    for (const statement of loadStatements(engine, rows)) await sql(ns, 'db', engine, statement);
    const table = engine === 'postgres' ? 'events' : 'bench.events';
    log(`${rows} rows loaded in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const b0 = performance.now();
    await createBackup(ns, 'db-bench', 'db');
    const backup = await waitForBackupDone(ns, 'db-bench', 900_000);
    const backupSeconds = (performance.now() - b0) / 1000;
    if (backup.status?.phase !== 'Succeeded')
      throw new Error(`backup ${backup.status?.phase}: ${backup.status?.error}`);
    log(`backup ${backup.status.sizeBytes} bytes in ${backupSeconds.toFixed(1)} s`);

    const r0 = performance.now();
    await applyDatabase(ns, 'copy', {
      engine,
      version,
      storage: { size: '2Gi' },
      bootstrap: { fromBackup: { name: 'db-bench' } },
    });
    await waitForPhase(ns, 'copy', 'Ready', { timeoutMs: 900_000 });
    const restoreSeconds = (performance.now() - r0) / 1000;
    const [count] = await sql<{ n: number | string }>(
      ns,
      'copy',
      engine,
      `SELECT count(*) AS n FROM ${table}`,
    );
    if (Number(count?.n) !== rows) throw new Error(`the copy has ${count?.n} rows, not ${rows}`);
    log(`restored (${rows} rows) in ${restoreSeconds.toFixed(1)} s`);
    return {
      engine: `${engine} ${version}`,
      rows,
      backupSizeBytes: backup.status.sizeBytes,
      backupSecondsCreateToSucceeded: Number(backupSeconds.toFixed(1)),
      backupJobSeconds: await jobSeconds(ns, backup.status.jobName!),
      restoreSecondsApplyToReady: Number(restoreSeconds.toFixed(1)),
      restoreJobSeconds: await jobSeconds(ns, 'copy-restore'),
    };
  } finally {
    await op.stop();
    await deleteNamespace(ns);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { rows: { type: 'string', default: '100000' }, engine: { type: 'string' } },
  });
  const rows = Number(values.rows);
  const engines: StackEngine[] = values.engine ? [values.engine as StackEngine] : ['postgres', 'mariadb'];
  const results = [];
  for (const engine of engines) results.push(await bench(engine, rows));
  console.table(results);
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
