/**
 * MariaDB GTID positions (`0-1-42,1-3-7`: domain-server-seq per domain), read without a server.
 * With gtid_strict_mode (activities/manifests/config.ts) every new GTID of a domain has a higher
 * sequence number than the last, whichever server wrote it: within a domain, a higher seq is
 * further along.
 */

/** One GTID: `domain-server-seq`. */
export interface Gtid {
  domain: number;
  server: number;
  seq: bigint;
  text: string;
}

/** The GTIDs of a list (`0-1-42,1-3-7`); throws on anything that is not one. */
export function parseGtids(list: string): Gtid[] {
  return list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((text) => {
      const m = /^(\d+)-(\d+)-(\d+)$/.exec(text);
      if (!m) throw new Error(`not a MariaDB GTID: ${text.slice(0, 40)}`);
      return { domain: Number(m[1]), server: Number(m[2]), seq: BigInt(m[3]!), text };
    });
}

/** The highest sequence number of each group of `gtids`, by `key`. */
function highestBy<K>(gtids: Gtid[], key: (g: Gtid) => K): Map<K, bigint> {
  const out = new Map<K, bigint>();
  for (const g of gtids) if ((out.get(key(g)) ?? -1n) < g.seq) out.set(key(g), g.seq);
  return out;
}

const byDomainAndServer = (g: Pick<Gtid, 'domain' | 'server'>) => `${g.domain}-${g.server}`;

/** One GTID position, `0-1-42,1-3-7`, as a map from domain to sequence number. */
export function parseGtidList(list: string): Map<number, bigint> {
  return highestBy(parseGtids(list), (g) => g.domain);
}

/**
 * How far a GTID position reached, as one comparable number: the sum of its domains' sequence
 * numbers. Members of one Database write one domain (gtid_domain_id is the default 0), where this
 * is the sequence number itself; with more domains it still orders positions that are ahead in
 * every domain, which is all a choice among replicas of one primary needs.
 */
export function gtidRank(list: string): bigint {
  let sum = 0n;
  for (const seq of parseGtidList(list).values()) sum += seq;
  return sum;
}

/**
 * The GTIDs of `position` that a binary log with `state` (`@@gtid_binlog_state`: the last GTID
 * of every domain and server pair it holds) never held: a GTID is there when the log holds that
 * domain and server up to its sequence number. Sequence numbers alone cannot tell: after a
 * failover the new primary writes 0-2-100 where the old one had written 0-1-100, another
 * transaction.
 */
export function gtidsMissingFrom(position: string, state: string): string[] {
  const held = highestBy(parseGtids(state), byDomainAndServer);
  return parseGtids(position)
    .filter((g) => (held.get(byDomainAndServer(g)) ?? -1n) < g.seq)
    .map((g) => g.text);
}

/** Whether position `a` is as far as `b`, domain by domain (sequence numbers only). */
export function gtidCovers(a: string, b: string): boolean {
  const have = parseGtidList(a);
  for (const [domain, seq] of parseGtidList(b)) if ((have.get(domain) ?? -1n) < seq) return false;
  return true;
}

/**
 * Last_IO_Errno when the source refuses the position a replica asked for (ER_MASTER_FATAL_ERROR_
 * READING_BINLOG: GTIDs it never had, or binary logs it purged).
 */
export const SOURCE_REFUSED_ERRNO = 1236;

/** What a replica's IO thread reports, as SHOW SLAVE STATUS gives it. */
export interface ReplicaIoState {
  ioRunning: boolean;
  /** Last_IO_Errno; 1236 is the source refusing the position the replica asked for. */
  ioErrno: number;
  ioError: string;
  /** The replica's gtid_slave_pos: where it asks its source to go on from. */
  applied: string;
}

/**
 * Why a MariaDB replica can never follow the primary again, or undefined when it may: its IO
 * thread stopped on error 1236 (the source refused the position) and either its GTIDs are not
 * all in the primary's binary log (`primaryBinlogState`: its @@gtid_binlog_state) (it took transactions the primary never had: a former primary
 * whose last writes were lost in a failover, or a write made on it by hand) or the primary says
 * it purged the binary logs the replica needs. Any other error is left alone: it may pass, or
 * need a person; so is a member that applied nothing yet.
 */
export function mariadbDivergedFrom(replica: ReplicaIoState, primaryBinlogState: string): string | undefined {
  if (replica.ioRunning || replica.ioErrno !== SOURCE_REFUSED_ERRNO) return undefined;
  // A member that applied nothing asks for the binary log from its start: an empty volume would
  // ask the same, so re-cloning it cannot help (the primary purged its first logs).
  if (replica.applied === '') return undefined;
  const missing = gtidsMissingFrom(replica.applied, primaryBinlogState);
  if (missing.length > 0) {
    return `it holds transactions the primary never had (${missing.join(', ')}; the primary's binary log holds ${primaryBinlogState || 'nothing'})`;
  }
  if (/purged/i.test(replica.ioError)) return 'the primary purged the binary logs it needs';
  return undefined;
}

/**
 * The server_id a MariaDB replica must apply its source's binary log under, when it cannot keep
 * its own; undefined when it can. A replica skips every event that carries its own server_id
 * (replicate_same_server_id is off: that is how circular replication stops), and member ids
 * come from the ordinal: a member given an empty volume (activities/rejoin.ts) has the id of its
 * predecessor, whose transactions are in the source's log and would be skipped, not applied. So
 * when the source holds transactions of `ownId` this member has not logged itself (its own
 * binary log state: log_slave_updates logs what it applies, with the writer's id), it takes an
 * id of its range (1000 × (ordinal + 1) upwards) that no server in the source's log has used.
 */
export function replayServerId(
  ownId: number,
  ownState: string,
  sourceState: string,
  ordinal: number,
): number | undefined {
  const source = parseGtids(sourceState);
  const own = highestBy(parseGtids(ownState), byDomainAndServer);
  const missingOwn = source.some((g) => g.server === ownId && (own.get(byDomainAndServer(g)) ?? -1n) < g.seq);
  if (!missingOwn) return undefined;
  const servers = new Set(source.map((g) => g.server));
  let id = 1000 * (ordinal + 1);
  while (servers.has(id)) id++;
  return id;
}
