import { ApplicationFailure, Context } from '@temporalio/activity';
import type { EngineCredentials } from '../engines/credentials';
import { readCredentials } from './credentials';
import { mysqlHealth, reconcileMysqlReplication } from '../engines/mysql';
import { postgresHealth, reconcilePostgresReplication } from '../engines/postgres';
import { memberHost, type EndpointResolver, type EngineEndpoint } from '../engines/resolver';
import type { MemberHealth, MemberRole, ReplicationInput, ReplicationOutcome } from '../engines/types';
import { unknownEngine, type Engine } from '../crds';
import { reportedVersionMatches } from '../crds/spec-rules';
import type { KubeClients } from './kube-clients';
import { labelMemberRoles } from './member-pods';
import { primaryOrdinal } from './roles';
import { engineProfile, podName } from './manifests';
import type { DatabaseTarget } from './types';

export interface EngineDependencies {
  clients: KubeClients;
  resolver: EndpointResolver;
}

export interface MemberReport {
  name: string;
  role: MemberRole;
  state?: string;
}

/** What a replication pass reports to the workflow; no secret in here. */
export interface ReplicationReport {
  ready: boolean;
  message: string;
  members: MemberReport[];
  /** What the pass changed (role, slots, replicas configured), for an Event; empty when nothing. */
  changes: string[];
  /** Replicas the pass removed (slots of members scaled away), for an Event. */
  removed: string[];
}

export interface HealthReport {
  healthy: boolean;
  role?: MemberRole;
  serverVersion?: string;
  message: string;
}

/**
 * Ensures replication on the engines and reports its state: the member the role record names
 * (activities/roles.ts) is the primary, the others replicate from it, and each member pod carries
 * the role label of its role. PostgreSQL: the replication role and one physical slot per replica on the
 * primary (the replicas clone themselves in their init container), slots of members scaled away
 * dropped. MySQL/MariaDB: the replication user on the primary, each replica pointed at it with
 * GTID auto-positioning and made read-only. Idempotent: a pass that finds everything in place
 * changes nothing. Needs the primary to answer (else a retryable failure); replicas that do not
 * answer yet are reported as not ready.
 */
export async function configureReplication(
  deps: EngineDependencies,
  target: DatabaseTarget,
): Promise<ReplicationReport> {
  const credentials = await readCredentials(deps.clients, target.namespace, target.name);
  const primary = await primaryOrdinal(deps.clients, target);
  const report = toReport(
    target,
    await replicationPass(deps.resolver, target, credentials, primary),
    primary,
  );
  return withRoleLabels(deps, target, primary, report);
}

/** Labels the member pods with their roles; a relabelling is one of the report's changes. */
async function withRoleLabels(
  deps: EngineDependencies,
  target: DatabaseTarget,
  primary: number,
  report: ReplicationReport,
): Promise<ReplicationReport> {
  const relabelled = await labelMemberRoles(deps.clients, target, primary);
  if (relabelled.length === 0) return report;
  return { ...report, changes: [...report.changes, `labelled ${relabelled.join(', ')}`] };
}

/**
 * Repeats configureReplication every couple of seconds until replication is ready or
 * `budgetSeconds` pass, heartbeating, like waitForStatefulSetReady: a fresh replica needs a few
 * seconds to connect, and a departing one to let go of its slot. Returns the last report, with
 * the changes of every pass.
 */
export async function waitForReplicationReady(
  deps: EngineDependencies,
  target: DatabaseTarget,
  budgetSeconds: number,
): Promise<ReplicationReport> {
  const ctx = Context.current();
  const deadline = Date.now() + budgetSeconds * 1000;
  const credentials = await readCredentials(deps.clients, target.namespace, target.name);
  const primary = await primaryOrdinal(deps.clients, target);
  const changes = new Set<string>();
  const removed = new Set<string>();
  for (;;) {
    const report = toReport(
      target,
      await replicationPass(deps.resolver, target, credentials, primary),
      primary,
    );
    report.changes.forEach((c) => changes.add(c));
    report.removed.forEach((r) => removed.add(r));
    ctx.heartbeat({ ready: report.ready, message: report.message });
    if (report.ready || Date.now() >= deadline) {
      // Labelled once the pass is over: a pod that appeared meanwhile gets its label too.
      return withRoleLabels(deps, target, primary, {
        ...report,
        changes: [...changes],
        removed: [...removed],
      });
    }
    await ctx.sleep(POLL_MS);
  }
}

const POLL_MS = 2_000;

/**
 * Health gate for one member: it answers an engine query, has the role the role record gives it and,
 * for a replica, receives from the primary. Trouble that may pass (refused, timeout, still
 * initialising) is `healthy: false` with the reason, so a caller polling it sees why; a rejected
 * statement is thrown as a non-retryable failure.
 */
export async function checkMemberHealth(
  deps: EngineDependencies,
  target: DatabaseTarget,
  ordinal: number,
): Promise<HealthReport> {
  const credentials = await readCredentials(deps.clients, target.namespace, target.name);
  const name = podName(target.name, ordinal);
  let health: MemberHealth;
  try {
    const endpoint = await resolveMember(deps.resolver, target, ordinal);
    health = await engineHealth(target.spec.engine, endpoint, credentials);
  } catch (err) {
    if (err instanceof ApplicationFailure && !err.nonRetryable) {
      return { healthy: false, message: `${name}: ${err.message}` };
    }
    throw err;
  }
  const expected: MemberRole =
    ordinal === (await primaryOrdinal(deps.clients, target)) ? 'primary' : 'replica';
  // The upgrade gate: the member must run the version the spec asks for (with spec.image, its
  // major), as the engine itself reports it: a pod Ready on a stale image is not upgraded.
  const versionOk = reportedVersionMatches(target.spec, health.serverVersion);
  const healthy =
    versionOk && health.role === expected && (expected === 'primary' || health.replicating === true);
  return {
    healthy,
    role: health.role,
    serverVersion: health.serverVersion,
    message: !versionOk
      ? `${name}: runs ${target.spec.engine} ${health.serverVersion.slice(0, 64)}, expected ${target.spec.version}${target.spec.image ? ` (major ${target.spec.version.split('.')[0]} from ${target.spec.image})` : ''}`
      : health.role === expected
        ? `${name}: ${health.detail}`
        : `${name}: is a ${health.role}, expected a ${expected}`,
  };
}

export function engineHealth(
  engine: Engine,
  endpoint: EngineEndpoint,
  credentials: EngineCredentials,
): Promise<MemberHealth> {
  switch (engine) {
    case 'postgres':
      return postgresHealth(endpoint, credentials);
    case 'mariadb':
    case 'mysql':
      return mysqlHealth(engine, endpoint, credentials);
    default:
      return unknownEngine(engine);
  }
}

/** What the endpoint resolver takes to find member `ordinal`. */
export function memberAddress(target: DatabaseTarget, ordinal: number) {
  return { namespace: target.namespace, database: target.name, ordinal, engine: target.spec.engine };
}

/** A member's stable DNS name and the engine's port, unresolved. */
function clusterAddress(target: DatabaseTarget, ordinal: number): EngineEndpoint {
  return {
    host: memberHost(memberAddress(target, ordinal)),
    port: engineProfile(target.spec.engine, '0').port,
  };
}

/**
 * A member's address; a name that does not resolve (yet: a pod that is not running has no DNS
 * record) is trouble that may pass, reported with the member's name.
 */
async function resolveMember(resolver: EndpointResolver, target: DatabaseTarget, ordinal: number) {
  try {
    return await resolver(memberAddress(target, ordinal));
  } catch (err) {
    throw ApplicationFailure.retryable(
      `${podName(target.name, ordinal)} unreachable: ${err instanceof Error ? err.message : String(err)}`,
      'Transient',
    );
  }
}

async function replicationPass(
  resolver: EndpointResolver,
  target: DatabaseTarget,
  credentials: EngineCredentials,
  primaryOrdinal: number,
): Promise<ReplicationOutcome> {
  const replicas = target.spec.replicas;
  const input: ReplicationInput = {
    primaryOrdinal,
    primary: await resolveMember(resolver, target, primaryOrdinal),
    // Where the replicas dial the primary: its stable DNS name, which they resolve in the
    // cluster, never the address the operator dialled (a pod's IP changes when it restarts).
    source: clusterAddress(target, primaryOrdinal),
    replicas,
    ...(target.spec.replication?.synchronous && {
      synchronous: {
        ...target.spec.replication.synchronous,
        standbys: replicaOrdinals(replicas, primaryOrdinal).map((ordinal) => ({
          ordinal,
          name: podName(target.name, ordinal),
        })),
      },
    }),
    // A replica whose name does not resolve yet (its pod is not there: members start one after
    // another) is reported unreachable, not dialled, rather than failing the pass that the
    // primary's setup (role, slots) depends on.
    replicaMembers: await Promise.all(
      replicaOrdinals(replicas, primaryOrdinal).map(async (ordinal) => {
        try {
          return { ordinal, endpoint: await resolver(memberAddress(target, ordinal)) };
        } catch (err) {
          const reason = err instanceof Error ? err.message : String(err);
          return { ordinal, endpoint: clusterAddress(target, ordinal), unreachable: reason };
        }
      }),
    ),
    credentials,
  };
  const engine = target.spec.engine;
  switch (engine) {
    case 'postgres':
      return reconcilePostgresReplication(input);
    case 'mariadb':
    case 'mysql':
      return reconcileMysqlReplication(engine, input);
    default:
      return unknownEngine(engine);
  }
}

/** The wanted members but the primary. */
export function replicaOrdinals(replicas: number, primaryOrdinal: number): number[] {
  return Array.from({ length: replicas }, (_, i) => i).filter((o) => o !== primaryOrdinal);
}

/** Names the members and sums the state up in one line for the condition's message. */
export function toReport(
  target: Pick<DatabaseTarget, 'name'>,
  outcome: ReplicationOutcome,
  primaryOrdinal: number,
): ReplicationReport {
  const members = [...outcome.members]
    .sort((a, b) => a.ordinal - b.ordinal)
    .map((m) => ({ name: podName(target.name, m.ordinal), role: m.role, state: m.state }));
  const lagging = outcome.members.filter((m) => !m.streaming);
  const replicas = outcome.members.filter((m) => m.role === 'replica');
  const ready = lagging.length === 0 && outcome.pending.length === 0;
  const primary = podName(target.name, primaryOrdinal);
  const message = ready
    ? replicas.length === 0
      ? `${primary} is the only member`
      : `${replicas.length} replica(s) streaming from ${primary}`
    : [...lagging.map((m) => `${podName(target.name, m.ordinal)} ${m.state}`), ...outcome.pending].join('; ');
  return { ready, message, members, changes: outcome.changes, removed: outcome.removed };
}
