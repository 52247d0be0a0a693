import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  executeChild,
  ParentClosePolicy,
  defineQuery,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { DatabaseTarget, UpgradeWorkflowActivities } from '../activities';
import { activitiesOf, quick, READY_WAIT_BUDGET_SECONDS, waiting } from './activity-options';
import { describeFailure, type FailureInfo } from './failure';
import type { BackupResult, backupWorkflow } from './backup';
import { BACKUP_WORKFLOW_TYPE, backupWorkflowId, preUpgradeBackupName } from '../contracts/backup-names';
import { upgradeProgressSignal, type EngineBuild, type UpgradeCause, type UpgradeProgress } from './signals';
import type { switchoverWorkflow } from './switchover';
import { SWITCHOVER_WORKFLOW_TYPE, upgradeSwitchoverWorkflowId } from './switchover-names';
import { DatabaseEngine, DatabaseName, DatabaseNamespace } from './search-attributes';

/** This workflow's own activities. */
const act = activitiesOf<UpgradeWorkflowActivities>();

export interface UpgradeInput {
  /** The generation to upgrade to (its spec carries the new version and image). */
  target: DatabaseTarget;
  /** What runs now, and what a rollback returns to. */
  previous: EngineBuild;
  /** Hash of the ConfigMap the Database workflow applied for this generation. */
  configHash: string;
  /** Workflow time (ms since the epoch) by which the upgrade must be done; later, it rolls back. */
  deadline: number;
}

export interface UpgradeOutcome {
  /**
   * Upgraded: every member runs the target. RolledBack: back on `previous` and healthy.
   * NotStarted: failed or cancelled before any member changed. RollbackIncomplete: the rollback
   * was applied but its members were not all healthy within its deadline, or the Database is
   * being deleted.
   */
  state: 'Upgraded' | 'RolledBack' | 'NotStarted' | 'RollbackIncomplete';
  cause?: UpgradeCause;
  message: string;
  /** The build the StatefulSet's template now holds. */
  running: EngineBuild;
  /** Ordinals moved to the target, in order. */
  updated: number[];
  /** The pre-upgrade backup (DatabaseBackup name), when spec.backup.enabled. */
  backup?: string;
  /** From the start of the upgrade to the failure (or cancellation) that ended the rollout. */
  detectedAfterMs?: number;
  durationMs: number;
}

/** What the upgrade is doing, for `temporal workflow query --type upgradeState`. */
export interface UpgradeView {
  step: string;
  /** The new template may have reached the StatefulSet (its first apply was started). */
  touched: boolean;
  updated: number[];
  backup?: string;
  badRevision?: string;
  cause?: UpgradeCause;
}
export const upgradeStateQuery = defineQuery<UpgradeView>('upgradeState');

/** A member gate never gets less than this, however short the deadline is split. */
export const MIN_MEMBER_GATE_SECONDS = 20;

/**
 * Time one member may take to run the new revision, be Ready and answer the engine query: an
 * equal share of spec.upgrade.timeoutSeconds per member (at least MIN_MEMBER_GATE_SECONDS), so a
 * member that never becomes healthy is detected after its share, not after the whole deadline.
 */
export function memberGateSeconds(timeoutSeconds: number, replicas: number): number {
  return Math.max(MIN_MEMBER_GATE_SECONDS, Math.floor(timeoutSeconds / Math.max(1, replicas)));
}

/** Pause between two engine queries of a member that is Ready but not yet healthy. */
const HEALTH_RETRY = '2 seconds';

/** The engine query of a member (activities/replication.ts, owned by the engine work). */
interface MemberHealth {
  healthy: boolean;
  role?: 'primary' | 'replica';
  serverVersion?: string;
  message: string;
}
interface EngineHealthActivities {
  checkMemberHealth(target: DatabaseTarget, ordinal: number): Promise<MemberHealth>;
}
const engineAct = (summary: string) => proxyActivities<EngineHealthActivities>({ ...quick, summary });

/**
 * A cancelled apply is waited for until it has really ended: an apply still in flight could
 * otherwise land after the rollback and bring the new template back.
 */
const applying = { ...waiting, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };

/** Rollback steps retry until they succeed (or fail for good): a rollback must not give up early. */
const untilDone = {
  ...waiting,
  retry: { ...waiting.retry, maximumInterval: '1 minute', maximumAttempts: Number.POSITIVE_INFINITY },
};

/**
 * One upgrade of a Database (`upgrade/<namespace>/<name>/g<generation>`), a child of the Database's
 * workflow, so each upgrade is a run of its own in the Temporal UI.
 *
 * Rolling update with the StatefulSet partition: the new template is applied with the partition
 * at the replica count (nothing moves), then the partition goes down one member at a time, the
 * replicas first (highest ordinal) and the primary (ordinal 0) last. Each member is gated: its
 * pod runs the update revision and is Ready, and the engine answers a health query, within the
 * member's share of the deadline. A failed gate, the deadline or a cancellation rolls back: the
 * previous template with partition 0, the pods of the bad revision deleted (a StatefulSet never
 * replaces a pod that did not become Ready), then a wait for health. The rollback runs in a
 * non-cancellable scope: a second cancellation cannot leave it half done.
 */
export async function upgradeWorkflow(input: UpgradeInput): Promise<UpgradeOutcome> {
  const { target, previous, configHash, deadline } = input;
  const { namespace, name, spec } = target;
  const id = `${namespace}/${name}`;
  const started = Date.now();
  const timeoutSeconds = spec.upgrade.timeoutSeconds;
  const gateSeconds = memberGateSeconds(timeoutSeconds, spec.replicas);
  const to = `${spec.engine} ${spec.version}${spec.image ? ` (${spec.image})` : ''}`;
  const from = `${spec.engine} ${previous.version}${previous.image ? ` (${previous.image})` : ''}`;
  const view: UpgradeView = { step: 'starting', touched: false, updated: [] };
  setHandler(upgradeStateQuery, () => view);
  const step = (what: string) => {
    view.step = what;
    setCurrentDetails(`**${what}** (${from} → ${to})`);
  };

  let timedOut = false;
  let ended: { cause: UpgradeCause; message: string; at: number } | undefined;
  const rollout = new CancellationScope();
  const clock = new CancellationScope();
  const timer = clock
    .run(() => sleep(Math.max(0, deadline - started)))
    .then(() => {
      timedOut = true;
      rollout.cancel();
    });
  timer.catch(() => undefined);
  try {
    await rollout.run(rollForward);
  } catch (err) {
    const at = Date.now();
    if (isCancellation(err) && timedOut) {
      ended = { cause: 'UpgradeFailed', message: `not done within ${timeoutSeconds}s (${view.step})`, at };
    } else if (isCancellation(err)) {
      ended = { cause: 'UpgradeCancelled', message: `cancelled while ${view.step}`, at };
    } else {
      ended = { cause: 'UpgradeFailed', message: failureText(describeFailure(err)), at };
    }
  } finally {
    clock.cancel();
  }
  if (!ended) {
    step('done');
    return {
      state: 'Upgraded',
      message: `${from} → ${to}: ${spec.replicas} member(s) upgraded, replicas first, the primary last${view.backup ? `, after the pre-upgrade backup ${view.backup}` : ''}`,
      running: { version: spec.version, image: spec.image },
      updated: view.updated,
      backup: view.backup,
      durationMs: Date.now() - started,
    };
  }
  const failure = ended;
  view.cause = failure.cause;
  // Whatever happens to this workflow from now on, the rollback runs to its end.
  return CancellationScope.nonCancellable(async () => {
    const outcome = await rollback(failure);
    return {
      ...outcome,
      cause: failure.cause,
      detectedAfterMs: failure.at - started,
      durationMs: Date.now() - started,
    };
  });

  // ---------------------------------------------------------------------------------------------

  async function rollForward(): Promise<void> {
    // The StatefulSet records the build the members move from until every one passed its gate:
    // a fresh Database run (this one terminated, reset, lost) then knows what still runs and
    // runs the upgrade again, gates and all, instead of taking the template's build as running.
    const movingFrom = patched('upgrade-from-record-v1') ? previous : undefined;
    if (spec.backup.enabled) await backUp();
    step(`freeze ${id} at partition ${spec.replicas} with the new template`);
    view.touched = true;
    const frozen = await act(
      `apply StatefulSet ${id} with ${to}, partition ${spec.replicas}`,
      applying,
    ).applyRollout(target, configHash, spec.replicas, movingFrom);
    view.badRevision = frozen.updateRevision;
    // Highest ordinal first: the replicas, then the primary (ordinal 0).
    const handsOver =
      spec.upgrade.primaryUpdateMethod === 'switchover' &&
      spec.engine === 'postgres' &&
      spec.replicas > 1 &&
      patched('upgrade-switchover-v1');
    for (let ordinal = spec.replicas - 1; ordinal >= 0; ordinal--) {
      const member = memberLabel(name, ordinal);
      if (handsOver) await handOverFrom(ordinal);
      step(`update ${member}`);
      await notify({ stage: 'member-updating', ordinal, message: `updating ${member} to ${to}` });
      await act(`apply StatefulSet ${id}, partition ${ordinal}`, applying).applyRollout(
        target,
        configHash,
        ordinal,
        movingFrom,
      );
      const health = await gate(ordinal, member);
      view.updated.push(ordinal);
      await notify({ stage: 'member-updated', ordinal, message: `${member} runs ${to}: ${health}` });
    }
    step(`wait for StatefulSet ${id} to finish the rollout`);
    await waitReady(target, Math.max(0, deadline - Date.now()), 'after the last member');
    if (movingFrom) {
      step(`record on StatefulSet ${id} that every member runs ${to}`);
      await act(`apply StatefulSet ${id}: every member runs ${to}`, applying).applyRollout(
        target,
        configHash,
        0,
      );
    }
  }

  /**
   * spec.upgrade.primaryUpdateMethod switchover: when the member about to be updated is the
   * primary (the role record's), a planned switchover (workflows/switchover.ts, a child) first
   * hands its role to the member updated last, which passed its gate on the new version. A
   * switchover that cannot happen (nothing updated yet, the target not caught up in time, refused)
   * leaves the primary where it is, and it is restarted in place, as with restart.
   */
  async function handOverFrom(ordinal: number): Promise<void> {
    const { primary } = await act(`look at the primary of ${id}`).assessPrimary(target);
    if (primary !== ordinal) return;
    const toOrdinal = view.updated.at(-1);
    const member = `${name}-${ordinal}`;
    if (toOrdinal === undefined) {
      await notify({
        stage: 'member-updating',
        ordinal,
        message: `${member} is the primary and no member runs ${to} yet: it is restarted in place`,
      });
      return;
    }
    const next = `${name}-${toOrdinal}`;
    step(`switch the primary over from ${member} to ${next} before updating it`);
    const outcome = await executeChild<typeof switchoverWorkflow>(SWITCHOVER_WORKFLOW_TYPE, {
      workflowId: upgradeSwitchoverWorkflowId(namespace, name, target.generation, ordinal),
      args: [{ target, to: toOrdinal, timeoutSeconds: spec.failover?.switchoverTimeoutSeconds ?? 30 }],
      staticSummary: `switchover ${id} to ${next} (upgrade to ${to})`,
      typedSearchAttributes: [
        { key: DatabaseNamespace, value: namespace },
        { key: DatabaseName, value: name },
        { key: DatabaseEngine, value: spec.engine },
      ],
    });
    await notify({
      stage: 'member-updating',
      ordinal,
      message:
        outcome.state === 'SwitchedOver' || outcome.state === 'Already'
          ? `switched the primary over from ${member} to ${next} (writes paused ${Math.round(outcome.writesPausedMs ?? 0)} ms) before updating ${member}`
          : `no switchover to ${next} (${outcome.state}: ${outcome.reason}): ${member} is restarted in place`,
    });
  }

  /**
   * The pre-upgrade backup, as a child backup run (`backup/<ns>/<db>-pre-upgrade-g<generation>`),
   * before anything changes; its failure ends the upgrade with nothing to roll back. It counts
   * against the deadline. A cancelled upgrade leaves a running backup to finish (abandoned).
   */
  async function backUp(): Promise<void> {
    const backupName = preUpgradeBackupName(name, target.generation);
    view.backup = backupName;
    step(`pre-upgrade backup ${namespace}/${backupName}`);
    let result: Pick<BackupResult, 'phase' | 'attempts' | 'error'>;
    try {
      result = await executeChild<typeof backupWorkflow>(BACKUP_WORKFLOW_TYPE, {
        workflowId: backupWorkflowId(namespace, backupName),
        args: [{ namespace, databaseName: name, backupName, reason: 'pre-upgrade' }],
        staticSummary: `pre-upgrade backup of ${id} before ${from} → ${to}`,
        cancellationType: ChildWorkflowCancellationType.ABANDON,
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError) || !patched('upgrade-backup-join-v1'))
        throw err;
      // An earlier run of this upgrade (ended with its Database run) started it, and it goes on:
      // its outcome is waited for, through its DatabaseBackup, rather than the upgrade failing.
      result = await awaitBackup(backupName);
    }
    if (result.phase !== 'Succeeded') {
      throw gateFailure(
        `pre-upgrade backup ${backupName} failed after ${result.attempts} attempt(s): ${result.error ?? 'no detail'}`,
      );
    }
  }

  /** Waits for a backup another run is taking, until its DatabaseBackup says how it ended. */
  async function awaitBackup(
    backupName: string,
  ): Promise<Pick<BackupResult, 'phase' | 'attempts' | 'error'>> {
    for (;;) {
      const seen = await act(
        `wait for backup ${namespace}/${backupName} (started earlier)`,
        waiting,
      ).waitForBackupFinished(namespace, backupName, READY_WAIT_BUDGET_SECONDS);
      if (seen.phase === 'Succeeded' || seen.phase === 'Failed') return { ...seen, phase: seen.phase };
    }
  }

  /** Gates one member: new revision and Ready, then a healthy engine, within its share of time. */
  async function gate(ordinal: number, member: string): Promise<string> {
    const end = Math.min(deadline, Date.now() + gateSeconds * 1000);
    let last = 'not checked yet';
    for (;;) {
      const left = Math.ceil((end - Date.now()) / 1000);
      if (left <= 0)
        throw gateFailure(`${member} not Ready at the new revision within ${gateSeconds}s: ${last}`);
      step(`wait for ${member} to be Ready at the new revision`);
      const state = await act(`wait for ${member} to be Ready at the new revision`, waiting).waitForMember(
        target,
        ordinal,
        Math.min(left, READY_WAIT_BUDGET_SECONDS),
      );
      last = state.message;
      if (state.fatal) throw gateFailure(state.fatal);
      if (state.ready) break;
    }
    for (;;) {
      step(`query the engine of ${member}`);
      let health: MemberHealth;
      try {
        health = await engineAct(`check engine health of ${member}`).checkMemberHealth(target, ordinal);
      } catch (err) {
        if (isCancellation(err)) throw err;
        health = { healthy: false, message: failureText(describeFailure(err)) };
      }
      if (health.healthy) {
        return [health.role, health.serverVersion && `server ${health.serverVersion}`, health.message]
          .filter(Boolean)
          .join(', ');
      }
      if (Date.now() >= end) {
        throw gateFailure(
          `${member} is Ready but its engine is not healthy within ${gateSeconds}s: ${health.message}`,
        );
      }
      await sleep(HEALTH_RETRY);
    }
  }

  async function rollback(failure: { cause: UpgradeCause; message: string }) {
    const back: DatabaseTarget = {
      ...target,
      spec: { ...spec, version: previous.version, image: previous.image },
    };
    const why = failure.cause === 'UpgradeCancelled' ? 'cancelled' : 'failed';
    await notify({ stage: 'rolling-back', cause: failure.cause, message: failure.message });
    const result = (state: UpgradeOutcome['state'], message: string, running: EngineBuild) => ({
      state,
      message,
      running,
      updated: view.updated,
      backup: view.backup,
    });
    if (!view.touched) {
      step('nothing to roll back');
      return result(
        'NotStarted',
        `upgrade to ${to} ${why} before any member changed: ${failure.message}`,
        previous,
      );
    }
    try {
      step(`roll back ${id} to ${from}`);
      const reverted = await act(
        `apply StatefulSet ${id} with ${from}, partition 0 (rollback)`,
        untilDone,
      ).applyRollout(back, configHash, 0);
      // No bad revision known: the freeze was cancelled in flight, and with the partition at the
      // replica count no member can have moved.
      if (view.badRevision && reverted.updateRevision !== view.badRevision) {
        step(`delete the pods of ${id} created from the bad revision ${view.badRevision}`);
        await act(`delete pods of ${id} at revision ${view.badRevision}`, untilDone).deletePodsOfRevision(
          back,
          view.badRevision,
        );
      }
      step(`wait for ${id} to be healthy on ${from}`);
      await waitReady(back, timeoutSeconds * 1000, 'after the rollback');
      step('rolled back');
      return result(
        'RolledBack',
        `upgrade to ${to} ${why}: ${failure.message}; rolled back to ${from}`,
        previous,
      );
    } catch (err) {
      const f = describeFailure(err);
      step(`rollback incomplete: ${f.type}`);
      return result(
        'RollbackIncomplete',
        `upgrade to ${to} ${why}: ${failure.message}; rollback to ${from} incomplete: ${f.message}`,
        previous,
      );
    }
  }

  /** Waits for every member to be Ready at the StatefulSet's revision, for at most `ms`. */
  async function waitReady(t: DatabaseTarget, ms: number, when: string): Promise<void> {
    const end = Date.now() + ms;
    for (;;) {
      const left = Math.ceil((end - Date.now()) / 1000);
      const ready = await act(`wait for StatefulSet ${id} to be ready`, waiting).waitForStatefulSetReady(
        t,
        Math.max(1, Math.min(left, READY_WAIT_BUDGET_SECONDS)),
      );
      if (ready.ready) return;
      if (Date.now() >= end) throw gateFailure(`StatefulSet ${id} not ready ${when}: ${ready.message}`);
    }
  }

  /** Tells the Database's workflow (best effort: it reports the outcome in any case). */
  async function notify(progress: UpgradeProgress): Promise<void> {
    const parent = workflowInfo().parent;
    if (!parent) return;
    try {
      await CancellationScope.nonCancellable(() =>
        getExternalWorkflowHandle(parent.workflowId, parent.runId).signal(upgradeProgressSignal, progress),
      );
    } catch {
      // The parent moved on (continued as new or ended): the outcome still reaches it, or nobody.
    }
  }
}

function gateFailure(message: string): ApplicationFailure {
  return ApplicationFailure.nonRetryable(message, 'UpgradeGateFailed');
}

function failureText(f: FailureInfo): string {
  return f.type === 'UpgradeGateFailed' || f.type === 'ReconcileFailed'
    ? f.message
    : `${f.type}: ${f.message}`;
}

/** "orders-2 (replica)", "orders-0 (primary)". */
export function memberLabel(name: string, ordinal: number): string {
  return `${name}-${ordinal} (${ordinal === 0 ? 'primary' : 'replica'})`;
}
