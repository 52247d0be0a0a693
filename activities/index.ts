import type { DatabaseStatus, DeletionPolicy } from '../crds';
import { applyConfigMap, applyServices, applyStatefulSet, ensureSecret } from './database-objects';
import { addFinalizer, removeFinalizer } from './finalizer';
import type { KubeClients } from './kube-clients';
import { checkPrerequisites } from './prerequisites';
import { waitForStatefulSetReady } from './readiness';
import { releaseDatabase } from './release';
import { checkMemberHealth, configureReplication, waitForReplicationReady } from './replication';
import type { EndpointResolver } from '../engines/resolver';
import { reportStatus, type EventRecord, type ReportOptions } from './status';
import type { DatabaseRef, DatabaseTarget } from './types';

export interface ActivityDependencies {
  clients: KubeClients;
  report: ReportOptions;
  /** How the activities reach the database engines (cmd/worker.ts builds it from the config). */
  engines: { resolver: EndpointResolver };
}

/**
 * The activities of the Database workflow, bound to the worker's Kubernetes clients. Each is one
 * small idempotent step named for what it does; the workflow gives each call a summary naming the
 * object ("apply StatefulSet production/orders-db") that the Temporal UI shows.
 */
export function createActivities({ clients, report, engines }: ActivityDependencies) {
  const engineDeps = { clients, resolver: engines.resolver };
  return {
    addFinalizer: (ref: DatabaseRef) => addFinalizer(clients, ref),
    checkPrerequisites: (target: DatabaseTarget) => checkPrerequisites(clients, target),
    applyConfigMap: (target: DatabaseTarget) => applyConfigMap(clients, target),
    ensureSecret: (target: DatabaseTarget) => ensureSecret(clients, target),
    applyStatefulSet: (target: DatabaseTarget, configHash: string) =>
      applyStatefulSet(clients, target, configHash),
    applyServices: (target: DatabaseTarget) => applyServices(clients, target),
    waitForStatefulSetReady: (target: DatabaseTarget, budgetSeconds: number) =>
      waitForStatefulSetReady(clients, target, budgetSeconds),
    reportStatus: (ref: DatabaseRef, status: DatabaseStatus, event?: EventRecord) =>
      reportStatus(clients, report, ref, status, event),
    releaseDatabase: (ref: DatabaseRef, policy: DeletionPolicy) => releaseDatabase(clients, ref, policy),
    removeFinalizer: (ref: DatabaseRef) => removeFinalizer(clients, ref),
    configureReplication: (target: DatabaseTarget) => configureReplication(engineDeps, target),
    waitForReplicationReady: (target: DatabaseTarget, budgetSeconds: number) =>
      waitForReplicationReady(engineDeps, target, budgetSeconds),
    checkMemberHealth: (target: DatabaseTarget, ordinal: number) =>
      checkMemberHealth(engineDeps, target, ordinal),
  };
}

export type DatabaseActivities = ReturnType<typeof createActivities>;
export type { DatabaseRef, DatabaseTarget } from './types';
export type { EventRecord } from './status';
export type { HealthReport, MemberReport, ReplicationReport } from './replication';
export { FailureTypes } from './errors';
