import { postgresPosition } from '../engines/postgres';
import {
  divergedFrom,
  DIVERGENCE_LOG_WINDOW_SECONDS,
  divergenceInLog,
  lsnText,
  postgresMarkForReclone,
  postgresTimelineHistory,
} from '../engines/postgres-timelines';
import { mariadbBinlogState, mariadbReplicaIo } from '../engines/mariadb-failover';
import { mariadbDivergedFrom } from '../engines/mariadb-gtid';
import { dataClaimName, podName } from '../contracts/names';
import { readCredentials } from './credentials';
import { isNotFound, kubeCall } from './errors';
import { deleteMemberPod, readEngineLog, readMemberPod } from './member-pods';
import { memberAddress, replicaOrdinals, type EngineDependencies } from './replication';
import { primaryOrdinal } from './roles';
import type { DatabaseTarget } from './types';
import type { V1Pod } from '@kubernetes/client-node';
import type { EngineCredentials } from '../engines/credentials';

export interface Reclone {
  member: string;
  /** Why it can never follow the primary, from the engines' state (and PostgreSQL's words). */
  why: string;
}

export interface RejoinReport {
  /** Standbys found diverged: their data marked for a fresh clone, their pods deleted. */
  recloned: Reclone[];
  /** Standbys looked at and left, with why (not diverged, not answering). */
  left: string[];
}

/**
 * Brings back the replicas among `members` (names of replicas a replication pass found stuck)
 * that diverged from the primary and so can never stream again, each judged from the engines
 * by its engine's rules (judgePostgres, judgeMariadb): a member that does not answer, or the
 * primary not answering, leaves things as they are. Never the recorded primary
 * (replicaOrdinals), and only the pod looked at (deleted by uid). Idempotent: a member already
 * sent to a fresh copy is found again only if its new pod is stuck the same way.
 */
export async function recloneDivergedStandbys(
  deps: EngineDependencies,
  target: DatabaseTarget,
  members: string[],
): Promise<RejoinReport> {
  const report: RejoinReport = { recloned: [], left: [] };
  const look: Look = {
    deps,
    target,
    primary: await primaryOrdinal(deps.clients, target),
    credentials: await readCredentials(deps.clients, target.namespace, target.name),
    facts: new Map(),
  };
  const judge = target.spec.engine === 'mariadb' ? judgeMariadb : judgePostgres;
  const named = replicaOrdinals(target.spec.replicas, look.primary).filter((o) =>
    members.includes(podName(target.name, o)),
  );
  for (const ordinal of named) {
    const name = podName(target.name, ordinal);
    try {
      const pod = await readMemberPod(deps.clients, target, name);
      if (!pod || pod.metadata?.deletionTimestamp) {
        report.left.push(`${name}: no running pod`);
        continue;
      }
      const verdict = await judge(look, ordinal, pod);
      if (typeof verdict === 'string') report.left.push(`${name}: ${verdict}`);
      else report.recloned.push({ member: name, why: verdict.why });
    } catch (err) {
      report.left.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return report;
}

/** What the judges share for one look: the primary's facts are read once, when first needed. */
interface Look {
  deps: EngineDependencies;
  target: DatabaseTarget;
  primary: number;
  credentials: EngineCredentials;
  facts: Map<string, unknown>;
}

/** A judge sends a diverged member to a fresh copy and says why, or says why it left it. */
type Verdict = { why: string } | string;

async function once<T>(look: Look, key: string, read: () => Promise<T>): Promise<T> {
  if (!look.facts.has(key)) look.facts.set(key, await read());
  return look.facts.get(key) as T;
}

/**
 * PostgreSQL (engines/postgres-timelines.ts): three things must agree before any data is given
 * up: the standby's log says it cannot follow (within the last minute), its WAL receiver does not
 * stream now, and its replayed position lies past the fork in the primary's own timeline history.
 * Then its data is marked for a fresh clone and its pod deleted; the StatefulSet's new pod clones
 * the primary in its init container, the old data kept until the copy is complete.
 */
async function judgePostgres(look: Look, ordinal: number, pod: V1Pod): Promise<Verdict> {
  const { deps, target, credentials } = look;
  const name = podName(target.name, ordinal);
  const log = await readEngineLog(deps.clients, target, name, DIVERGENCE_LOG_WINDOW_SECONDS);
  const claim = divergenceInLog(log);
  if (!claim) return 'its log shows no divergence';
  const endpoint = await deps.resolver(memberAddress(target, ordinal));
  const standby = await postgresPosition(endpoint, credentials);
  if (!standby.inRecovery || standby.streaming || standby.replayed === '0') {
    return standby.inRecovery ? 'streams, or replayed nothing' : 'not a standby';
  }
  const primary = await once(look, 'timelines', async () =>
    postgresTimelineHistory(await deps.resolver(memberAddress(target, look.primary)), credentials),
  );
  const why = divergedFrom({
    primaryTimeline: primary.timeline,
    primaryHistory: primary.history,
    standbyTimeline: claim.standbyTimeline,
    standbyReplayed: lsnText(BigInt(standby.replayed)),
  });
  if (!why) return `can follow the primary's timeline ${primary.timeline}`;
  await postgresMarkForReclone(endpoint, credentials);
  await deleteMemberPod(deps.clients, target, name, pod.metadata?.uid);
  return { why: `${why} (PostgreSQL: "${claim.line}")` };
}

/**
 * MariaDB (engines/mariadb-gtid.ts mariadbDivergedFrom, read fresh from both engines): its
 * source refuses it (error 1236) because it holds transactions the primary never had, or needs
 * binary logs the primary purged. Then it gets an empty data volume: its claim is deleted, then
 * its pod; the StatefulSet makes both again (it waits for the old claim to be gone), the image
 * initialises the empty volume and the replication pass has it replay the primary's binary log
 * from the start. MariaDB has no clone into a running volume, so unlike PostgreSQL's the old
 * data is not kept until the copy is complete: only a member that can never serve again loses it.
 */
async function judgeMariadb(look: Look, ordinal: number, pod: V1Pod): Promise<Verdict> {
  const { deps, target, credentials } = look;
  const name = podName(target.name, ordinal);
  const io = await mariadbReplicaIo(await deps.resolver(memberAddress(target, ordinal)), credentials);
  if (!io) return 'not a replica';
  const primaryBinlog = await once(look, 'binlog', async () =>
    mariadbBinlogState(await deps.resolver(memberAddress(target, look.primary)), credentials),
  );
  const why = mariadbDivergedFrom(io, primaryBinlog);
  if (!why) return `can follow the primary (${io.ioRunning ? 'IO thread running' : `error ${io.ioErrno}`})`;
  const claim = dataClaimName(target.name, ordinal);
  await kubeCall(`delete PersistentVolumeClaim ${target.namespace}/${claim}`, async () => {
    try {
      await deps.clients.core.deleteNamespacedPersistentVolumeClaim({
        name: claim,
        namespace: target.namespace,
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  });
  await deleteMemberPod(deps.clients, target, name, pod.metadata?.uid);
  return { why: `${why} (MariaDB: "${io.ioError.slice(0, 160)}")` };
}
