import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { DatabaseSpec, DatabaseStatus } from '../crds';

/**
 * The messages that reach a Database's workflow. The watcher sends them (signalWithStart, so the
 * first one starts the workflow); their definitions live here so that sender and receiver share
 * one name and one payload type.
 */

/** A generation of the Database as the watcher saw it; `deleting` once deletionTimestamp is set. */
export interface SpecUpdate {
  uid: string;
  generation: number;
  /**
   * As stored, without `parameters`: those travel by reference (contracts/parameters-digest.ts),
   * so that no history holds them. Runs started before that carry them here.
   */
  spec: DatabaseSpec;
  /** Digest of `spec.parameters` as stored; absent when the Database sets none. */
  parametersDigest?: string;
  deleting: boolean;
  /**
   * The object no longer exists and its deletion never went through the finalizer (removed by
   * hand, or deleted before the workflow added it). The workflow ends without touching data:
   * what it could delete by label might by then belong to a re-created Database of the same name.
   */
  gone?: boolean;
}

export type OwnedKind = 'ConfigMap' | 'Secret' | 'StatefulSet' | 'Service';

/**
 * An object the operator owns was changed by someone else, or disappeared; or (`readiness`) the
 * StatefulSet's pods stopped, or started again, being all ready.
 */
export interface DriftNotice {
  kind: OwnedKind;
  name: string;
  change: 'modified' | 'deleted' | 'readiness';
}

export const specSignal = defineSignal<[SpecUpdate]>('spec');
export const driftSignal = defineSignal<[DriftNotice]>('drift');

/**
 * A person asked to cancel the running upgrade (annotation durable.dev/cancel-upgrade, seen by the
 * watcher). The upgrade rolls back; the workflow then removes the annotation.
 */
export interface CancelUpgradeRequest {
  uid: string;
}
export const cancelUpgradeSignal = defineSignal<[CancelUpgradeRequest]>('cancelUpgrade');

/** The version and image of the engine, as a Database runs it. */
export interface EngineBuild {
  version: string;
  /** spec.image; absent: the official image of the version. */
  image?: string;
}

/** Workflow ID of the upgrade of one generation of a Database (a child of its workflow). */
export function upgradeWorkflowId(namespace: string, name: string, generation: number): string {
  return `upgrade/${namespace}/${name}/g${generation}`;
}

/** Registered name of the upgrade workflow function (workflows/upgrade.ts). */
export const UPGRADE_WORKFLOW_TYPE = 'upgradeWorkflow';

/** Why an upgrade rolls back (reasons of the Upgraded condition). */
export type UpgradeCause = 'UpgradeFailed' | 'UpgradeCancelled';

/**
 * Progress of an upgrade, sent by the upgrade workflow to its Database's workflow, which owns the
 * status and the Events and reports each step there.
 */
export type UpgradeProgress =
  | { stage: 'member-updating' | 'member-updated'; ordinal: number; message: string }
  | { stage: 'rolling-back'; cause: UpgradeCause; message: string };
export const upgradeProgressSignal = defineSignal<[UpgradeProgress]>('upgradeProgress');

/** What the workflow knows, for `temporal workflow query` and tests. */
export interface DatabaseWorkflowView {
  uid?: string;
  observedGeneration?: number;
  pendingGeneration?: number;
  phase?: DatabaseStatus['phase'];
  step?: string;
  status: DatabaseStatus;
}
export const stateQuery = defineQuery<DatabaseWorkflowView>('state');

/** Workflow ID of a Database (DESIGN.md, fixed names). */
export function databaseWorkflowId(namespace: string, name: string): string {
  return `database/${namespace}/${name}`;
}

/** Registered name of the Database workflow function (workflows/database/workflow.ts). */
export const DATABASE_WORKFLOW_TYPE = 'databaseWorkflow';

/** Arguments the watcher starts a Database's workflow with; the rest arrives by signal. */
export interface DatabaseWorkflowInput {
  namespace: string;
  name: string;
  /** State carried across continueAsNew; absent on a fresh start. */
  carried?: unknown;
  /** Bounds of the run (the watcher's config; defaults when absent). */
  limits?: WorkflowLimits;
}

/**
 * How far a Database workflow run may go before it continues as new, and how long one readiness
 * wait lasts. Set by the operator's config (DATABASE_HISTORY_LIMIT, READY_WAIT_SECONDS,
 * RESYNC_SECONDS).
 */
export interface WorkflowLimits {
  /** Events in one run's history; the run continues as new past it, also inside a generation. */
  historyEvents?: number;
  /** One readiness, replication or Job wait returns after this long to report progress. */
  readyWaitSeconds?: number;
  /**
   * The periodic look at a Database at rest, about this often (jittered by ±10%); the watcher's
   * change and drift signals carry the work in between.
   */
  resyncSeconds?: number;
}

/** A backup run of this Database reached its final phase (sent by workflows/backup.ts). */
export interface BackupNotice {
  backupName: string;
  phase: 'Succeeded' | 'Failed';
  finishedAt: string;
  message: string;
}
export const backupSignal = defineSignal<[BackupNotice]>('backup');
