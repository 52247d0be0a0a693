import {
  isCancellation,
  setCurrentDetails,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { EventRecord, MemberReport } from '../../activities';
import type { DatabasePhase, DatabaseStatus } from '../../crds';
import { act } from '../activity-options';
import { ConditionTypes, setCondition, type ConditionType, type ConditionUpdate } from '../conditions';
import { DatabasePhase as PhaseAttribute } from '../search-attributes';
import type { BackupNotice, SpecUpdate } from '../signals';
import { statusText } from '../status-text';
import type { Entity, State } from './state';

export type DatabaseEvent = Omit<EventRecord, 'key'>;
export type ConditionStatus = 'True' | 'False' | 'Unknown';

/**
 * The status of one Database as one generation's steps change it: conditions, phase, members and
 * the Events that announce them. The only writer of the Database's status (a second writer's
 * conditions would be lost at the next report). It changes only what differs, and writes only
 * when something changed or an Event is due, so that a resync that finds everything in place
 * writes nothing.
 */
export class StatusBook {
  private dirty = false;
  private readonly id: string;

  constructor(
    private readonly entity: Entity,
    private readonly update: SpecUpdate,
  ) {
    this.id = `${entity.namespace}/${entity.name}`;
  }

  private get status() {
    return this.entity.state.status;
  }

  mark(type: ConditionType, status: ConditionStatus, reason: string, message: string): void {
    const before = JSON.stringify(this.status.conditions ?? []);
    const u: ConditionUpdate = { type, status, reason, message };
    this.status.conditions = setCondition(
      this.status.conditions ?? [],
      u,
      this.update.generation,
      new Date(),
    );
    if (JSON.stringify(this.status.conditions) !== before) this.dirty = true;
  }

  phase(p: DatabasePhase): void {
    if (this.status.phase !== p) {
      this.status.phase = p;
      upsertSearchAttributes([{ key: PhaseAttribute, value: p }]);
      this.dirty = true;
    }
  }

  setMembers(members: MemberReport[]): void {
    if (JSON.stringify(this.status.members ?? []) === JSON.stringify(members)) return;
    this.status.members = members;
    this.dirty = true;
  }

  /** status.currentPrimary and targetPrimary (pod names; target only while a failover runs). */
  setPrimary(current: string, target?: string): void {
    if (this.status.currentPrimary === current && this.status.targetPrimary === target) return;
    this.status.currentPrimary = current;
    // Merge-patched status: null, not absence, removes a target that was there.
    (this.status as { targetPrimary?: string | null }).targetPrimary = target ?? null;
    this.dirty = true;
  }

  /** The last planned switchover: where it stands, stamped with the time it got there. */
  setSwitchover(switchover: Omit<NonNullable<DatabaseStatus['switchover']>, 'time'>): void {
    this.status.switchover = { ...switchover, time: new Date().toISOString() };
    this.dirty = true;
  }

  /** Writes the status if it changed, with the Events given (then always), in one activity. */
  async report(...events: (DatabaseEvent | undefined)[]): Promise<void> {
    const due = events.filter((e): e is DatabaseEvent => !!e);
    if (!this.dirty && due.length === 0) return;
    this.dirty = false;
    const { namespace, name } = this.entity;
    const records = due.map((e) => keyed(this.entity, e));
    await act(`update status of Database ${this.id}`).reportStatus(
      { namespace, name, uid: this.update.uid },
      this.status,
      records.length > 1 ? records : records[0],
    );
  }

  /**
   * A repair (drift, resync) whose wait ends unready reports Degraded and looks again after
   * RETRY_AFTER, rather than waiting indefinitely.
   */
  async degrade(reason: string, message: string): Promise<void> {
    this.phase('Degraded');
    this.mark(ConditionTypes.Ready, 'False', reason, message);
    await this.report({ type: 'Warning', reason, message });
  }
}

/** An Event with a key unique to this run, so a retried report finds its Event instead of adding one. */
export function keyed(entity: Entity, event: DatabaseEvent): EventRecord {
  entity.state.eventSeq += 1;
  return { ...event, key: `${workflowInfo().runId}/${entity.state.eventSeq}` };
}

/** An Event for an object the step created or changed; nothing when it was already as wanted. */
export function announce(kind: string, objectName: string, outcome: string): DatabaseEvent | undefined {
  if (outcome === 'unchanged') return undefined;
  const verb = outcome === 'created' ? 'Created' : 'Updated';
  return {
    type: 'Normal',
    reason: `${kind.replace(/s$/, '')}${verb}`,
    message: `${kind} ${objectName} ${outcome}`,
  };
}

/**
 * Reports a generation that cannot be reconciled now: Ready=False with the reason, an Event.
 * Permanent unless `state.retryPending` asks for another attempt (then Degraded).
 */
export async function reportFailure(entity: Entity, update: SpecUpdate, reason: string, failure: string) {
  const { namespace, name, state } = entity;
  const ref = { namespace, name, uid: update.uid };
  // Conditions and Events are read by anyone who can read the Database: no credential in them.
  const message = statusText(failure, 1024);
  const now = new Date();
  const permanent = !state.retryPending;
  state.status.phase = permanent ? 'Failed' : 'Degraded';
  upsertSearchAttributes([{ key: PhaseAttribute, value: state.status.phase }]);
  state.status.observedGeneration = update.generation;
  for (const u of [
    { type: ConditionTypes.Ready, status: 'False', reason, message },
    { type: ConditionTypes.Progressing, status: 'False', reason, message },
  ] as const) {
    state.status.conditions = setCondition(state.status.conditions ?? [], u, update.generation, now);
  }
  entity.step = `failed: ${reason}`;
  setCurrentDetails(`**${reason}**: ${message}`);
  try {
    await act(`report ${reason} on Database ${namespace}/${name}`).reportStatus(
      ref,
      state.status,
      keyed(entity, { type: 'Warning', reason, message }),
    );
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Even the report failed (API server unreachable for minutes): try the whole generation
    // again later rather than letting the workflow fail.
    state.retryPending = true;
  }
}

/** A backup's outcome in the status: lastBackup and the LastBackupSucceeded condition. */
export function noteBackup(state: State, notice: BackupNotice): void {
  state.status.lastBackup = { name: notice.backupName, phase: notice.phase, finishedAt: notice.finishedAt };
  state.status.conditions = setCondition(
    state.status.conditions ?? [],
    {
      type: ConditionTypes.LastBackupSucceeded,
      status: notice.phase === 'Succeeded' ? 'True' : 'False',
      reason: notice.phase === 'Succeeded' ? 'BackupSucceeded' : 'BackupFailed',
      message: notice.message,
    },
    state.status.observedGeneration ?? 0,
    new Date(),
  );
}
