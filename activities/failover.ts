import { ApplicationFailure } from '@temporalio/activity';
import {
  postgresPosition,
  postgresFollow,
  postgresPromote,
  reservePostgresSlots,
  type WalPosition,
} from '../engines/postgres';
import { mariadbDetach, mariadbPosition, mariadbPromote } from '../engines/mariadb-failover';
import { gtidRank } from '../engines/mariadb-gtid';
import { DIVERGENCE_LOG_WINDOW_SECONDS, divergenceInLog } from '../engines/postgres-timelines';
import type { EngineCredentials } from '../engines/credentials';
import type { EngineEndpoint } from '../engines/resolver';
import { serverSideApply } from './apply';
import { readCredentials } from './credentials';
import { FailureTypes } from './errors';
import type { KubeClients } from './kube-clients';
import { renderServices } from './manifests/services';
import { deleteMemberPod, labelMemberRoles, readEngineLog, readMemberPod, setRoleLabel } from './member-pods';
import { isPodReady, podTrouble } from './pod-trouble';
import { memberHost, objectNames, podName, serviceHost } from '../contracts/names';
import { engineHealth, memberAddress, replicaOrdinals, type EngineDependencies } from './replication';
import { ensureRoles, writeRoles } from './roles';
import type { DatabaseTarget } from './types';

/**
 * The steps of a failover (workflows/failover.ts), each small and idempotent, each reading the
 * role record (activities/roles.ts) rather than trusting what the workflow remembers: the cluster
 * is the record. PostgreSQL and MariaDB (failoverSupported); the engine's part of each step is
 * in engines/postgres.ts and engines/mariadb-failover.ts.
 */

/** The engines whose failover exists. */
export function failoverSupported(engine: string): boolean {
  return engine === 'postgres' || engine === 'mariadb';
}

/** How far a replica got, for the choice: a comparable rank (decimal) and the engine's words. */
interface ReplicaPosition {
  isReplica: boolean;
  /** Why it must not take over although it is a replica (it diverged). */
  unfit?: string;
  rank: string;
  text: string;
}

async function replicaPosition(
  engine: string,
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<ReplicaPosition> {
  if (engine === 'mariadb') {
    const p = await mariadbPosition(endpoint, credentials);
    return {
      isReplica: p.isReplica,
      ...(p.refusedBySource
        ? { unfit: 'refused by its source (error 1236): it diverged' }
        : p.applyError && { unfit: `cannot apply what it received: ${p.applyError}` }),
      rank: gtidRank(p.received).toString(),
      text: `GTID ${p.received || 'none'}`,
    };
  }
  const p: WalPosition = await postgresPosition(endpoint, credentials);
  return { isReplica: p.inRecovery, rank: p.received, text: `${p.received} bytes of WAL` };
}

export interface PrimaryAssessment {
  primary: number;
  /** A failover the record shows as started and not finished (its target). */
  targetPrimary?: number;
  healthy: boolean;
  /** What was found, in words: why the primary counts as failed, or that it answers. */
  reason: string;
}

/**
 * Is the primary the record names there and answering? Failed when its pod is gone, being
 * deleted or not Ready, or its engine does not answer a health query (refused, timed out: a cut
 * network), or answers as a standby. Never throws for the primary's own trouble: that is the
 * answer.
 */
export async function assessPrimary(
  deps: EngineDependencies,
  target: DatabaseTarget,
): Promise<PrimaryAssessment> {
  const record = await ensureRoles(deps.clients, target);
  const { primary, targetPrimary } = record;
  const verdict = (healthy: boolean, reason: string): PrimaryAssessment => ({
    primary,
    ...(targetPrimary !== undefined && { targetPrimary }),
    healthy,
    reason,
  });
  const name = podName(target.name, primary);
  const pod = await readMemberPod(deps.clients, target, name);
  if (!pod) return verdict(false, `pod ${name} is gone`);
  if (pod.metadata?.deletionTimestamp) return verdict(false, `pod ${name} is being deleted`);
  if (!isPodReady(pod)) return verdict(false, podTrouble([pod]) ?? `pod ${name} is not Ready`);
  try {
    const credentials = await readCredentials(deps.clients, target.namespace, target.name);
    const endpoint = await deps.resolver(memberAddress(target, primary));
    const health = await engineHealth(target.spec.engine, endpoint, credentials);
    if (health.role !== 'primary') return verdict(false, `${name} answers as a replica`);
    return verdict(true, `${name} accepts writes`);
  } catch (err) {
    if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
    return verdict(false, `${name} does not answer: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export interface Candidate {
  member: string;
  ordinal: number;
  /**
   * How far it got, as a decimal that orders candidates: PostgreSQL, bytes of WAL received since
   * 0/0; MariaDB, the sum of its received GTIDs' sequence numbers (engines/mariadb-gtid.ts).
   */
  received?: string;
  /** The same, in the engine's words (`… bytes of WAL`, `GTID 0-1-42`). */
  position?: string;
  /** Why it cannot take over, if it cannot. */
  refused?: string;
}

export interface FailoverChoice {
  /** The member to promote. */
  ordinal: number;
  candidates: Candidate[];
}

/**
 * The replica to promote instead of `from`: among the wanted members that are Ready replicas and
 * answer, the one that received the most WAL or GTIDs (so the least of the old primary's writes is lost);
 * on a tie the lowest ordinal. Retryable failure, naming each candidate's trouble, when none can.
 */
export async function chooseFailoverTarget(
  deps: EngineDependencies,
  target: DatabaseTarget,
  from: number,
): Promise<FailoverChoice> {
  const credentials = await readCredentials(deps.clients, target.namespace, target.name);
  const candidates: Candidate[] = [];
  for (const ordinal of replicaOrdinals(target.spec.replicas, from)) {
    const name = podName(target.name, ordinal);
    const pod = await readMemberPod(deps.clients, target, name);
    if (!pod || pod.metadata?.deletionTimestamp || !isPodReady(pod)) {
      candidates.push({ member: name, ordinal, refused: pod ? 'not Ready' : 'no pod' });
      continue;
    }
    let position: ReplicaPosition;
    try {
      position = await replicaPosition(
        target.spec.engine,
        await deps.resolver(memberAddress(target, ordinal)),
        credentials,
      );
    } catch (err) {
      if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
      candidates.push({ member: name, ordinal, refused: err instanceof Error ? err.message : String(err) });
      continue;
    }
    const unfit =
      position.unfit ??
      (target.spec.engine === 'postgres' ? await postgresDivergence(deps, target, name) : undefined);
    if (!position.isReplica || unfit) {
      candidates.push({ member: name, ordinal, refused: unfit ?? 'not a replica' });
      continue;
    }
    candidates.push({ member: name, ordinal, received: position.rank, position: position.text });
  }
  const able = candidates.filter((c) => c.received !== undefined);
  if (able.length === 0) {
    throw ApplicationFailure.retryable(
      `no replica can take over from ${podName(target.name, from)}: ${candidates.map((c) => `${c.member} ${c.refused}`).join('; ') || 'there is none'}`,
      'NoFailoverCandidate',
    );
  }
  able.sort((a, b) => {
    const diff = BigInt(b.received!) - BigInt(a.received!);
    return diff === 0n ? a.ordinal - b.ordinal : diff > 0n ? 1 : -1;
  });
  return { ordinal: able[0]!.ordinal, candidates };
}

/**
 * A PostgreSQL standby whose log said in the last minute that it cannot follow its upstream's
 * timeline (engines/postgres-timelines.ts) diverged before this failover: promoting it would
 * fork the data again. A log that cannot be read never holds a failover up.
 */
async function postgresDivergence(
  deps: EngineDependencies,
  target: DatabaseTarget,
  name: string,
): Promise<string | undefined> {
  try {
    const claim = divergenceInLog(
      await readEngineLog(deps.clients, target, name, DIVERGENCE_LOG_WINDOW_SECONDS),
    );
    return claim && `diverged (PostgreSQL: "${claim.line.slice(0, 160)}")`;
  } catch {
    return undefined;
  }
}

/**
 * Fences the old primary before anything is promoted: the record names `to` as the target (so a
 * pod of `from` that starts from now on clones `to` instead of starting as a primary), the
 * primary Service selects `to` (no Service routes to `from` any more), `from` loses its role
 * label, and its pod is deleted (an engine that still runs behind a cut network stops taking
 * writes once its node hears of it; meanwhile no Service reaches it). Refused (non-retryable)
 * when the record shows another move than this one: a newer failover owns the role.
 */
export async function fencePrimary(
  clients: KubeClients,
  target: DatabaseTarget,
  from: number,
  to: number,
): Promise<{ steps: string[] }> {
  let record = await ensureRoles(clients, target);
  const steps: string[] = [];
  if (record.primary === to && record.targetPrimary === undefined) return { steps: ['already done'] };
  if (record.primary !== from || (record.targetPrimary !== undefined && record.targetPrimary !== to)) {
    throw ApplicationFailure.nonRetryable(
      `the role record names ${podName(target.name, record.primary)}${record.targetPrimary !== undefined ? ` → ${podName(target.name, record.targetPrimary)}` : ''}, not ${podName(target.name, from)}: another failover moved the role`,
      'RoleMoved',
    );
  }
  if (record.targetPrimary !== to) {
    record = await writeRoles(clients, target, record, { primary: from, targetPrimary: to });
    steps.push(`recorded ${podName(target.name, to)} as the target`);
  }
  await applyPrimaryService(clients, target, to);
  steps.push(`pointed the primary Service at ${podName(target.name, to)}`);
  const old = podName(target.name, from);
  await setRoleLabel(clients, target, old, null);
  const pod = await readMemberPod(clients, target, old);
  if (pod && !pod.metadata?.deletionTimestamp) {
    await deleteMemberPod(clients, target, old);
    steps.push(`deleted pod ${old}`);
  }
  return { steps };
}

/**
 * Before `to` is promoted: the slots of every other wanted member on it, so that the WAL of the
 * timeline switch is kept for them (reservePostgresSlots). Idempotent; on a member promoted
 * already it creates what is missing just the same. MariaDB keeps no slots: its binary log
 * (log_slave_updates) serves the replicas.
 */
export async function reserveSlots(
  deps: EngineDependencies,
  target: DatabaseTarget,
  to: number,
): Promise<{ created: string[] }> {
  if (target.spec.engine !== 'postgres') return { created: [] };
  const credentials = await readCredentials(deps.clients, target.namespace, target.name);
  const endpoint = await deps.resolver(memberAddress(target, to));
  return {
    created: await reservePostgresSlots(endpoint, credentials, replicaOrdinals(target.spec.replicas, to)),
  };
}

export interface RepointReport {
  /** Members whose WAL receiver now streams from the new upstream (or will, on connecting). */
  repointed: string[];
  /** Members left as they were, each with why (not answering, not a standby). */
  skipped: string[];
}

/**
 * Points the WAL receivers of the members that stay replicas (all wanted members but `from` and
 * `to`) at a new upstream: `to`'s own address before its promotion (a standby serves WAL to
 * cascading standbys, through the slots reserveSlots made, and they follow its timeline switch),
 * the primary Service again once the failover is complete (the Service follows the next
 * failover by itself). The first is what detaches them from the fenced primary, which may still
 * be alive behind a partition with their old connections open (postgresFollow); it dials the
 * member, never the Service, which kube-proxy may not have moved yet. A member that does not
 * answer is reported and left: it cannot hold a live connection that matters more than the
 * failover, and the replication pass reports it. Idempotent.
 *
 * MariaDB: before the promotion, each replica's IO thread is stopped (mariadbDetach), which cuts
 * the same connection; afterwards the replication pass points them at the new primary's member
 * name, as it always does, so the second call has nothing to do.
 */
export async function pointReplicasAt(
  deps: EngineDependencies,
  target: DatabaseTarget,
  from: number,
  to: number,
  upstream: 'member' | 'service',
): Promise<RepointReport> {
  const credentials = await readCredentials(deps.clients, target.namespace, target.name);
  const host =
    upstream === 'member'
      ? memberHost(memberAddress(target, to))
      : serviceHost(target.namespace, objectNames(target.name).primaryService);
  const report: RepointReport = { repointed: [], skipped: [] };
  const members = replicaOrdinals(target.spec.replicas, to).filter((o) => o !== from);
  if (target.spec.engine === 'mariadb') {
    if (upstream === 'service') return report;
    await Promise.all(
      members.map(async (ordinal) => {
        const name = podName(target.name, ordinal);
        try {
          const outcome = await mariadbDetach(
            await deps.resolver(memberAddress(target, ordinal)),
            credentials,
          );
          if (outcome === 'not a replica') report.skipped.push(`${name}: not a replica`);
          else
            report.repointed.push(
              `${name} away from its former source (IO thread stopped${outcome === 'detached' ? '' : ' already'})`,
            );
        } catch (err) {
          report.skipped.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }),
    );
    report.repointed.sort();
    report.skipped.sort();
    return report;
  }
  await Promise.all(
    members.map(async (ordinal) => {
      const name = podName(target.name, ordinal);
      try {
        const endpoint = await deps.resolver(memberAddress(target, ordinal));
        const outcome = await postgresFollow(endpoint, credentials, host);
        if (outcome === 'not a standby') report.skipped.push(`${name}: not a standby`);
        else report.repointed.push(`${name} → ${host}${outcome === 'repointed' ? '' : ' (already)'}`);
      } catch (err) {
        report.skipped.push(`${name}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }),
  );
  report.repointed.sort();
  report.skipped.sort();
  return report;
}

/** Promotes `to` (idempotent: a member already promoted is left as it is). */
export async function promoteMember(
  deps: EngineDependencies,
  target: DatabaseTarget,
  to: number,
): Promise<'promoted' | 'already primary'> {
  const credentials = await readCredentials(deps.clients, target.namespace, target.name);
  const endpoint = await deps.resolver(memberAddress(target, to));
  return target.spec.engine === 'mariadb'
    ? mariadbPromote(endpoint, credentials)
    : postgresPromote(endpoint, credentials);
}

/**
 * Makes the move final: the record names `to` as the primary, the Services and role labels
 * follow it. The replication pass after it gives the new primary the other members' slots.
 */
export async function completeFailover(
  clients: KubeClients,
  target: DatabaseTarget,
  to: number,
): Promise<{ relabelled: string[] }> {
  const record = await ensureRoles(clients, target);
  if (record.targetPrimary !== undefined && record.targetPrimary !== to) {
    throw ApplicationFailure.nonRetryable(
      `the role record's target is ${podName(target.name, record.targetPrimary)}, not ${podName(target.name, to)}`,
      'RoleMoved',
    );
  }
  if (record.primary !== to) {
    if (record.targetPrimary !== to) {
      throw ApplicationFailure.nonRetryable(
        `the role record names ${podName(target.name, record.primary)} and no target: the fence step did not run`,
        FailureTypes.Invalid,
      );
    }
    await writeRoles(clients, target, record, { primary: to });
  } else if (record.targetPrimary !== undefined) {
    await writeRoles(clients, target, record, { primary: to });
  }
  await applyPrimaryService(clients, target, to);
  return { relabelled: await labelMemberRoles(clients, target, to) };
}

async function applyPrimaryService(clients: KubeClients, target: DatabaseTarget, primary: number) {
  const [, service] = renderServices(target, { primary });
  await serverSideApply(clients, service, `Service ${target.namespace}/${service.metadata!.name!}`);
}
