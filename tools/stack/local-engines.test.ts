import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { startLocalMariadb, startLocalPostgres, type LocalEngine } from './local-engines';
import { isAlive } from './processes';

const run = promisify(execFile);

// Quotes and a backslash: the password must reach the engine intact, whatever it holds.
const PASSWORD = `s3cr'et\\"pw`;

let root: string;
const started: LocalEngine[] = [];

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'local-engines-'));
});

afterAll(async () => {
  await Promise.all(started.map((e) => e.stop()));
  fs.rmSync(root, { recursive: true, force: true });
});

async function pgQuery(engine: LocalEngine, password: string, sql: string): Promise<unknown[]> {
  const client = new pg.Client({ host: engine.host, port: engine.port, user: 'postgres', password });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

async function mysqlQuery(engine: LocalEngine, password: string, sql: string): Promise<unknown[]> {
  const conn = await mysql.createConnection({ host: engine.host, port: engine.port, user: 'root', password });
  try {
    return (await conn.query(sql))[0] as unknown[];
  } finally {
    await conn.end();
  }
}

describe('local PostgreSQL', () => {
  it('starts on a fresh directory, takes the password over TCP, rejects a wrong one, keeps data across restarts', async () => {
    const dataDir = path.join(root, 'pg');
    let engine = await startLocalPostgres({ dataDir, password: PASSWORD });
    started.push(engine);
    expect(engine).toMatchObject({ engine: 'postgres', host: '127.0.0.1', dataDir });

    expect(await pgQuery(engine, PASSWORD, 'SHOW wal_level')).toEqual([{ wal_level: 'replica' }]);
    await expect(pgQuery(engine, 'wrong', 'SELECT 1')).rejects.toThrow(/password authentication failed/);
    await pgQuery(engine, PASSWORD, 'CREATE TABLE t (v text); INSERT INTO t VALUES ($$kept$$)');

    const { pid, port } = engine;
    await engine.stop();
    expect(isAlive(pid)).toBe(false);

    engine = await startLocalPostgres({ dataDir, password: PASSWORD, port, init: 'existing' });
    started.push(engine);
    expect(engine.port).toBe(port);
    expect(await pgQuery(engine, PASSWORD, 'SELECT v FROM t')).toEqual([{ v: 'kept' }]);
  });

  it('starts a pg_basebackup clone as a hot standby on its own port', async () => {
    const primary = await startLocalPostgres({ dataDir: path.join(root, 'primary'), password: PASSWORD });
    started.push(primary);
    await pgQuery(primary, PASSWORD, 'CREATE TABLE t (v text); INSERT INTO t VALUES ($$before$$)');

    const cloneDir = path.join(root, 'clone');
    await run(
      'pg_basebackup',
      [
        '-h',
        primary.host,
        '-p',
        String(primary.port),
        '-U',
        'postgres',
        '-D',
        cloneDir,
        '-R',
        '-X',
        'stream',
        '-c',
        'fast',
      ],
      {
        env: { ...process.env, PGPASSWORD: PASSWORD },
      },
    );
    const standby = await startLocalPostgres({ dataDir: cloneDir, password: PASSWORD, init: 'existing' });
    started.push(standby);
    expect(standby.port).not.toBe(primary.port);

    expect(await pgQuery(standby, PASSWORD, 'SELECT pg_is_in_recovery() AS r')).toEqual([{ r: true }]);
    await pgQuery(primary, PASSWORD, 'INSERT INTO t VALUES ($$after$$)');
    // Streaming replication from the primary, through the conninfo pg_basebackup -R wrote.
    const deadline = Date.now() + 20_000;
    let rows: unknown[] = [];
    while (Date.now() < deadline) {
      rows = await pgQuery(standby, PASSWORD, 'SELECT v FROM t ORDER BY v');
      if (rows.length === 2) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(rows).toEqual([{ v: 'after' }, { v: 'before' }]);
  });
});

describe('local MariaDB', () => {
  it('starts on a fresh directory with binlog and GTID settings, takes the password, rejects a wrong one, keeps data', async () => {
    const dataDir = path.join(root, 'maria');
    let engine = await startLocalMariadb({ dataDir, password: PASSWORD, serverId: 11 });
    started.push(engine);
    expect(engine).toMatchObject({ engine: 'mysql', host: '127.0.0.1', dataDir });

    expect(
      await mysqlQuery(
        engine,
        PASSWORD,
        'SELECT @@server_id AS id, @@log_bin AS bin, @@binlog_format AS fmt, @@gtid_strict_mode AS strict, @@gtid_binlog_pos AS gtid',
      ),
      // An empty binlog: setting the password wrote no GTID a replica could clash with.
    ).toEqual([{ id: 11, bin: 1, fmt: 'ROW', strict: 1, gtid: '' }]);
    await expect(mysqlQuery(engine, 'wrong', 'SELECT 1')).rejects.toThrow(/Access denied/);
    await mysqlQuery(engine, PASSWORD, 'CREATE DATABASE app');
    await mysqlQuery(engine, PASSWORD, 'CREATE TABLE app.t (v text)');
    await mysqlQuery(engine, PASSWORD, "INSERT INTO app.t VALUES ('kept')");

    const { port } = engine;
    await engine.stop();
    engine = await startLocalMariadb({ dataDir, password: PASSWORD, serverId: 11, port });
    started.push(engine);
    expect(await mysqlQuery(engine, PASSWORD, 'SELECT v FROM app.t')).toEqual([{ v: 'kept' }]);
    await expect(mysqlQuery(engine, '', 'SELECT 1')).rejects.toThrow(/Access denied/);
  });
});
