import { escapeLiteral } from 'pg';
import { RECLONE_MARK } from '../contracts/names';
import type { EngineCredentials } from './credentials';
import { withPostgres } from './postgres';
import type { EngineEndpoint } from './resolver';

/**
 * A standby that can never follow the primary again: its WAL on some timeline goes past the point
 * where the primary's history left that timeline (it replayed a fenced primary's last WAL after
 * the failover forked off, or someone promoted it by hand and put it back into recovery). No
 * amount of retrying fixes that; PostgreSQL says so in its log, every few seconds, and the
 * standby stays "not connected" for good. The cure is a fresh copy of the primary (pg_rewind
 * would need wal_log_hints or data checksums, which members do not have).
 *
 * What PostgreSQL logs is taken only as the claim; the decision is made from the engines' live
 * state (divergedFrom): the standby's replayed position against the primary's timeline history.
 */
export interface DivergenceClaim {
  /** The timeline the standby is on, by its own log. */
  standbyTimeline: number;
  /** The log line that says so (PostgreSQL's words, for the Event). */
  line: string;
}

// PostgreSQL 13–17, the standby's side (xlogrecovery.c / walreceiver.c): the primary's newer
// timeline forked before where the standby is; the primary is on an older timeline than the
// standby; the primary does not have the standby's starting point on its timeline.
const CLAIMS: { pattern: RegExp; timeline: (m: RegExpExecArray) => string }[] = [
  {
    pattern:
      /new timeline \d+ forked off current database system timeline (\d+) before current recovery point/,
    timeline: (m) => m[1]!,
  },
  {
    pattern: /highest timeline \d+ of the primary is behind recovery timeline (\d+)/,
    timeline: (m) => m[1]!,
  },
  {
    pattern:
      /requested starting point [0-9A-F]+\/[0-9A-F]+ on timeline (\d+) is not in this server's history/,
    timeline: (m) => m[1]!,
  },
];

/**
 * How far back a standby's log is searched for PostgreSQL's divergence message. A stuck standby
 * repeats it every few seconds (wal_retrieve_retry_interval); an older line is history.
 */
export const DIVERGENCE_LOG_WINDOW_SECONDS = 60;

/** The last divergence claim in a standby's log, if any. */
export function divergenceInLog(log: string): DivergenceClaim | undefined {
  const lines = log.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!;
    for (const claim of CLAIMS) {
      const m = claim.pattern.exec(line);
      if (m) return { standbyTimeline: Number(claim.timeline(m)), line: line.trim() };
    }
  }
  return undefined;
}

/** LSN text (`0/601B2A0`) as a number of bytes. */
export function lsnBytes(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m) throw new Error(`not an LSN: ${lsn}`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** Bytes since 0/0 as LSN text, as PostgreSQL prints it (`0/601B2A0`). */
export function lsnText(bytes: bigint): string {
  return `${(bytes >> 32n).toString(16).toUpperCase()}/${(bytes & 0xffffffffn).toString(16).toUpperCase()}`;
}

/**
 * A timeline history file's entries: each ancestor timeline of the file's timeline and the LSN at
 * which the history left it (`parentTLI<tab>switchpoint<tab>reason`; comments and blank lines
 * skipped).
 */
export function parseTimelineHistory(text: string): Map<number, string> {
  const ends = new Map<number, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(line);
    if (!m) throw new Error(`not a timeline history line: ${line}`);
    ends.set(Number(m[1]), m[2]!.toUpperCase());
  }
  return ends;
}

export interface TimelineFacts {
  /** The primary's timeline now. */
  primaryTimeline: number;
  /** Where the primary's history left each of its ancestor timelines. */
  primaryHistory: Map<number, string>;
  /** The timeline the standby is on. */
  standbyTimeline: number;
  /** How far the standby replayed. */
  standbyReplayed: string;
}

/**
 * Why the standby cannot follow the primary, or undefined when it can (same timeline, or an
 * ancestor timeline it has not replayed past the fork of). A standby on a timeline the primary's
 * history does not hold (newer than the primary's, or a sibling) can never follow it either.
 */
export function divergedFrom(f: TimelineFacts): string | undefined {
  if (f.standbyTimeline === f.primaryTimeline) return undefined;
  const end = f.primaryHistory.get(f.standbyTimeline);
  if (end === undefined) {
    return `it is on timeline ${f.standbyTimeline}, which is not in the history of the primary's timeline ${f.primaryTimeline}`;
  }
  if (lsnBytes(f.standbyReplayed) <= lsnBytes(end)) return undefined;
  return (
    `it replayed timeline ${f.standbyTimeline} to ${f.standbyReplayed}, past ${end}, ` +
    `where the primary's timeline ${f.primaryTimeline} forked off it`
  );
}

/** The primary's timeline and history, as TimelineFacts needs them. Superuser (pg_read_file). */
export async function postgresTimelineHistory(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<{ timeline: number; history: Map<number, string> }> {
  return withPostgres(endpoint, credentials, 'read the timeline history', async (c) => {
    const { rows } = await c.query<{ recovery: boolean; tli: string }>(
      // The current WAL file's name starts with the timeline being written, in hex.
      `SELECT pg_is_in_recovery() AS recovery,
              CASE WHEN pg_is_in_recovery() THEN '' ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END AS tli`,
    );
    if (rows[0]?.recovery) throw new Error('the primary is in recovery: no timeline to compare with');
    const timeline = parseInt(rows[0]!.tli, 16);
    if (timeline === 1) return { timeline, history: new Map() };
    const file = `pg_wal/${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
    const text = await c.query<{ text: string }>(`SELECT pg_read_file(${escapeLiteral(file)}) AS text`);
    return { timeline, history: parseTimelineHistory(text.rows[0]?.text ?? '') };
  });
}

/**
 * Marks a standby's data for a fresh clone at its next pod start: standby.signal rewritten with
 * RECLONE_MARK (COPY TO a server file is allowed in hot standby; superuser). The mark lives with
 * the data it condemns, so the clone that replaces the data removes it; nothing is decided from
 * anywhere else. The standby must still be in recovery: a primary is never marked.
 */
export async function postgresMarkForReclone(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<void> {
  return withPostgres(endpoint, credentials, 'mark the standby for a fresh clone', async (c) => {
    const { rows } = await c.query<{ recovery: boolean; dir: string }>(
      "SELECT pg_is_in_recovery() AS recovery, current_setting('data_directory') AS dir",
    );
    if (!rows[0]?.recovery) throw new Error('not a standby: not marked');
    const file = `${rows[0].dir}/standby.signal`;
    await c.query(`COPY (SELECT ${escapeLiteral(RECLONE_MARK)}) TO ${escapeLiteral(file)}`);
  });
}
