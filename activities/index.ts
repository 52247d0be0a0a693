import type { WorkerMetrics } from '../common/metrics';
import type { DatabaseBackupStatus, DatabaseStatus, DeletionPolicy } from '../crds';
import {
  deleteBackupRecord,
  ensureBackupRecord,
  ensureBackupStorage,
  listExpiredBackups,
  loadBackupPlan,
  recordBackupOutcome,
  startBackupJob,
  startDeleteDataJob,
  updateBackupStatus,
  waitForBackupFinished,
  type BackupRecordInput,
  type BackupRef,
} from './backup';
import { waitForJob } from './jobs';
import { checkRestoreSource, recordRestored, startRestoreJob } from './restore';
import { deleteBackupSchedule, ensureBackupSchedule, type TemporalDeps } from './backup-schedule';
import { applyConfigMap, applyServices, applyStatefulSet, ensureSecret } from './database-objects';
import { assessSpec } from './spec-check';
import { inspectAtRest } from './at-rest';
import { ensureObjects } from './ensure-objects';
import {
  assessPrimary,
  chooseFailoverTarget,
  completeFailover,
  fencePrimary,
  pointReplicasAt,
  promoteMember,
  reserveSlots,
} from './failover';
import { addFinalizer, removeFinalizer } from './finalizer';
import { checkSwitchover, clearSwitchoverRequest, waitForCatchUp, waitForHandover } from './switchover';
import type { KubeClients } from './kube-clients';
import { checkPrerequisites } from './prerequisites';
import { waitForStatefulSetReady } from './readiness';
import { releaseDatabase } from './release';
import { applyRollout, clearCancelUpgrade, deletePodsOfRevision, waitForMember } from './rollout';
import { checkMemberHealth, configureReplication, waitForReplicationReady } from './replication';
import { recloneDivergedStandbys } from './rejoin';
import type { EndpointResolver } from '../engines/resolver';
import { reportStatus, type EventRecord, type ReportOptions } from './status';
import type { DatabaseRef, DatabaseTarget } from './types';

export interface ActivityDependencies {
  clients: KubeClients;
  report: ReportOptions;
  /** The worker's Temporal client and task queue, for the backup Schedules. */
  temporal: TemporalDeps;
  /** The worker's metrics (durable_backup_runs_total); absent in tests that need none. */
  metrics?: WorkerMetrics;
  /** How the activities reach the database engines (cmd/worker.ts builds it from the config). */
  engines: { resolver: EndpointResolver };
}

/**
 * The activities of the Database workflow, bound to the worker's Kubernetes clients. Each is one
 * small idempotent step named for what it does; the workflow gives each call a summary naming the
 * object ("apply StatefulSet production/orders-db") that the Temporal UI shows.
 */
export function createActivities({ clients, report, temporal, metrics, engines }: ActivityDependencies) {
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
    reportStatus: (ref: DatabaseRef, status: DatabaseStatus, event?: EventRecord | EventRecord[]) =>
      reportStatus(clients, report, ref, status, event),
    releaseDatabase: (ref: DatabaseRef, policy: DeletionPolicy) => releaseDatabase(clients, ref, policy),
    removeFinalizer: (ref: DatabaseRef) => removeFinalizer(clients, ref),
    // Upgrades (workflows/upgrade.ts): a rolling update member by member, and its rollback.
    applyRollout: (
      target: DatabaseTarget,
      configHash: string,
      partition: number,
      upgradingFrom?: { version: string; image?: string },
    ) => applyRollout(clients, target, configHash, partition, upgradingFrom),
    waitForMember: (target: DatabaseTarget, ordinal: number, budgetSeconds: number) =>
      waitForMember(clients, target, ordinal, budgetSeconds),
    deletePodsOfRevision: (target: DatabaseTarget, revision: string) =>
      deletePodsOfRevision(clients, target, revision),
    clearCancelUpgrade: (ref: DatabaseRef) => clearCancelUpgrade(clients, ref),

    // Backups (workflows/backup.ts), their Schedule and restore (workflows/database/steps/restore.ts).
    ensureBackupSchedule: (target: DatabaseTarget) => ensureBackupSchedule(temporal, target),
    deleteBackupSchedule: (namespace: string, databaseName: string) =>
      deleteBackupSchedule(temporal, namespace, databaseName),
    loadBackupPlan: (namespace: string, databaseName: string) =>
      loadBackupPlan(clients, namespace, databaseName),
    ensureBackupRecord: (input: BackupRecordInput) => ensureBackupRecord(clients, input),
    updateBackupStatus: (
      ref: BackupRef,
      status: { [K in keyof DatabaseBackupStatus]?: DatabaseBackupStatus[K] | null },
    ) => updateBackupStatus(clients, ref, status),
    ensureBackupStorage: (target: DatabaseTarget) => ensureBackupStorage(clients, target),
    waitForBackupFinished: (namespace: string, name: string, budgetSeconds: number) =>
      waitForBackupFinished(clients, namespace, name, budgetSeconds),
    startBackupJob: (target: DatabaseTarget, backup: BackupRef, attempt: number) =>
      startBackupJob(clients, target, backup, attempt),
    startDeleteDataJob: (target: DatabaseTarget, backup: BackupRef, location: string) =>
      startDeleteDataJob(clients, target, backup, location),
    startRestoreJob: (target: DatabaseTarget, location: string) => startRestoreJob(clients, target, location),
    waitForJob: (namespace: string, jobName: string, budgetSeconds: number) =>
      waitForJob(clients, namespace, jobName, budgetSeconds),
    recordBackupOutcome: (
      database: { namespace: string; name: string; uid?: string },
      backup: BackupRef,
      event: EventRecord,
    ) => recordBackupOutcome(clients, report, metrics, database, backup, event),
    listExpiredBackups: (
      namespace: string,
      databaseName: string,
      retention: { count?: number; maxAge?: string },
      keep: string,
    ) => listExpiredBackups(clients, namespace, databaseName, retention, keep),
    deleteBackupRecord: (ref: BackupRef) => deleteBackupRecord(clients, ref),
    assessSpec: (
      target: Omit<DatabaseTarget, 'spec'> & { spec: unknown },
      opts: { runningVersion?: string; observe: boolean },
    ) => assessSpec(clients, target, opts),
    checkRestoreSource: (target: DatabaseTarget) => checkRestoreSource(clients, target),
    recordRestored: (target: DatabaseTarget, backup: string) => recordRestored(clients, target, backup),
    configureReplication: (target: DatabaseTarget) => configureReplication(engineDeps, target),
    recloneDivergedStandbys: (target: DatabaseTarget, members: string[]) =>
      recloneDivergedStandbys(engineDeps, target, members),
    waitForReplicationReady: (target: DatabaseTarget, budgetSeconds: number) =>
      waitForReplicationReady(engineDeps, target, budgetSeconds),
    checkMemberHealth: (target: DatabaseTarget, ordinal: number) =>
      checkMemberHealth(engineDeps, target, ordinal),
    inspectAtRest: (target: DatabaseTarget) => inspectAtRest({ ...engineDeps, temporal }, target),
    ensureObjects: (target: DatabaseTarget, opts: { statefulSet: boolean }) =>
      ensureObjects(clients, target, opts),

    // Failover (workflows/failover.ts): each step reads the role record again.
    assessPrimary: (target: DatabaseTarget) => assessPrimary(engineDeps, target),
    chooseFailoverTarget: (target: DatabaseTarget, from: number) =>
      chooseFailoverTarget(engineDeps, target, from),
    fencePrimary: (target: DatabaseTarget, from: number, to: number) =>
      fencePrimary(clients, target, from, to),
    reserveSlots: (target: DatabaseTarget, to: number) => reserveSlots(engineDeps, target, to),
    pointReplicasAt: (target: DatabaseTarget, from: number, to: number, upstream: 'member' | 'service') =>
      pointReplicasAt(engineDeps, target, from, to, upstream),
    promoteMember: (target: DatabaseTarget, to: number) => promoteMember(engineDeps, target, to),
    completeFailover: (target: DatabaseTarget, to: number) => completeFailover(clients, target, to),

    // Planned switchover (workflows/switchover.ts): the failover's steps, and these.
    checkSwitchover: (target: DatabaseTarget, to: number) => checkSwitchover(engineDeps, target, to),
    waitForCatchUp: (target: DatabaseTarget, from: number, to: number, budgetSeconds: number) =>
      waitForCatchUp(engineDeps, target, from, to, budgetSeconds),
    waitForHandover: (target: DatabaseTarget, from: number, to: number, atLeast: string) =>
      waitForHandover(engineDeps, target, from, to, atLeast),
    clearSwitchoverRequest: (ref: DatabaseRef, value: string) => clearSwitchoverRequest(clients, ref, value),
  };
}

export type DatabaseActivities = ReturnType<typeof createActivities>;

/**
 * What each workflow may call: one worker registers every activity, but each workflow sees only
 * its own (issue 13), so a step cannot reach for another workflow's activity by accident.
 */
export type DatabaseWorkflowActivities = Pick<
  DatabaseActivities,
  | 'assessSpec'
  | 'ensureObjects'
  | 'inspectAtRest'
  | 'reportStatus'
  | 'waitForStatefulSetReady'
  | 'configureReplication'
  | 'recloneDivergedStandbys'
  | 'waitForReplicationReady'
  | 'checkRestoreSource'
  | 'startRestoreJob'
  | 'waitForJob'
  | 'recordRestored'
  | 'ensureBackupSchedule'
  | 'deleteBackupSchedule'
  | 'clearCancelUpgrade'
  | 'releaseDatabase'
  | 'removeFinalizer'
  | 'assessPrimary'
  | 'clearSwitchoverRequest'
  // Runs from before one-pass-provision-v1 apply the objects one activity each.
  | 'addFinalizer'
  | 'checkPrerequisites'
  | 'applyConfigMap'
  | 'ensureSecret'
  | 'applyStatefulSet'
  | 'applyServices'
>;
export type UpgradeWorkflowActivities = Pick<
  DatabaseActivities,
  | 'assessPrimary'
  | 'applyRollout'
  | 'waitForMember'
  | 'checkMemberHealth'
  | 'deletePodsOfRevision'
  | 'waitForStatefulSetReady'
  | 'waitForBackupFinished'
>;
export type FailoverWorkflowActivities = Pick<
  DatabaseActivities,
  | 'assessPrimary'
  | 'chooseFailoverTarget'
  | 'fencePrimary'
  | 'reserveSlots'
  | 'pointReplicasAt'
  | 'promoteMember'
  | 'completeFailover'
  | 'configureReplication'
  | 'reportStatus'
>;
export type SwitchoverWorkflowActivities = Pick<
  DatabaseActivities,
  | 'checkSwitchover'
  | 'waitForCatchUp'
  | 'fencePrimary'
  | 'waitForHandover'
  | 'reserveSlots'
  | 'promoteMember'
  | 'completeFailover'
  | 'configureReplication'
>;
export type BackupWorkflowActivities = Pick<
  DatabaseActivities,
  | 'loadBackupPlan'
  | 'ensureBackupRecord'
  | 'updateBackupStatus'
  | 'recordBackupOutcome'
  | 'ensureBackupStorage'
  | 'startBackupJob'
  | 'waitForJob'
  | 'listExpiredBackups'
  | 'startDeleteDataJob'
  | 'deleteBackupRecord'
>;
export type { DatabaseRef, DatabaseTarget } from './types';
export type { EventRecord } from './status';
export type { BackupPlan, BackupRecord, BackupRef, ExpiredBackup } from './backup';
export type { JobOutcome } from './jobs';
export { RestoreFailures } from './restore';
export type { ScheduleOutcome, ScheduledBackupInput } from './backup-schedule';
export type { HealthReport, MemberReport, ReplicationReport } from './replication';
export { FailureTypes } from './errors';
export type { SpecAssessment } from './spec-check';
export type { AtRestReport } from './at-rest';
export type { Reclone, RejoinReport } from './rejoin';
export type { CatchUp, Handover, SwitchoverCheck } from './switchover';
export type { Candidate, FailoverChoice, PrimaryAssessment, RepointReport } from './failover';
export { failoverSupported } from './failover';
export type { EnsuredObjects } from './ensure-objects';
export type { MemberState, RolloutState } from './rollout';
