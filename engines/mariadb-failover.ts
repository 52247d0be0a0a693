import { ApplicationFailure } from '@temporalio/activity';
import type { EngineCredentials } from './credentials';
import { EngineFailureTypes } from './errors';
import { gtidCovers, type ReplicaIoState } from './mariadb-gtid';
import { refusedBySource, withMysql } from './mysql';
import type { EngineEndpoint } from './resolver';

/**
 * The MariaDB side of a failover (activities/failover.ts), the counterpart of pg_promote and
 * primary_conninfo in engines/postgres.ts; positions are compared as engines/mariadb-gtid.ts says.
 */

export interface GtidPosition {
  /** Whether the member is configured as a replica (SHOW SLAVE STATUS has a row). */
  isReplica: boolean;
  /** GTIDs received from the source (a replica's Gtid_IO_Pos; a primary's gtid_binlog_pos). */
  received: string;
  /** GTIDs applied (gtid_slave_pos on a replica; gtid_binlog_pos on a primary). */
  applied: string;
  /** Both replication threads run. */
  streaming: boolean;
  /**
   * Its source refused the position it asked for (IO thread stopped on error 1236): it may hold
   * transactions no other member has, and must not be promoted (activities/rejoin.ts).
   */
  refusedBySource: boolean;
  /** Its SQL thread stopped on this error: it cannot apply what it received, nor be promoted. */
  applyError?: string;
}

/** Where a member stands, for choosing whom a failover promotes. */
export async function mariadbPosition(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<GtidPosition> {
  return withMysql('mariadb', endpoint, credentials, 'read the GTID position', async (s) => {
    const row = await s.replicaStatus();
    const [vars] = await s.rows(
      'SELECT @@GLOBAL.gtid_slave_pos AS slave, @@GLOBAL.gtid_binlog_pos AS binlog',
    );
    if (!row) {
      const binlog = String(vars?.binlog ?? '');
      return {
        isReplica: false,
        received: binlog,
        applied: binlog,
        streaming: false,
        refusedBySource: false,
      };
    }
    const applied = String(vars?.slave ?? '');
    const io = String(row.Gtid_IO_Pos ?? '');
    return {
      isReplica: true,
      // A replica whose IO thread never ran has no IO position: what it applied is what it has.
      received: gtidCovers(io, applied) ? io || applied : applied,
      applied,
      streaming: row.Slave_IO_Running === 'Yes' && row.Slave_SQL_Running === 'Yes',
      refusedBySource: refusedBySource(s.dialect, row),
      ...(row.Slave_SQL_Running === 'No' &&
        row.Last_SQL_Error && { applyError: String(row.Last_SQL_Error).slice(0, 160) }),
    };
  });
}

/** Seconds the promotion waits for the target to apply what it received: within the statement timeout. */
const APPLY_WAIT_SECONDS = 8;

/**
 * Promotes a replica: its IO thread stopped (nothing more comes from the old source), what it
 * received applied (MASTER_GTID_WAIT: nothing it had is dropped), replication reset, writes
 * allowed. Idempotent: a member with no replication configured is made writable and reported as
 * already primary. Applying that does not finish in time is retryable, with the SQL thread's own
 * error when it stopped on one.
 */
export async function mariadbPromote(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<'promoted' | 'already primary'> {
  return withMysql('mariadb', endpoint, credentials, 'promote', async (s) => {
    let row = await s.replicaStatus();
    if (!row) {
      await s.exec('SET GLOBAL read_only = OFF');
      return 'already primary';
    }
    await s.exec('STOP SLAVE IO_THREAD');
    row = (await s.replicaStatus())!;
    const received = String(row.Gtid_IO_Pos ?? '');
    if (received) {
      const [waited] = await s.rows('SELECT MASTER_GTID_WAIT(?, ?) AS w', [received, APPLY_WAIT_SECONDS]);
      if (Number(waited?.w) !== 0) {
        row = await s.replicaStatus();
        const sqlError = String(row?.Last_SQL_Error ?? '');
        throw ApplicationFailure.retryable(
          `the replica has not applied what it received (${received}) within ${APPLY_WAIT_SECONDS}s${sqlError ? `: ${sqlError.slice(0, 160)}` : ''}`,
          EngineFailureTypes.Unavailable,
        );
      }
    }
    await s.exec('STOP SLAVE');
    await s.exec('RESET SLAVE ALL');
    await s.exec('SET GLOBAL read_only = OFF');
    return 'promoted';
  });
}

export type DetachOutcome = 'detached' | 'already detached' | 'not a replica';

/**
 * Stops a replica's IO thread, so that a fenced primary still alive behind a partition cannot
 * send it more transactions through a connection opened before the failover (they would be
 * GTIDs the new primary never had: the replica could not follow it). Its SQL thread goes on
 * applying what it received; the replication pass after the promotion points it at the new
 * primary and starts it again (engines/mysql.ts configureReplica).
 */
export async function mariadbDetach(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<DetachOutcome> {
  return withMysql('mariadb', endpoint, credentials, 'stop the replica IO thread', async (s) => {
    const row = await s.replicaStatus();
    if (!row) return 'not a replica';
    if (row.Slave_IO_Running === 'No') return 'already detached';
    await s.exec('STOP SLAVE IO_THREAD');
    return 'detached';
  });
}

/** A replica's IO thread state and applied position; undefined for a member that is not a replica. */
export async function mariadbReplicaIo(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<ReplicaIoState | undefined> {
  return withMysql('mariadb', endpoint, credentials, 'read the replica status', async (s) => {
    const row = await s.replicaStatus();
    if (!row) return undefined;
    const [vars] = await s.rows('SELECT @@GLOBAL.gtid_slave_pos AS slave');
    return {
      ioRunning: row.Slave_IO_Running === 'Yes',
      ioErrno: Number(row.Last_IO_Errno ?? 0),
      ioError: String(row.Last_IO_Error ?? ''),
      applied: String(vars?.slave ?? ''),
    };
  });
}

/** A member's binary log GTID state (@@gtid_binlog_state: what a primary can serve). */
export async function mariadbBinlogState(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<string> {
  return withMysql('mariadb', endpoint, credentials, 'read the binary log position', async (s) => {
    const [vars] = await s.rows('SELECT @@GLOBAL.gtid_binlog_state AS state');
    return String(vars?.state ?? '');
  });
}
