import { workflowInfo } from '@temporalio/workflow';
import type { DatabaseSpec, DatabaseStatus } from '../../crds';
import type { DriftNotice, EngineBuild, SpecUpdate, UpgradeProgress, WorkflowLimits } from '../signals';

/** Workflow state; carried across continueAsNew. Holds no secret (DESIGN.md rule 3). */
export interface State {
  uid?: string;
  /** Newest generation received, not yet necessarily handled. */
  latest?: SpecUpdate;
  /** Generation fully reconciled (Ready) or permanently rejected. */
  handledGeneration?: number;
  /** Spec applied by the last successful reconcile. */
  applied?: DatabaseSpec;
  status: DatabaseStatus;
  eventSeq: number;
  drift: DriftNotice[];
  /** A transient failure asked for another attempt of the current generation. */
  retryPending: boolean;
  /** uid of an incarnation found gone (deleted without the finalizer): the workflow ends. */
  goneUid?: string;
  /**
   * Version and image the StatefulSet runs (the truth behind status.currentVersion). Absent in
   * state carried from before upgrades existed: then those of `applied`.
   */
  running?: EngineBuild;
  /**
   * The generation whose upgrade did not complete (failed, cancelled, rolled back): its version
   * and image are not tried again, also at resync or drift, until a newer generation arrives.
   */
  failedUpgrade?: { uid: string; generation: number };
  /** A person asked to cancel the running upgrade (annotation); not yet handled. */
  cancelUpgrade?: boolean;
  /** A backup run reported its outcome (status.lastBackup) and the status must be written. */
  backupDirty?: boolean;
  /** spec.backup (enabled, schedule) the backup Schedule was last made to match. */
  backupScheduleFor?: string;
  /** spec.bootstrap.fromBackup restored into this incarnation (a restore runs once). */
  restoredFrom?: string;
  /**
   * The generation a run left unfinished to continue as new (its history was full): the next run
   * takes it up where the waits were, without announcing it again.
   */
  resuming?: number;
  /** Failovers started by this Database's workflow runs: numbers each child's workflow id. */
  failovers?: number;
  /** A person asked for a switchover to this member (annotation); not yet handled. */
  switchoverTo?: string;
  /** Switchovers started by this Database's workflow runs: numbers each child's workflow id. */
  switchovers?: number;
  /** The verdict on a generation's spec (recorded by an activity), reused by its drift and resyncs. */
  assessed?: {
    uid: string;
    generation: number;
    runningVersion?: string;
    verdict: { ok: boolean; reason?: string; message?: string; spec?: DatabaseSpec };
  };
}

export function freshState(): State {
  return { status: {}, eventSeq: 0, drift: [], retryPending: false };
}

/**
 * One run of the Database workflow: the state it carries and what it is doing now. Every step
 * module receives it (or a Generation built on it) instead of sharing closures.
 */
export interface Entity {
  readonly namespace: string;
  readonly name: string;
  readonly state: State;
  /** What the workflow does now, for the state query. */
  step: string;
  /** Progress of the running upgrade child, reported in status and Events by the upgrade step. */
  readonly upgradeProgress: UpgradeProgress[];
  readonly limits: Required<WorkflowLimits>;
  /** The upgrade child this run waits for, while a cancel request can still change it. */
  upgrading?: UpgradeInFlight;
}

/** An upgrade in flight, as the cancelUpgrade Update's validator judges a request against it. */
export interface UpgradeInFlight {
  uid: string;
  generation: number;
  fromVersion: string;
  toVersion: string;
  /** `postgres 15 → postgres 15.20`. */
  text: string;
  workflowId: string;
  /**
   * Why it rolls back, once it does (a failed gate, the deadline, a cancellation): the rollback
   * runs to its end in a non-cancellable scope, so there is nothing left to cancel.
   */
  rollingBack?: string;
}

/** Continue as new well before Temporal's limits (51,200 events / 50 MB). */
export const DEFAULT_LIMITS: Required<WorkflowLimits> = {
  historyEvents: 2_000,
  readyWaitSeconds: 60,
  // Six hours: with one timer and one activity per look, 8 Temporal actions per idle day.
  resyncSeconds: 6 * 3600,
};

/** The incarnation this workflow serves is gone and no newer one has arrived. */
export function isGone(state: State): boolean {
  return !!state.goneUid && state.goneUid === (state.latest?.uid ?? state.uid);
}

/** A spec the workflow has not reconciled yet: a new incarnation, a deletion, a newer generation. */
export function newGeneration(state: State): boolean {
  return (
    !!state.latest &&
    (state.latest.uid !== state.uid ||
      state.latest.deleting ||
      state.handledGeneration === undefined ||
      state.latest.generation > state.handledGeneration)
  );
}

/** A newer spec or a deletion arrived since `update`: the step working on it is obsolete. */
export function supersedes(state: State, update: SpecUpdate): boolean {
  return (
    !state.latest ||
    state.goneUid === update.uid ||
    state.latest.uid !== update.uid ||
    state.latest.deleting ||
    state.latest.generation > update.generation
  );
}

/** What the StatefulSet runs: recorded since upgrades exist, else what the last reconcile applied. */
export function runningBuild(state: State): EngineBuild | undefined {
  if (state.running) return state.running;
  return state.applied && { version: state.applied.version, image: state.applied.image };
}

/** The run's history is as long as it may grow: time to continue as new. */
export function historyFull(entity: Entity): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > entity.limits.historyEvents;
}
