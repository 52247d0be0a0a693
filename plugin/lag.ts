import type { Database } from '../crds';
import { CONTAINER_NAME, podName } from '../contracts/names';
import { engineProfile } from '../activities/manifests/engines';
import { kubectlCapture, type KubeTarget } from './kube';

/**
 * Replication lag as the engines report it, read by `kubectl exec` of the engine's own client in
 * the member's container (the plugin runs on a user's machine and cannot reach the members'
 * addresses). The scripts are fixed text: nothing from the spec or the user reaches them, and the
 * password is expanded inside the container from its own environment (see client.ts).
 */
export interface MemberLag {
  seconds?: number;
  bytes?: number;
  error?: string;
}

/**
 * PostgreSQL, on the primary: each replica streams through its slot `replica_<ordinal>`
 * (activities/manifests/statefulset.ts), so the slot names the member. replay_lag is NULL while a
 * replica is idle and caught up: that is 0.
 */
export const POSTGRES_LAG_SQL =
  'SELECT s.slot_name, COALESCE(EXTRACT(EPOCH FROM r.replay_lag), 0), ' +
  'COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn), 0) ' +
  'FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid';

/** `replica_1|0.001|0` lines (psql -At) → member → lag. */
export function parsePostgresLag(database: string, output: string): Map<string, MemberLag> {
  const lags = new Map<string, MemberLag>();
  for (const line of output.split('\n')) {
    const m = /^replica_(\d+)\|([\d.]+)\|(-?[\d.]+)$/.exec(line.trim());
    if (!m) continue;
    lags.set(podName(database, Number(m[1])), { seconds: Number(m[2]), bytes: Math.max(0, Number(m[3])) });
  }
  return lags;
}

/** `Seconds_Behind_Master: 0` (MariaDB) or `Seconds_Behind_Source: 0` (MySQL); NULL: not replicating. */
export function parseMysqlLag(output: string): MemberLag {
  const m = /Seconds_Behind_(?:Master|Source):\s*(\S+)/.exec(output);
  if (!m) return { error: 'not a replica' };
  return m[1] === 'NULL' ? { error: 'replication stopped' } : { seconds: Number(m[1]) };
}

function execArgs(pod: string, script: string): string[] {
  return ['exec', pod, '-c', CONTAINER_NAME, '--', 'sh', '-c', script];
}

function failure(res: { code: number; stderr: string }): MemberLag {
  return { error: res.stderr.trim().split('\n').pop()?.slice(0, 60) || `exit ${res.code}` };
}

/** Lag of every replica listed, or undefined when the Database has none. */
export async function measureLag(
  t: KubeTarget,
  db: Database,
  replicas: string[],
): Promise<Map<string, MemberLag> | undefined> {
  if (replicas.length === 0) return undefined;
  const name = db.metadata.name!;
  if (db.spec.engine === 'postgres') {
    // The pod's own socket: trust for local connections (README, the local stack).
    const res = await kubectlCapture(
      t,
      execArgs(podName(name, 0), `exec psql -U postgres -XAtc "${POSTGRES_LAG_SQL}"`),
    );
    if (res.code !== 0) return new Map(replicas.map((r) => [r, failure(res)]));
    const lags = parsePostgresLag(name, res.stdout);
    for (const r of replicas) if (!lags.has(r)) lags.set(r, { error: 'not streaming' });
    return lags;
  }
  const profile = engineProfile(db.spec.engine, db.spec.version, db.spec.image);
  const client = db.spec.engine === 'mariadb' ? 'mariadb' : 'mysql';
  const query = db.spec.engine === 'mariadb' ? 'SHOW SLAVE STATUS\\G' : 'SHOW REPLICA STATUS\\G';
  const script = `MYSQL_PWD="$${profile.passwordEnv}" exec ${client} -u ${profile.superuser} -h 127.0.0.1 -e "${query}"`;
  const results = await Promise.all(
    replicas.map(async (r) => {
      const res = await kubectlCapture(t, execArgs(r, script));
      return [r, res.code === 0 ? parseMysqlLag(res.stdout) : failure(res)] as const;
    }),
  );
  return new Map(results);
}
