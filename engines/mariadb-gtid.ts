/**
 * MariaDB GTID positions (`0-1-42,1-3-7`: domain-server-seq per domain), read without a server.
 * With gtid_strict_mode (activities/manifests/config.ts) every new GTID of a domain has a higher
 * sequence number than the last, whichever server wrote it: within a domain, a higher seq is
 * further along.
 */

/** One GTID position, `0-1-42,1-3-7`, as a map from domain to sequence number. */
export function parseGtidList(list: string): Map<number, bigint> {
  const out = new Map<number, bigint>();
  for (const part of list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^(\d+)-(\d+)-(\d+)$/.exec(part);
    if (!m) throw new Error(`not a MariaDB GTID: ${part.slice(0, 40)}`);
    const domain = Number(m[1]);
    const seq = BigInt(m[3]!);
    if ((out.get(domain) ?? -1n) < seq) out.set(domain, seq);
  }
  return out;
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

/** Whether position `a` has everything `b` has, domain by domain. */
export function gtidCovers(a: string, b: string): boolean {
  const have = parseGtidList(a);
  for (const [domain, seq] of parseGtidList(b)) if ((have.get(domain) ?? -1n) < seq) return false;
  return true;
}

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
 * all in the primary's binary log (it took transactions the primary never had: a former primary
 * whose last writes were lost in a failover, or a write made on it by hand) or the primary says
 * it purged the binary logs the replica needs. Any other error is left alone: it may pass, or
 * need a person; so is a member that applied nothing yet.
 */
export function mariadbDivergedFrom(replica: ReplicaIoState, primaryBinlog: string): string | undefined {
  if (replica.ioRunning || replica.ioErrno !== 1236) return undefined;
  // A member that applied nothing asks for the binary log from its start: an empty volume would
  // ask the same, so re-cloning it cannot help (the primary purged its first logs).
  if (replica.applied === '') return undefined;
  if (!gtidCovers(primaryBinlog, replica.applied)) {
    return `it holds transactions the primary never had (its GTIDs ${replica.applied || 'none'}, the primary's ${primaryBinlog || 'none'})`;
  }
  if (/purged/i.test(replica.ioError)) return 'the primary purged the binary logs it needs';
  return undefined;
}
