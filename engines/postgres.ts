import crypto from 'node:crypto';
import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import { ApplicationFailure } from '@temporalio/activity';
import type { EngineCredentials } from './credentials';
import { classifyEngineError, EngineFailureTypes } from './errors';
import type { EngineEndpoint } from './resolver';
import type { MemberHealth, ReplicationInput, ReplicationOutcome } from './types';

/** Connecting longer than this means the member is not there (yet). */
const CONNECT_TIMEOUT_MS = 5_000;
/** Every statement here is a catalogue lookup or a small DDL: longer means something is stuck. */
const STATEMENT_TIMEOUT_MS = 10_000;

/** The physical replication slot of replica `ordinal`; the replica's init container names it too. */
export function slotName(ordinal: number): string {
  return `replica_${ordinal}`;
}

const SLOT_PATTERN = /^replica_(\d+)$/;

/**
 * Runs `fn` on a fresh connection as the superuser, always closing it. Any failure comes out
 * classified and with the secrets blanked (engines/errors.ts).
 */
export async function withPostgres<T>(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
  what: string,
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client({
    host: endpoint.host,
    port: endpoint.port,
    user: credentials.superuser,
    password: credentials.password,
    database: 'postgres',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    statement_timeout: STATEMENT_TIMEOUT_MS,
    query_timeout: STATEMENT_TIMEOUT_MS + 2_000,
    application_name: 'durable-db-operator',
  });
  // A connection dropped by the server outside a query emits 'error': without a listener, that
  // would be an uncaught exception in the worker.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await fn(client);
  } catch (err) {
    throw classifyEngineError(err, `${what} (${endpoint.host}:${endpoint.port})`, credentials.secrets());
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * One idempotent pass on the primary: the replication role, one physical slot per replica, the
 * slots of members scaled away dropped (only once their walsender is gone), then the state of
 * every replica as the primary sees it (pg_stat_replication joined to its slot).
 */
/**
 * Creates, on a standby about to be promoted, the slots of the members that will stream from it
 * (reserved at once: on a standby, from its last restartpoint). Slots live through a promotion,
 * so the checkpoints right after it keep the WAL of the timeline switch for them; made only
 * after the promotion, they come too late, and a replica that needs the segment of the switch
 * finds it recycled ("requested WAL segment … has already been removed") and never streams
 * again. Returns the slots created.
 */
export async function reservePostgresSlots(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
  ordinals: number[],
): Promise<string[]> {
  return withPostgres(endpoint, credentials, 'reserve replication slots', async (c) => {
    const existing = await c.query<{ slot_name: string }>(
      "SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical'",
    );
    const have = new Set(existing.rows.map((r) => r.slot_name));
    const created: string[] = [];
    for (const ordinal of ordinals) {
      if (have.has(slotName(ordinal))) continue;
      await c.query('SELECT pg_create_physical_replication_slot($1, true)', [slotName(ordinal)]);
      created.push(slotName(ordinal));
    }
    return created;
  });
}

export async function reconcilePostgresReplication(input: ReplicationInput): Promise<ReplicationOutcome> {
  const { credentials, replicas, primaryOrdinal } = input;
  const replicaOrdinals = Array.from({ length: replicas }, (_, i) => i).filter((o) => o !== primaryOrdinal);
  const where = `member ${primaryOrdinal}`;
  return withPostgres(input.primary, credentials, `configure replication on ${where}`, async (c) => {
    const outcome: ReplicationOutcome = { members: [], pending: [], changes: [], removed: [] };
    const recovery = await c.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
    if (recovery.rows[0]?.recovery) {
      throw ApplicationFailure.retryable(
        `${where} is a standby (in recovery), not a primary`,
        EngineFailureTypes.Unavailable,
      );
    }
    if (replicas > 1) {
      const role = await ensureReplicationRole(c, credentials);
      if (role !== 'unchanged') outcome.changes.push(`${role} role ${credentials.replicationUser}`);
    }

    const existing = await c.query<{ slot_name: string; active: boolean }>(
      "SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical'",
    );
    const slots = new Map(existing.rows.map((r) => [r.slot_name, r.active]));
    for (const ordinal of replicaOrdinals) {
      if (slots.has(slotName(ordinal))) continue;
      // Reserve WAL at once: the replica's pg_basebackup streams from this slot's position.
      await c.query('SELECT pg_create_physical_replication_slot($1, true)', [slotName(ordinal)]);
      outcome.changes.push(`created slot ${slotName(ordinal)}`);
    }
    for (const [name, active] of slots) {
      const ordinal = Number(SLOT_PATTERN.exec(name)?.[1] ?? Number.NaN);
      if (!(ordinal >= replicas)) continue; // not ours, or a wanted member
      if (active) {
        // Its walsender still runs: the member's pod is going away. Dropping must wait (an active
        // slot cannot be dropped), and until then WAL is kept for it.
        outcome.pending.push(`slot ${name} is still in use by a departing member`);
        continue;
      }
      await c.query('SELECT pg_drop_replication_slot($1)', [name]);
      outcome.removed.push(`dropped slot ${name} of member ${ordinal}`);
    }

    const wanted = replicaOrdinals.map(slotName);
    const status = await c.query<{ slot_name: string; active: boolean; state: string | null }>(
      `SELECT s.slot_name, s.active, r.state
         FROM pg_replication_slots s LEFT JOIN pg_stat_replication r ON r.pid = s.active_pid
        WHERE s.slot_name = ANY($1)`,
      [wanted],
    );
    const byName = new Map(status.rows.map((r) => [r.slot_name, r]));
    outcome.members.push({ ordinal: primaryOrdinal, role: 'primary', state: 'writable', streaming: true });
    for (const ordinal of replicaOrdinals) {
      const row = byName.get(slotName(ordinal));
      const state = row?.state ?? (row?.active ? 'connecting' : 'not connected');
      outcome.members.push({ ordinal, role: 'replica', state, streaming: state === 'streaming' });
    }
    const streaming = new Set(
      outcome.members.filter((m) => m.role === 'replica' && m.streaming).map((m) => m.ordinal),
    );
    const names = synchronousStandbyNames(input.synchronous, streaming);
    const current = await c.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v");
    if ((current.rows[0]?.v ?? '') !== names) {
      // A reload, no restart: the primary applies it at once; standbys ignore it.
      await c.query(`ALTER SYSTEM SET synchronous_standby_names = ${escapeLiteral(names)}`);
      await c.query('SELECT pg_reload_conf()');
      outcome.changes.push(`synchronous_standby_names = '${names}'`);
    }
    return outcome;
  });
}

const STANDBY_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * synchronous_standby_names for spec.replication.synchronous: `ANY n ("db-1", "db-2")` over every
 * wanted standby (required: commits wait while fewer than n of them stream), or over those that
 * stream now, n capped at their count (preferred: commits never wait for a standby that is not
 * there); '' without synchronous replication, or when preferred and none streams. Never names a
 * member that is not wanted (scaled away). The names are pod names (checked, then quoted).
 */
export function synchronousStandbyNames(
  sync: ReplicationInput['synchronous'],
  streaming: ReadonlySet<number>,
): string {
  if (!sync) return '';
  const standbys =
    sync.dataDurability === 'required'
      ? sync.standbys
      : sync.standbys.filter((s) => streaming.has(s.ordinal));
  const n = Math.min(sync.number, standbys.length);
  if (n === 0) return '';
  for (const s of standbys) {
    if (!STANDBY_NAME.test(s.name))
      throw new Error(`not a member name: ${JSON.stringify(s.name.slice(0, 80))}`);
  }
  return `ANY ${n} (${standbys.map((s) => `"${s.name}"`).join(', ')})`;
}

/**
 * `replicator` WITH LOGIN REPLICATION and the Secret's password. The password is sent as a
 * SCRAM-SHA-256 verifier computed here, like psql's \password does, so the plain password is in
 * no statement the server could log; and an existing verifier is checked against the password
 * (same salt), so a pass that finds everything right changes nothing.
 */
async function ensureReplicationRole(
  c: Client,
  credentials: EngineCredentials,
): Promise<'created' | 'updated' | 'unchanged'> {
  const user = credentials.replicationUser;
  const found = await c.query<{ rolcanlogin: boolean; rolreplication: boolean; rolpassword: string | null }>(
    'SELECT rolcanlogin, rolreplication, rolpassword FROM pg_authid WHERE rolname = $1',
    [user],
  );
  const row = found.rows[0];
  if (
    row &&
    row.rolcanlogin &&
    row.rolreplication &&
    scramVerifierMatches(row.rolpassword, credentials.replicationPassword)
  ) {
    return 'unchanged';
  }
  const verifier = scramVerifier(credentials.replicationPassword);
  const attributes = `WITH LOGIN REPLICATION PASSWORD ${escapeLiteral(verifier)}`;
  await c.query(`${row ? 'ALTER' : 'CREATE'} ROLE ${escapeIdentifier(user)} ${attributes}`);
  return row ? 'updated' : 'created';
}

const SCRAM_PATTERN = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/;

/**
 * The SCRAM-SHA-256 verifier PostgreSQL stores for a password (RFC 5802/7677):
 * `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. SASLprep is skipped: it leaves
 * the printable ASCII passwords the operator generates unchanged.
 */
export function scramVerifier(password: string, salt = crypto.randomBytes(16), iterations = 4096): string {
  const salted = crypto.pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const hmac = (key: Buffer, text: string) => crypto.createHmac('sha256', key).update(text).digest();
  const storedKey = crypto.createHash('sha256').update(hmac(salted, 'Client Key')).digest();
  const serverKey = hmac(salted, 'Server Key');
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** Whether `stored` (pg_authid.rolpassword) is the verifier of `password`. */
export function scramVerifierMatches(stored: string | null, password: string): boolean {
  const m = stored ? SCRAM_PATTERN.exec(stored) : null;
  if (!m) return false;
  const expected = scramVerifier(password, Buffer.from(m[2]!, 'base64'), Number(m[1]));
  const a = Buffer.from(expected);
  const b = Buffer.from(stored!);
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** Role and health of one member: it answers, and says whether it is in recovery and receiving. */
export async function postgresHealth(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<MemberHealth> {
  return withPostgres(endpoint, credentials, 'check health', async (c) => {
    const { rows } = await c.query<{ recovery: boolean; version: string; receiver: string | null }>(
      `SELECT pg_is_in_recovery() AS recovery, current_setting('server_version') AS version,
              (SELECT status FROM pg_stat_wal_receiver LIMIT 1) AS receiver`,
    );
    const row = rows[0]!;
    if (!row.recovery) return { role: 'primary', serverVersion: row.version, detail: 'accepts writes' };
    const replicating = row.receiver === 'streaming';
    return {
      role: 'replica',
      serverVersion: row.version,
      replicating,
      detail: replicating ? 'streaming from the primary' : `WAL receiver ${row.receiver ?? 'not running'}`,
    };
  });
}

/** Where a member stands in the WAL, for choosing whom a failover promotes. */
export interface WalPosition {
  inRecovery: boolean;
  /** Bytes of WAL received (a standby) or written (a primary) since 0/0, as a decimal string. */
  received: string;
  /** Bytes replayed since 0/0 (a standby; the written position on a primary). */
  replayed: string;
  /** A standby whose WAL receiver streams from its upstream now (false on a primary). */
  streaming: boolean;
}

/**
 * The member's WAL position: a standby's last received and replayed LSN (received falls back to
 * replayed for a standby whose receiver never ran), a primary's current write position.
 * Decimal strings, since LSNs outgrow a double's exact range.
 */
export async function postgresPosition(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<WalPosition> {
  return withPostgres(endpoint, credentials, 'read the WAL position', async (c) => {
    const { rows } = await c.query<{
      recovery: boolean;
      received: string | null;
      replayed: string | null;
      streaming: boolean;
    }>(
      `SELECT pg_is_in_recovery() AS recovery,
              pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery()
                                   THEN coalesce(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())
                                   ELSE pg_current_wal_lsn() END, '0/0')::text AS received,
              pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()
                                   ELSE pg_current_wal_lsn() END, '0/0')::text AS replayed,
              EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming') AS streaming`,
    );
    const row = rows[0]!;
    return {
      inRecovery: row.recovery,
      received: row.received ?? '0',
      replayed: row.replayed ?? '0',
      streaming: row.streaming,
    };
  });
}

/** Seconds pg_promote may wait for the promotion to finish: within the statement timeout. */
const PROMOTE_WAIT_SECONDS = 8;

/**
 * Promotes a standby (pg_promote, waiting for it to finish). Idempotent: a member that is no
 * longer in recovery is reported as already promoted. A promotion that did not finish in time is
 * retryable: the next attempt finds it done, or asks again.
 */
export async function postgresPromote(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<'promoted' | 'already primary'> {
  return withPostgres(endpoint, credentials, 'promote', async (c) => {
    const before = await c.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
    if (!before.rows[0]?.recovery) return 'already primary';
    const { rows } = await c.query<{ done: boolean }>('SELECT pg_promote(true, $1) AS done', [
      PROMOTE_WAIT_SECONDS,
    ]);
    if (!rows[0]?.done) {
      throw ApplicationFailure.retryable(
        `the promotion did not finish within ${PROMOTE_WAIT_SECONDS}s`,
        EngineFailureTypes.Unavailable,
      );
    }
    return 'promoted';
  });
}

/**
 * `conninfo` (libpq's keyword=value form, as pg_basebackup -R writes it and SHOW
 * primary_conninfo prints it) with its host set to `host`: hostaddr dropped (it would win over
 * the name), every other keyword kept as it was, values quoted again. Throws on a string that is
 * not keyword=value pairs, rather than guess.
 */
export function conninfoWithHost(conninfo: string, host: string): string {
  const pairs: [string, string][] = [];
  const re = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s']*))/y;
  let at = 0;
  while (at < conninfo.length && conninfo.slice(at).trim() !== '') {
    re.lastIndex = at;
    const m = re.exec(conninfo);
    if (!m) throw new Error(`primary_conninfo is not keyword=value pairs near offset ${at}`);
    const value = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
    pairs.push([m[1]!, value]);
    at = re.lastIndex;
  }
  const kept = pairs.filter(([k]) => k !== 'host' && k !== 'hostaddr');
  const quote = (v: string) => `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  return [['host', host] as [string, string], ...kept].map(([k, v]) => `${k}=${quote(v)}`).join(' ');
}

/** The host a conninfo names (the last host= wins, as in libpq), or undefined. */
function conninfoHost(conninfo: string): string | undefined {
  const m = [...conninfo.matchAll(/(?:^|\s)host\s*=\s*(?:'((?:[^'\\]|\\.)*)'|([^\s']*))/g)].pop();
  return m ? (m[1] ?? m[2]) : undefined;
}

/** How long pointAt waits for the WAL receiver to let go of its former upstream. */
const RECEIVER_RESTART_WAIT_MS = 8_000;

export type FollowOutcome = 'repointed' | 'already pointed there' | 'not a standby';

/**
 * Points a standby's WAL receiver at `host`: primary_conninfo rewritten (ALTER SYSTEM, then a
 * reload: since PostgreSQL 13 a changed primary_conninfo restarts the WAL receiver), then waits
 * until no receiver streams from anything but `host`. This is what cuts a replica's connection
 * to a fenced primary that is still alive somewhere (its pod deleted behind a stopped kubelet, a
 * partition): that connection otherwise survives the failover, and when the partition heals the
 * old primary ships its last WAL (its shutdown checkpoint at least) down it, so the replica ends
 * ahead of the new timeline's fork and can never follow the new primary. The password stays
 * where it was: read from the standby's own setting and written back to it, never returned.
 */
export async function postgresFollow(
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
  host: string,
): Promise<FollowOutcome> {
  return withPostgres(endpoint, credentials, `point the WAL receiver at ${host}`, async (c) => {
    const recovery = await c.query<{ recovery: boolean }>('SELECT pg_is_in_recovery() AS recovery');
    if (!recovery.rows[0]?.recovery) return 'not a standby';
    const shown = await c.query<{ primary_conninfo: string }>('SHOW primary_conninfo');
    const current = shown.rows[0]?.primary_conninfo ?? '';
    let outcome: FollowOutcome = 'already pointed there';
    if (conninfoHost(current) !== host) {
      let next: string;
      try {
        next = conninfoWithHost(current, host);
      } catch (err) {
        throw ApplicationFailure.nonRetryable(
          `${err instanceof Error ? err.message : String(err)}: not rewritten`,
          EngineFailureTypes.Rejected,
        );
      }
      await c.query(`ALTER SYSTEM SET primary_conninfo = ${escapeLiteral(next)}`);
      await c.query('SELECT pg_reload_conf()');
      outcome = 'repointed';
    }
    const deadline = Date.now() + RECEIVER_RESTART_WAIT_MS;
    for (;;) {
      const { rows } = await c.query<{ sender_host: string | null }>(
        // Only a streaming receiver holds a connection that can carry WAL: one that waits or
        // connects again (to `host`, now) does not, whatever it failed on.
        "SELECT sender_host FROM pg_stat_wal_receiver WHERE status = 'streaming' AND sender_host IS DISTINCT FROM $1",
        [host],
      );
      if (rows.length === 0) return outcome;
      if (Date.now() >= deadline) {
        throw ApplicationFailure.retryable(
          `the WAL receiver still streams from ${rows[0]!.sender_host ?? 'its former upstream'}`,
          EngineFailureTypes.Unavailable,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  });
}
