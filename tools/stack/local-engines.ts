import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { freePort } from './ports';
import { waitFor } from './wait';

/**
 * Real database engines as local processes: PostgreSQL 15 and MariaDB (which stands in for the
 * `mysql` engine). Used by engine-level tests and by the local stack's engine runtime, which runs
 * the database container of each simulated pod this way.
 */
export interface LocalEngine {
  engine: 'postgres' | 'mysql';
  host: string;
  port: number;
  dataDir: string;
  /** Process id of the engine's main process. */
  pid: number;
  /** Resolves when the engine's process has exited, whether stopped or crashed. */
  exited: Promise<void>;
  /** Graceful shutdown, then SIGKILL after a grace period. Keeps the data. */
  stop(): Promise<void>;
}

interface CommonOptions {
  dataDir: string;
  port?: number;
  /** Superuser password (`postgres` / `root`). */
  password: string;
  /** File that receives the engine's output (appended); default `<dataDir>.log`. */
  log?: string;
  /**
   * Directory of the local stack that owns the process: it goes into the process's environment as
   * DURABLE_STACK_DIR, so a later stack reaps it if its supervisor died (see processes.ts).
   * Defaults to DURABLE_STACK_DIR of this process.
   */
  stackDir?: string;
  /** How long to wait for the first authenticated connection; default 90 s. */
  readyTimeoutMs?: number;
}

export interface LocalPostgresOptions extends CommonOptions {
  /**
   * `initdb` creates a cluster in an empty directory; `existing` starts one already there (for
   * instance a clone made by pg_basebackup, whose standby.signal makes it a standby). Default: by
   * whether the directory holds a cluster.
   */
  init?: 'initdb' | 'existing';
}

export interface LocalMariadbOptions extends CommonOptions {
  serverId: number;
}

const HOST = '127.0.0.1';
const STOP_GRACE_MS = 15_000;

export async function startLocalPostgres(opts: LocalPostgresOptions): Promise<LocalEngine> {
  const dataDir = path.resolve(opts.dataDir);
  const account = engineAccount('postgres');
  const logFile = opts.log ?? `${dataDir}.log`;
  const hasCluster = fs.existsSync(path.join(dataDir, 'PG_VERSION'));
  const init = opts.init ?? (hasCluster ? 'existing' : 'initdb');
  if (init === 'existing' && !hasCluster) throw new Error(`${dataDir} holds no PostgreSQL cluster`);
  if (init === 'initdb' && hasCluster) throw new Error(`${dataDir} already holds a PostgreSQL cluster`);

  if (init === 'initdb') {
    ensureDir(dataDir, account);
    await withSecretFile(account, opts.password, (pwfile) =>
      runTool(
        postgresBinary('initdb'),
        [
          `--pgdata=${dataDir}`,
          '--username=postgres',
          `--pwfile=${pwfile}`,
          // Password authentication for every connection, local socket and TCP, replication too.
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--locale=C',
          // A throw-away test cluster: fsync buys nothing and costs seconds on a busy disk.
          '--no-sync',
          '--no-instructions',
        ],
        { account, logFile, stackDir: opts.stackDir },
      ),
    );
  } else {
    // A clone written by a tool that ran as another user must still belong to the engine's user,
    // and PostgreSQL refuses a data directory that others can read.
    ownRecursively(dataDir, account);
    fs.chmodSync(dataDir, 0o700);
  }

  const port = opts.port ?? (await freePort());
  const socketDir = socketDirFor(dataDir, account);
  // Settings go on the command line: they override a postgresql.conf (or postgresql.auto.conf)
  // copied from the primary by pg_basebackup, which carries the primary's port.
  const settings: Record<string, string | number> = {
    listen_addresses: HOST,
    port,
    unix_socket_directories: socketDir,
    wal_level: 'replica',
    max_wal_senders: 10,
    max_replication_slots: 10,
    hot_standby: 'on',
    max_connections: 40,
    shared_buffers: '16MB',
    max_wal_size: '128MB',
    min_wal_size: '32MB',
    fsync: 'off',
    synchronous_commit: 'off',
    logging_collector: 'off',
    // Checkpoints as fast as the disk allows: a spread checkpoint makes every pg_basebackup
    // (the replica bootstrap) wait seconds for a handful of buffers.
    checkpoint_completion_target: 0,
  };
  const args = ['-D', dataDir];
  for (const [k, v] of Object.entries(settings)) args.push('-c', `${k}=${v}`);
  const child = spawnEngine(postgresBinary('postgres'), args, { account, logFile, stackDir: opts.stackDir });
  // SIGINT is PostgreSQL's "fast" shutdown: SIGTERM ("smart") would wait for clients to leave.
  const engine = localEngine('postgres', child, port, dataDir, 'SIGINT');
  try {
    await waitReady(`PostgreSQL on ${HOST}:${port}`, child, logFile, opts.readyTimeoutMs, async () => {
      const client = new pg.Client({
        host: HOST,
        port,
        user: 'postgres',
        password: opts.password,
        database: 'postgres',
        connectionTimeoutMillis: 3_000,
      });
      client.on('error', () => undefined);
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } finally {
        await client.end().catch(() => undefined);
      }
    });
  } catch (err) {
    await engine.stop();
    throw err;
  }
  return engine;
}

export async function startLocalMariadb(opts: LocalMariadbOptions): Promise<LocalEngine> {
  const dataDir = path.resolve(opts.dataDir);
  const account = engineAccount('mysql');
  const logFile = opts.log ?? `${dataDir}.log`;
  // Written once the superuser's password is set: a first start that died before that point
  // leaves a data directory whose root has no password yet, and the next start sets it again.
  const marker = path.join(dataDir, '.durable-initialized');

  if (!fs.existsSync(path.join(dataDir, 'mysql'))) {
    ensureDir(dataDir, account);
    await runTool(
      '/usr/bin/mariadb-install-db',
      [
        '--no-defaults',
        `--datadir=${dataDir}`,
        // root@localhost with a plain password (empty until the init file below sets it), not
        // unix_socket authentication, which would tie it to the OS user.
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
      ],
      { account, logFile, stackDir: opts.stackDir },
    );
  } else {
    ownRecursively(dataDir, account);
  }

  const port = opts.port ?? (await freePort());
  const socketDir = socketDirFor(dataDir, account);
  const args = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--port=${port}`,
    `--bind-address=${HOST}`,
    `--socket=${path.join(socketDir, 'mariadbd.sock')}`,
    `--pid-file=${path.join(dataDir, 'mariadbd.pid')}`,
    `--server-id=${opts.serverId}`,
    `--log-bin=${path.join(dataDir, 'binlog')}`,
    `--relay-log=${path.join(dataDir, 'relay-bin')}`,
    '--binlog-format=ROW',
    '--gtid-strict-mode=ON',
    '--log-slave-updates=ON',
    '--skip-name-resolve',
    // Small caches: several engines share a 2-core test machine.
    '--innodb-buffer-pool-size=32M',
    '--innodb-log-buffer-size=4M',
    '--aria-pagecache-buffer-size=8M',
    '--key-buffer-size=1M',
    '--table-open-cache=200',
    '--innodb-flush-log-at-trx-commit=2',
    '--sync-binlog=0',
    '--performance-schema=OFF',
    '--max-connections=40',
  ];
  const firstStart = !fs.existsSync(marker);
  let initFile: { file: string; remove(): void } | undefined;
  if (firstStart) {
    // The official image creates root@'%' from MYSQL_ROOT_PASSWORD; so does this file, run by the
    // server at start-up. It is removed as soon as the server is up.
    const pw = sqlString(opts.password);
    initFile = secretFile(
      account,
      [
        // Not binlogged, as in the official image: a replica's own GTIDs would otherwise clash
        // with its source's under gtid_strict_mode (both start at sequence 1 in domain 0).
        'SET SESSION sql_log_bin = 0;',
        `ALTER USER 'root'@'localhost' IDENTIFIED BY ${pw};`,
        // mariadb-install-db also creates password-less root accounts for the loopback addresses
        // and the host name; '127.0.0.1' would match before '%' and refuse the password.
        `DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', 'root'@${sqlString(os.hostname())};`,
        `CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY ${pw};`,
        `ALTER USER 'root'@'%' IDENTIFIED BY ${pw};`,
        `GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;`,
        '',
      ].join('\n'),
    );
    args.push(`--init-file=${initFile.file}`);
  }
  const child = spawnEngine('/usr/sbin/mariadbd', args, { account, logFile, stackDir: opts.stackDir });
  const engine = localEngine('mysql', child, port, dataDir, 'SIGTERM');
  try {
    await waitReady(`MariaDB on ${HOST}:${port}`, child, logFile, opts.readyTimeoutMs, async () => {
      const conn = await mysql.createConnection({
        host: HOST,
        port,
        user: 'root',
        password: opts.password,
        connectTimeout: 3_000,
      });
      try {
        await conn.query('SELECT 1');
        return true;
      } finally {
        await conn.end().catch(() => undefined);
      }
    });
    if (firstStart) fs.writeFileSync(marker, '');
  } catch (err) {
    await engine.stop();
    throw err;
  } finally {
    initFile?.remove();
  }
  return engine;
}

// ---- processes ----------------------------------------------------------------------------------

export interface Account {
  uid: number;
  gid: number;
}

/**
 * PostgreSQL refuses to run as root, and MariaDB only with --user: as root, each engine runs as
 * its own system user (as in the official images); otherwise as the current user.
 */
export function engineAccount(user: 'postgres' | 'mysql'): Account | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  if (!line) throw new Error(`running as root, but there is no system user "${user}" to run the engine as`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

interface SpawnOptions {
  account: Account | undefined;
  logFile: string;
  stackDir: string | undefined;
}

function spawnEngine(command: string, args: string[], opts: SpawnOptions): ChildProcess {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const out = fs.openSync(opts.logFile, 'a');
  const stackDir = opts.stackDir ?? process.env.DURABLE_STACK_DIR;
  try {
    const child = spawn(command, args, {
      stdio: ['ignore', out, out],
      env: { ...process.env, ...(stackDir ? { DURABLE_STACK_DIR: stackDir } : {}) },
      ...(opts.account ? { uid: opts.account.uid, gid: opts.account.gid } : {}),
    });
    child.on('error', (err) =>
      fs.appendFileSync(opts.logFile, `\n[local-engines] spawn error: ${err.message}\n`),
    );
    return child;
  } finally {
    fs.closeSync(out);
  }
}

/** Runs a tool to completion (initdb, mariadb-install-db); throws with its log's tail on failure. */
async function runTool(command: string, args: string[], opts: SpawnOptions): Promise<void> {
  const child = spawnEngine(command, args, opts);
  const code = await new Promise<number | string>((resolve) => {
    child.once('error', (err) => resolve(err.message));
    child.once('exit', (c, signal) => resolve(c ?? signal ?? -1));
  });
  if (code !== 0) {
    throw new Error(`${path.basename(command)} failed (${code}); last log lines:\n${tail(opts.logFile, 20)}`);
  }
}

function localEngine(
  engine: LocalEngine['engine'],
  child: ChildProcess,
  port: number,
  dataDir: string,
  stopSignal: NodeJS.Signals,
): LocalEngine {
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  let stopping: Promise<void> | undefined;
  return {
    engine,
    host: HOST,
    port,
    dataDir,
    pid: child.pid ?? -1,
    exited,
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
        const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
        child.kill(stopSignal);
        await exited;
        clearTimeout(timer);
      })()),
  };
}

const AUTH_FAILURES = new Set(['28P01', '28000', 'ER_ACCESS_DENIED_ERROR']);

/**
 * Waits until `connect` succeeds with the password: an open port alone is not enough, an engine
 * may listen while it still recovers. A refused password ends the wait at once, and so does the
 * engine's exit, with the tail of its log.
 */
async function waitReady(
  what: string,
  child: ChildProcess,
  logFile: string,
  timeoutMs = 90_000,
  connect: () => Promise<boolean>,
): Promise<void> {
  let fatal: Error | undefined;
  await waitFor(
    what,
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) {
        fatal = new Error(
          `${what} exited (${child.exitCode ?? child.signalCode}); last log lines:\n${tail(logFile, 20)}`,
        );
        return true;
      }
      try {
        return await connect();
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code && AUTH_FAILURES.has(code)) {
          fatal = new Error(`${what} refused the password: ${(err as Error).message}`);
          return true;
        }
        throw err;
      }
    },
    { timeoutMs, intervalMs: 200 },
  );
  if (fatal) throw fatal;
}

// ---- files --------------------------------------------------------------------------------------

export function postgresBinary(name: string): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, name);
    if (dir && fs.existsSync(file)) return file;
  }
  const fallback = path.join('/usr/lib/postgresql/15/bin', name);
  if (fs.existsSync(fallback)) return fallback;
  throw new Error(`${name} (PostgreSQL 15) is neither on PATH nor in /usr/lib/postgresql/15/bin`);
}

function ensureDir(dir: string, account: Account | undefined): void {
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.chmodSync(dir, 0o700);
  if (account) fs.chownSync(dir, account.uid, account.gid);
  makeTraversable(path.dirname(dir), account);
}

/**
 * The engine's user must be able to reach its directory: a parent made by mkdtemp (mode 0700, owned
 * by root) gets the search bit for others, which lets them pass through but not list it.
 */
function makeTraversable(dir: string, account: Account | undefined): void {
  if (!account) return;
  for (let d = dir; ; d = path.dirname(d)) {
    const st = fs.statSync(d);
    if (!(st.mode & 0o001)) fs.chmodSync(d, (st.mode & 0o7777) | 0o001);
    if (d === path.dirname(d)) return;
  }
}

function ownRecursively(dir: string, account: Account | undefined): void {
  if (!account) return;
  const own = (p: string) => {
    const st = fs.lstatSync(p);
    if (st.uid !== account.uid || st.gid !== account.gid) fs.lchownSync(p, account.uid, account.gid);
    if (st.isDirectory()) for (const entry of fs.readdirSync(p)) own(path.join(p, entry));
  };
  makeTraversable(path.dirname(dir), account);
  // Cheap when ownership is already right: only the top is looked at (as fsGroupChangePolicy
  // OnRootMismatch does in a cluster).
  const top = fs.statSync(dir);
  if (top.uid !== account.uid || top.gid !== account.gid) own(dir);
}

/**
 * Unix sockets live in the data directory, unless its path is too long for a socket address
 * (108 bytes): then in a short directory of their own under the system's temp directory.
 */
function socketDirFor(dataDir: string, account: Account | undefined): string {
  if (dataDir.length <= 80) return dataDir;
  const dir = path.join(
    os.tmpdir(),
    `durable-sock-${crypto.createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`,
  );
  ensureDir(dir, account);
  return dir;
}

/** A file only the engine's user can read, for a password the engine takes from a file. */
function secretFile(account: Account | undefined, content: string): { file: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'durable-secret-'));
  const file = path.join(dir, 'secret');
  fs.writeFileSync(file, content, { mode: 0o600 });
  if (account) {
    fs.chownSync(dir, account.uid, account.gid);
    fs.chownSync(file, account.uid, account.gid);
  }
  return { file, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

async function withSecretFile<T>(
  account: Account | undefined,
  content: string,
  use: (file: string) => Promise<T>,
): Promise<T> {
  const secret = secretFile(account, content);
  try {
    return await use(secret.file);
  } finally {
    secret.remove();
  }
}

/** A SQL string literal (MariaDB's default sql_mode treats backslash as an escape). */
function sqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
