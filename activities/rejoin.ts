import { postgresPosition } from '../engines/postgres';
import {
  divergedFrom,
  divergenceInLog,
  lsnText,
  postgresMarkForReclone,
  postgresTimelineHistory,
} from '../engines/postgres-timelines';
import { CONTAINER_NAME, podName } from '../contracts/names';
import { readCredentials } from './credentials';
import { kubeCall } from './errors';
import { deleteMemberPod, readMemberPod } from './member-pods';
import { memberAddress, replicaOrdinals, type EngineDependencies } from './replication';
import { primaryOrdinal } from './roles';
import type { DatabaseTarget } from './types';

/**
 * How far back a standby's log is searched for PostgreSQL's divergence message. A stuck standby
 * repeats it every few seconds (wal_retrieve_retry_interval); an older line is history.
 */
const LOG_WINDOW_SECONDS = 60;

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
 * Brings back the standbys among `members` (names of replicas a replication pass found not
 * connected) that diverged from the primary's timeline and so can never stream again
 * (engines/postgres-timelines.ts): each one's data is marked for a fresh clone and its pod
 * deleted, and the StatefulSet's new pod clones the primary in its init container, the old data
 * kept until the copy is complete. Three things must agree before any data is given up: the
 * standby's log says it cannot follow (within the last minute), its WAL receiver does not stream
 * now, and its replayed position lies past the fork in the primary's own timeline history. A
 * member that does not answer, or the primary not answering, leaves things as they are.
 * Idempotent: a member already marked and deleted is found again only if its new pod is stuck
 * the same way. PostgreSQL only.
 */
export async function recloneDivergedStandbys(
  deps: EngineDependencies,
  target: DatabaseTarget,
  members: string[],
): Promise<RejoinReport> {
  const report: RejoinReport = { recloned: [], left: [] };
  const primary = await primaryOrdinal(deps.clients, target);
  const credentials = await readCredentials(deps.clients, target.namespace, target.name);
  let primaryHistory: Awaited<ReturnType<typeof postgresTimelineHistory>> | undefined;
  const named = replicaOrdinals(target.spec.replicas, primary).filter((o) =>
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
      const log = await kubeCall(`read the log of Pod ${target.namespace}/${name}`, () =>
        deps.clients.core.readNamespacedPodLog({
          name,
          namespace: target.namespace,
          container: CONTAINER_NAME,
          sinceSeconds: LOG_WINDOW_SECONDS,
        }),
      );
      const claim = divergenceInLog(typeof log === 'string' ? log : '');
      if (!claim) {
        report.left.push(`${name}: its log shows no divergence`);
        continue;
      }
      const endpoint = await deps.resolver(memberAddress(target, ordinal));
      const standby = await postgresPosition(endpoint, credentials);
      if (!standby.inRecovery || standby.streaming || standby.replayed === '0') {
        report.left.push(`${name}: ${standby.inRecovery ? 'streams, or replayed nothing' : 'not a standby'}`);
        continue;
      }
      primaryHistory ??= await postgresTimelineHistory(
        await deps.resolver(memberAddress(target, primary)),
        credentials,
      );
      const why = divergedFrom({
        primaryTimeline: primaryHistory.timeline,
        primaryHistory: primaryHistory.history,
        standbyTimeline: claim.standbyTimeline,
        standbyReplayed: lsnText(BigInt(standby.replayed)),
      });
      if (!why) {
        report.left.push(`${name}: can follow the primary's timeline ${primaryHistory.timeline}`);
        continue;
      }
      await postgresMarkForReclone(endpoint, credentials);
      await deleteMemberPod(deps.clients, target, name, pod.metadata?.uid);
      report.recloned.push({ member: name, why: `${why} (PostgreSQL: "${claim.line}")` });
    } catch (err) {
      report.left.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return report;
}
