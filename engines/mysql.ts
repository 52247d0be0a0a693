import crypto from 'node:crypto';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import type { EngineCredentials } from './credentials';
import { ApplicationFailure } from '@temporalio/activity';
import { classifyEngineError, EngineFailureTypes } from './errors';
import { unknownEngine } from '../crds';
import type { EngineEndpoint } from './resolver';
import type { MemberHealth, MemberState, ReplicationInput, ReplicationOutcome } from './types';
import { gtidCovers, replayServerId, SOURCE_REFUSED_ERRNO } from './mariadb-gtid';

const CONNECT_TIMEOUT_MS = 5_000;
const STATEMENT_TIMEOUT_MS = 10_000;

/**
 * The SQL dialect of a server. MySQL renamed MASTER/SLAVE to SOURCE/REPLICA in 8.0.22 (status)
 * and 8.0.23 (CHANGE … TO); MariaDB keeps the old words and has its own GTIDs (MASTER_USE_GTID).
 */
export interface Dialect {
  flavor: 'mysql' | 'mariadb';
  version: string;
  showStatus: string;
  stop: string;
  start: string;
  /** Column names of the status row. */
  col: {
    host: string;
    port: string;
    user: string;
    io: string;
    sql: string;
    ioError: string;
    sqlError: string;
  };
  /** Whether the status row says GTID auto-positioning is on. */
  usesGtid(row: RowDataPacket): boolean;
  /** `CHANGE … TO` with placeholders for host, port, user, password. */
  change: string;
  /** Statements that make a replica read-only, persistently where the server can. */
  readOnly: string[];
  readOnlyCheck: string;
  /**
   * `IDENTIFIED …` clause and its value for CREATE/ALTER USER. MySQL rewrites a password in a
   * binlogged statement into its hash; MariaDB writes the statement as it came, so it gets the
   * hash itself: no plain password in the binlog that every replica replays.
   */
  identifiedBy(password: string): { clause: string; value: string };
}

/** The engines this client speaks to: MariaDB and MySQL 8. */
export type MysqlFamily = 'mariadb' | 'mysql';

/**
 * The dialect of `engine` (the Database's spec.engine): MariaDB's for `mariadb`, MySQL 8's for
 * `mysql`, by construction. `version` (`SELECT VERSION()`, e.g. `11.8.3-MariaDB-0+deb13u1`,
 * `8.0.36`) only picks MySQL's wording before and after 8.0.23; `checkedDialect` first makes sure
 * the server is the engine the spec says.
 */
export function dialectFor(engine: MysqlFamily, version: string): Dialect {
  switch (engine) {
    case 'mariadb':
      return mariadbDialect(version);
    case 'mysql':
      return mysqlDialect(version);
    default:
      return unknownEngine(engine);
  }
}

/**
 * The dialect of `engine`, after checking that the server answering is that engine: a MariaDB
 * Database answered by a MySQL server (or the other way round: a spec.image of the other engine)
 * would get statements in the wrong dialect. Not retryable: the image has to change.
 */
export function checkedDialect(engine: MysqlFamily, version: string): Dialect {
  const isMariadb = /mariadb/i.test(version);
  if (engine === 'mariadb' && !isMariadb) {
    throw ApplicationFailure.nonRetryable(
      `engine: mariadb, but the server is not MariaDB (it reports version ${version.slice(0, 64) || 'nothing'}): use a MariaDB image, or engine: mysql for MySQL`,
      EngineFailureTypes.Mismatch,
    );
  }
  if (engine === 'mysql' && isMariadb) {
    throw ApplicationFailure.nonRetryable(
      `engine: mysql is MySQL 8.0/8.4, but the server is MariaDB ${version.slice(0, 64)}: use engine: mariadb`,
      EngineFailureTypes.Mismatch,
    );
  }
  return dialectFor(engine, version);
}

function mariadbDialect(version: string): Dialect {
  return {
    flavor: 'mariadb',
    version,
    showStatus: 'SHOW SLAVE STATUS',
    stop: 'STOP SLAVE',
    start: 'START SLAVE',
    col: legacyColumns,
    usesGtid: (row) => String(row.Using_Gtid ?? '').toLowerCase() === 'slave_pos',
    change:
      'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_USE_GTID = slave_pos',
    // MariaDB has no SET PERSIST: the activity sets it again after a restart (it runs at every
    // reconcile), and until then the replica applies changes but accepts writes.
    readOnly: ['SET GLOBAL read_only = ON'],
    readOnlyCheck: 'SELECT @@GLOBAL.read_only AS ro',
    identifiedBy: (password) => ({
      clause: 'IDENTIFIED BY PASSWORD ?',
      value: nativePasswordHash(password),
    }),
  };
}

function mysqlDialect(version: string): Dialect {
  const [major = 0, minor = 0, patch = 0] = version.split(/[.-]/).map((n) => Number.parseInt(n, 10) || 0);
  const modern = major > 8 || (major === 8 && (minor > 0 || patch >= 23));
  const readOnly = [
    // PERSIST survives a restart; super_read_only keeps even root from writing on a replica.
    'SET PERSIST read_only = ON',
    'SET PERSIST super_read_only = ON',
  ];
  const readOnlyCheck = 'SELECT @@GLOBAL.read_only AND @@GLOBAL.super_read_only AS ro';
  const identifiedBy = (password: string) => ({ clause: 'IDENTIFIED BY ?', value: password });
  if (modern) {
    return {
      flavor: 'mysql',
      version,
      showStatus: 'SHOW REPLICA STATUS',
      stop: 'STOP REPLICA',
      start: 'START REPLICA',
      col: {
        host: 'Source_Host',
        port: 'Source_Port',
        user: 'Source_User',
        io: 'Replica_IO_Running',
        sql: 'Replica_SQL_Running',
        ioError: 'Last_IO_Error',
        sqlError: 'Last_SQL_Error',
      },
      usesGtid: (row) => Number(row.Auto_Position) === 1,
      // caching_sha2_password over a connection without TLS needs the source's RSA key.
      change:
        'CHANGE REPLICATION SOURCE TO SOURCE_HOST = ?, SOURCE_PORT = ?, SOURCE_USER = ?, SOURCE_PASSWORD = ?, SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1',
      readOnly,
      readOnlyCheck,
      identifiedBy,
    };
  }
  return {
    flavor: 'mysql',
    version,
    showStatus: 'SHOW SLAVE STATUS',
    stop: 'STOP SLAVE',
    start: 'START SLAVE',
    col: legacyColumns,
    usesGtid: (row) => Number(row.Auto_Position) === 1,
    change:
      'CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?, MASTER_AUTO_POSITION = 1, GET_MASTER_PUBLIC_KEY = 1',
    readOnly,
    readOnlyCheck,
    identifiedBy,
  };
}

/** mysql_native_password's stored form, as MariaDB's PASSWORD() computes it: `*` + SHA1(SHA1(pw)). */
export function nativePasswordHash(password: string): string {
  const once = crypto.createHash('sha1').update(password, 'utf8').digest();
  return `*${crypto.createHash('sha1').update(once).digest('hex').toUpperCase()}`;
}

const legacyColumns: Dialect['col'] = {
  host: 'Master_Host',
  port: 'Master_Port',
  user: 'Master_User',
  io: 'Slave_IO_Running',
  sql: 'Slave_SQL_Running',
  ioError: 'Last_IO_Error',
  sqlError: 'Last_SQL_Error',
};

/** A connection as the superuser with the dialect of its server; always closed. */
export async function withMysql<T>(
  engine: MysqlFamily,
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
  what: string,
  fn: (q: MysqlSession) => Promise<T>,
  as: { user: string; password: string } = { user: credentials.superuser, password: credentials.password },
): Promise<T> {
  let conn: Connection | undefined;
  try {
    conn = await mysql.createConnection({
      host: endpoint.host,
      port: endpoint.port,
      user: as.user,
      password: as.password,
      connectTimeout: CONNECT_TIMEOUT_MS,
      multipleStatements: false,
    });
    // A connection dropped outside a query emits 'error': unhandled, it would crash the worker.
    conn.on('error', () => undefined);
    const session = new MysqlSession(conn);
    const [row] = await session.rows('SELECT VERSION() AS version');
    session.dialect = checkedDialect(engine, String(row?.version ?? ''));
    return await fn(session);
  } catch (err) {
    throw classifyEngineError(err, `${what} (${endpoint.host}:${endpoint.port})`, credentials.secrets());
  } finally {
    await conn?.end().catch(() => undefined);
  }
}

export class MysqlSession {
  dialect!: Dialect;
  constructor(readonly conn: Connection) {}

  /** A query with a timeout; values are escaped by the client. */
  async rows(sql: string, values: unknown[] = []): Promise<RowDataPacket[]> {
    const [rows] = await this.conn.query<RowDataPacket[]>({ sql, values, timeout: STATEMENT_TIMEOUT_MS });
    return rows;
  }

  async exec(sql: string, values: unknown[] = []): Promise<void> {
    await this.conn.query({ sql, values, timeout: STATEMENT_TIMEOUT_MS });
  }

  async replicaStatus(): Promise<RowDataPacket | undefined> {
    return (await this.rows(this.dialect.showStatus))[0];
  }
}

/**
 * One idempotent pass: the replication user on the primary, then every replica pointed at it
 * with GTID auto-positioning and made read-only. A replica already replicating from the right
 * source is left alone. A replica that cannot be reached yet is reported, not fatal: the
 * workflow calls again (its pod may still be starting).
 */
export async function reconcileMysqlReplication(
  engine: MysqlFamily,
  input: ReplicationInput,
): Promise<ReplicationOutcome> {
  const { credentials } = input;
  const outcome: ReplicationOutcome = { members: [], pending: [], changes: [], removed: [] };
  /** MariaDB: the primary's @@gtid_binlog_state, which replayServerId reads. */
  let sourceState: string | undefined;
  if (input.replicas > 1) {
    // Whether the replication user logs in with the Secret's password, tried for real: MySQL
    // offers no way to compare a password with the stored hash.
    const loginWorks = await withMysql(
      engine,
      input.primary,
      credentials,
      `log in to member ${input.primaryOrdinal} as the replication user`,
      async () => true,
      { user: credentials.replicationUser, password: credentials.replicationPassword },
    ).catch((err: unknown) => {
      if (err instanceof ApplicationFailure && err.type === EngineFailureTypes.AuthFailed) return false;
      throw err;
    });
    const user = await withMysql(
      engine,
      input.primary,
      credentials,
      `ensure the replication user on member ${input.primaryOrdinal}`,
      async (s) => {
        if (s.dialect.flavor === 'mariadb') {
          const [v] = await s.rows('SELECT @@GLOBAL.gtid_binlog_state AS state');
          sourceState = String(v?.state ?? '');
        }
        return ensureReplicationUser(s, credentials, loginWorks);
      },
    );
    if (user !== 'unchanged') outcome.changes.push(`${user} user ${credentials.replicationUser}`);
  }
  outcome.members.push({
    ordinal: input.primaryOrdinal,
    role: 'primary',
    state: 'writable',
    streaming: true,
  });
  for (const member of input.replicaMembers) {
    if (member.unreachable) {
      outcome.members.push({
        ordinal: member.ordinal,
        role: 'replica',
        state: 'unreachable',
        streaming: false,
      });
      outcome.pending.push(`member ${member.ordinal}: ${member.unreachable}`);
      continue;
    }
    try {
      const state = await withMysql(
        engine,
        member.endpoint,
        credentials,
        `configure member ${member.ordinal}`,
        (s) => configureReplica(s, input, outcome.changes, member.ordinal, sourceState),
      );
      outcome.members.push(state);
    } catch (err) {
      const failure = classifyEngineError(err, `member ${member.ordinal}`, credentials.secrets());
      // A statement the server rejects is a bug or a permission problem: no point waiting.
      if (failure.nonRetryable) throw failure;
      outcome.members.push({
        ordinal: member.ordinal,
        role: 'replica',
        state: failure.type === EngineFailureTypes.AuthFailed ? 'login refused' : 'unreachable',
        streaming: false,
      });
      outcome.pending.push(failure.message);
    }
  }
  return outcome;
}

async function ensureReplicationUser(
  s: MysqlSession,
  credentials: EngineCredentials,
  loginWorks: boolean,
): Promise<'created' | 'updated' | 'unchanged'> {
  const user = credentials.replicationUser;
  const [binlog] = await s.rows('SELECT @@GLOBAL.log_bin AS on_');
  if (!Number(binlog?.on_)) {
    throw new Error('the primary runs without a binary log, so replicas cannot follow it (log_bin is off)');
  }
  const exists = (await s.rows("SELECT 1 FROM mysql.user WHERE User = ? AND Host = '%'", [user])).length > 0;
  let outcome: 'created' | 'updated' | 'unchanged' = 'unchanged';
  const identified = s.dialect.identifiedBy(credentials.replicationPassword);
  if (!exists) {
    await s.exec(`CREATE USER ?@'%' ${identified.clause}`, [user, identified.value]);
    outcome = 'created';
  } else if (!loginWorks) {
    await s.exec(`ALTER USER ?@'%' ${identified.clause}`, [user, identified.value]);
    outcome = 'updated';
  }
  const grants = await s.rows("SHOW GRANTS FOR ?@'%'", [user]);
  const granted = grants.some((g) => /REPLICATION (SLAVE|REPLICA)/i.test(String(Object.values(g)[0])));
  if (!granted) {
    await s.exec("GRANT REPLICATION SLAVE ON *.* TO ?@'%'", [user]);
    if (outcome === 'unchanged') outcome = 'updated';
  }
  return outcome;
}

async function configureReplica(
  s: MysqlSession,
  input: ReplicationInput,
  changes: string[],
  ordinal: number,
  sourceState: string | undefined,
): Promise<MemberState> {
  const d = s.dialect;
  const { credentials, source } = input;
  let row = await s.replicaStatus();
  if (d.flavor === 'mariadb' && sourceState !== undefined) {
    const [v] = await s.rows('SELECT @@GLOBAL.server_id AS id, @@GLOBAL.gtid_binlog_state AS state');
    const id = Number(v?.id);
    const replayAs = replayServerId(id, String(v?.state ?? ''), sourceState, ordinal);
    if (replayAs !== undefined) {
      // Dynamic, and back to the pod's own id at its next start, when it has logged them all.
      if (row) await s.exec(d.stop);
      await s.exec('SET GLOBAL server_id = ?', [replayAs]);
      changes.push(
        `member ${ordinal} applies the primary's log as server ${replayAs}: as server ${id} it would skip its predecessor's transactions`,
      );
      row = await s.replicaStatus();
    }
  }
  const pointsAtSource =
    !!row &&
    String(row[d.col.host]) === source.host &&
    Number(row[d.col.port]) === source.port &&
    String(row[d.col.user]) === credentials.replicationUser &&
    d.usesGtid(row);
  if (!pointsAtSource) {
    if (row) await s.exec(d.stop);
    else if (d.flavor === 'mariadb') await continueFromOwnBinlog(s, changes, ordinal);
    await s.exec(d.change, [
      source.host,
      source.port,
      credentials.replicationUser,
      credentials.replicationPassword,
    ]);
    await s.exec(d.start);
    changes.push(`configured member ${ordinal} to replicate from member ${input.primaryOrdinal}`);
    row = await s.replicaStatus();
  } else if (row && (row[d.col.io] === 'No' || row[d.col.sql] === 'No') && !refusedBySource(d, row)) {
    // Configured right but stopped (e.g. after a restart with skip-replica-start): start it.
    await s.exec(d.start);
    changes.push(`restarted replication on member ${ordinal}`);
    row = await s.replicaStatus();
  }
  const [ro] = await s.rows(d.readOnlyCheck);
  if (!Number(ro?.ro)) {
    for (const sql of d.readOnly) await s.exec(sql);
    changes.push(`made member ${ordinal} read-only`);
  }
  return { ordinal, role: 'replica', ...replicaState(d, row) };
}

/**
 * A MariaDB member that is not configured as a replica but wrote transactions of its own (a
 * former primary, back after a failover) would ask its new source for everything after its
 * gtid_slave_pos, which predates its own writes: it would apply them twice. Its applied
 * position is its binary log's, so it asks for what follows its last own write; a source that
 * lacks that write (it was lost with the old primary) refuses with error 1236, which is the
 * truth: the member diverged. A fresh member has an empty binary log (the image's entrypoint
 * initialises with sql_log_bin off) and is left alone.
 */
async function continueFromOwnBinlog(s: MysqlSession, changes: string[], ordinal: number): Promise<void> {
  const [v] = await s.rows('SELECT @@GLOBAL.gtid_slave_pos AS slave, @@GLOBAL.gtid_binlog_pos AS binlog');
  const slave = String(v?.slave ?? '');
  const binlog = String(v?.binlog ?? '');
  if (binlog === '' || gtidCovers(slave, binlog)) return;
  await s.exec('SET GLOBAL gtid_slave_pos = ?', [binlog]);
  changes.push(`member ${ordinal} continues after its own last transaction ${binlog.slice(0, 80)}`);
}

/**
 * The source refused the position the replica asked for (error 1236: GTIDs it never had, or
 * binary logs it purged). Starting the IO thread again would only be refused again, and would
 * clear the error that says why (activities/rejoin.ts reads it): it stays stopped, reported.
 */
export function refusedBySource(d: Dialect, row: RowDataPacket): boolean {
  return row[d.col.io] === 'No' && Number(row.Last_IO_Errno) === SOURCE_REFUSED_ERRNO;
}

/** `streaming`, or what is wrong, from a status row; the error text stays short for status. */
export function replicaState(
  d: Dialect,
  row: RowDataPacket | undefined,
): { state: string; streaming: boolean } {
  if (!row) return { state: 'not configured', streaming: false };
  const io = String(row[d.col.io] ?? '');
  const sql = String(row[d.col.sql] ?? '');
  if (io === 'Yes' && sql === 'Yes') return { state: 'streaming', streaming: true };
  const error = String(row[d.col.ioError] || row[d.col.sqlError] || '');
  const state = `io ${io || 'unknown'}, sql ${sql || 'unknown'}${error ? `: ${error}` : ''}`;
  return { state: state.slice(0, 120), streaming: false };
}

/** Role and health of one member: it answers; a replica says whether it replicates. */
export async function mysqlHealth(
  engine: MysqlFamily,
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<MemberHealth> {
  return withMysql(engine, endpoint, credentials, 'check health', async (s) => {
    const row = await s.replicaStatus();
    const version = s.dialect.version;
    if (!row) return { role: 'primary', serverVersion: version, detail: 'accepts writes' };
    const { state, streaming } = replicaState(s.dialect, row);
    return { role: 'replica', serverVersion: version, replicating: streaming, detail: state };
  });
}
