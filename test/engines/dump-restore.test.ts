import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import {
  backupScript,
  deleteDataScript,
  PASSWORD_ENV,
  restoreScript,
  SCRIPT_ENV,
} from '../../activities/manifests/backup-scripts';
import type { Engine } from '../../crds';
import { startLocalMariadb, startLocalPostgres, type LocalEngine } from '../../tools/stack/local-engines';

/**
 * Dump and restore round trip on real engines (PostgreSQL 15, MariaDB for `mysql`), running the
 * exact scripts the backup and restore Jobs run (activities/manifests/backup-scripts.ts) with
 * `sh -c`, as the Jobs do. Only what a Job gets from its environment differs: host and port of
 * the local engine, the dump path, and the termination-log path.
 */

const PASSWORD = `pw'with"quotes\\`;
let root: string;
const started: LocalEngine[] = [];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'dump-restore-'));
});
afterAll(async () => {
  await Promise.all(started.map((e) => e.stop()));
  fs.rmSync(root, { recursive: true, force: true });
});

interface ScriptRun {
  code: number;
  stderr: string;
  termination: string;
}

/** Runs a Job's script as the Job's container would (`sh -c <script>`), with the Job's env. */
function runScript(script: string, env: Record<string, string>): Promise<ScriptRun> {
  const tlog = path.join(root, `termination-${Date.now()}-${Math.random().toString(16).slice(2)}`);
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], {
      // A Job's container has no more than this: no PATH tricks, HOME on scratch space.
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: root,
        ...env,
        [SCRIPT_ENV.terminationLog]: tlog,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const termination = fs.existsSync(tlog) ? fs.readFileSync(tlog, 'utf8') : '';
      resolve({ code: code ?? -1, stderr, termination });
    });
  });
}

function jobEnv(engine: Engine, local: LocalEngine, file: string, location: string): Record<string, string> {
  return {
    [SCRIPT_ENV.host]: local.host,
    [SCRIPT_ENV.port]: String(local.port),
    [SCRIPT_ENV.user]: engine === 'postgres' ? 'postgres' : 'root',
    [PASSWORD_ENV[engine]]: PASSWORD,
    [SCRIPT_ENV.file]: file,
    [SCRIPT_ENV.location]: location,
  };
}

async function pgQuery(e: LocalEngine, sql: string, database = 'postgres') {
  const client = new pg.Client({
    host: e.host,
    port: e.port,
    user: 'postgres',
    password: PASSWORD,
    database,
  });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

async function myQuery(e: LocalEngine, sql: string) {
  const conn = await mysql.createConnection({
    host: e.host,
    port: e.port,
    user: 'root',
    password: PASSWORD,
    multipleStatements: true,
  });
  try {
    return (await conn.query(sql))[0] as Record<string, unknown>[];
  } finally {
    await conn.end();
  }
}

describe('dump and restore with the Job scripts', () => {
  it('PostgreSQL 15: every database and its rows survive backup → restore into a fresh server', async () => {
    const source = await startLocalPostgres({ dataDir: path.join(root, 'pg-src'), password: PASSWORD });
    started.push(source);
    await pgQuery(
      source,
      `CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL, note text);
       INSERT INTO orders SELECT g, 'item ' || g, CASE WHEN g % 2 = 0 THEN E'quote '' and \\\\ backslash' END
         FROM generate_series(1, 500) g;
       CREATE VIEW big_orders AS SELECT * FROM orders WHERE id > 400;`,
    );
    await pgQuery(source, 'CREATE DATABASE inventory');
    await pgQuery(
      source,
      `CREATE TABLE stock (sku text PRIMARY KEY, qty int); INSERT INTO stock VALUES ('a', 1), ('b', 2)`,
      'inventory',
    );

    const file = path.join(root, 'backups', 'orders', 'orders-202611220500.sql.gz');
    const location = 'pvc://orders-backups/orders/orders-202611220500.sql.gz';
    const backup = await runScript(backupScript('postgres'), jobEnv('postgres', source, file, location));
    expect(backup).toMatchObject({ code: 0 });
    const result = JSON.parse(backup.termination) as { sizeBytes: number; location: string };
    expect(result.location).toBe(location);
    expect(result.sizeBytes).toBe(fs.statSync(file).size);
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);

    const target = await startLocalPostgres({ dataDir: path.join(root, 'pg-dst'), password: PASSWORD });
    started.push(target);
    const restore = await runScript(restoreScript('postgres'), jobEnv('postgres', target, file, location));
    expect(restore).toMatchObject({ code: 0 });
    const q =
      "SELECT count(*)::int AS n, md5(string_agg(id || item || coalesce(note, '-'), ',' ORDER BY id)) AS h FROM orders";
    expect(await pgQuery(target, q)).toEqual(await pgQuery(source, q));
    expect(await pgQuery(target, 'SELECT count(*)::int AS n FROM big_orders')).toEqual([{ n: 100 }]);
    expect(await pgQuery(target, 'SELECT sku, qty FROM stock ORDER BY sku', 'inventory')).toEqual([
      { sku: 'a', qty: 1 },
      { sku: 'b', qty: 2 },
    ]);

    // The same dump again into the restored server: --clean makes a second restore idempotent.
    expect(
      await runScript(restoreScript('postgres'), jobEnv('postgres', target, file, location)),
    ).toMatchObject({ code: 0 });
    expect(await pgQuery(target, 'SELECT count(*)::int AS n FROM orders')).toEqual([{ n: 500 }]);

    // Retention's script removes the dump.
    expect(
      await runScript(deleteDataScript(), { [SCRIPT_ENV.file]: file, [SCRIPT_ENV.location]: location }),
    ).toMatchObject({ code: 0 });
    expect(fs.existsSync(file)).toBe(false);
  }, 180_000);

  it('MariaDB (mysql engine): user databases and rows survive; the system schema is left alone', async () => {
    const source = await startLocalMariadb({
      dataDir: path.join(root, 'my-src'),
      password: PASSWORD,
      serverId: 1,
    });
    started.push(source);
    await myQuery(
      source,
      `CREATE DATABASE shop;
       CREATE TABLE shop.orders (id int PRIMARY KEY, item varchar(64) NOT NULL, note text);
       INSERT INTO shop.orders VALUES (1, 'a', NULL), (2, 'b', 'quote '' and \\\\ backslash'), (3, 'c', 'ünïcode');
       CREATE DATABASE audit;
       CREATE TABLE audit.log (at datetime, what text);
       INSERT INTO audit.log VALUES ('2026-11-22 05:00:00', 'created');`,
    );
    const file = path.join(root, 'backups', 'shop', 'shop-1.sql.gz');
    const location = 'pvc://shop-backups/shop/shop-1.sql.gz';
    const backup = await runScript(backupScript('mysql'), jobEnv('mysql', source, file, location));
    expect(backup).toMatchObject({ code: 0 });
    expect(JSON.parse(backup.termination)).toMatchObject({ location, sizeBytes: fs.statSync(file).size });

    const target = await startLocalMariadb({
      dataDir: path.join(root, 'my-dst'),
      password: PASSWORD,
      serverId: 2,
    });
    started.push(target);
    const restore = await runScript(restoreScript('mysql'), jobEnv('mysql', target, file, location));
    expect(restore).toMatchObject({ code: 0 });
    const q = 'SELECT id, item, note FROM shop.orders ORDER BY id';
    expect(await myQuery(target, q)).toEqual(await myQuery(source, q));
    expect(await myQuery(target, 'SELECT what FROM audit.log')).toEqual([{ what: 'created' }]);
    // The target's own users were not replaced: the password it was started with still works
    // (myQuery above connected with it after the restore).
  }, 180_000);

  it('a failing dump ends the script with the error in the termination log and leaves no file', async () => {
    const source = started.find((e) => e.engine === 'postgres')!;
    const file = path.join(root, 'backups', 'bad', 'bad.sql.gz');
    const env = {
      ...jobEnv('postgres', source, file, 'pvc://x/bad/bad.sql.gz'),
      [PASSWORD_ENV.postgres]: 'wrong',
    };
    const run = await runScript(backupScript('postgres'), env);
    expect(run.code).not.toBe(0);
    expect(run.termination).toMatch(/dump failed \(exit \d+\).*password authentication failed/);
    expect(run.termination).not.toContain('wrong');
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.existsSync(`${file}.tmp`)).toBe(false);

    const restore = await runScript(
      restoreScript('postgres'),
      jobEnv('postgres', source, file, 'pvc://x/bad/bad.sql.gz'),
    );
    expect(restore.code).not.toBe(0);
    expect(restore.termination).toContain('not found');
  }, 60_000);
});
