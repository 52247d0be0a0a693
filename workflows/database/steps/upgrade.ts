import {
  CancellationScope,
  condition,
  isCancellation,
  setCurrentDetails,
  startChild,
} from '@temporalio/workflow';
import type { DatabaseTarget } from '../../../activities';
import { CANCEL_UPGRADE_ANNOTATION, type Condition, type DatabaseStatus } from '../../../crds';
import { act } from '../../activity-options';
import { ConditionTypes, setCondition, UpgradeReasons } from '../../conditions';
import { describeFailure } from '../../failure';
import { DatabaseEngine, DatabaseName, DatabaseNamespace } from '../../search-attributes';
import {
  UPGRADE_WORKFLOW_TYPE,
  upgradeWorkflowId,
  type EngineBuild,
  type SpecUpdate,
  type UpgradeProgress,
} from '../../signals';
import type { UpgradeInput, UpgradeOutcome, upgradeWorkflow } from '../../upgrade';
import type { CancelUpgradeAccepted } from '../../cancel-upgrade-update';
import { buildText, lean, sameBuild, withBuild } from '../builds';
import { SUPERSEDED, type Generation, type Superseded } from '../generation';
import { isGone, type Entity, type State, type UpgradeInFlight } from '../state';
import { keyed } from '../status-book';

/**
 * Runs the upgrade child of this generation and reports its progress and outcome. Returns the
 * target that now runs (the requested one, or the previous build after a rollback), or
 * SUPERSEDED. A cancel request, or a newer generation that changes version or image again,
 * cancels the child, which rolls back, and is awaited, so two rollouts never overlap; a
 * deletion does not wait for it (its steps refuse to write once the Database is deleting).
 */
export async function upgrade(
  g: Generation,
  requested: DatabaseTarget,
  from: EngineBuild,
  configHash: string,
): Promise<DatabaseTarget | Superseded> {
  try {
    return await runUpgrade(g, requested, from, configHash);
  } finally {
    g.entity.upgrading = undefined;
  }
}

async function runUpgrade(
  g: Generation,
  requested: DatabaseTarget,
  from: EngineBuild,
  configHash: string,
): Promise<DatabaseTarget | Superseded> {
  const { entity, update, book, id } = g;
  const { namespace, name, state, upgradeProgress } = entity;
  const to = requested.spec;
  const fromText = buildText(to.engine, from);
  const toText = buildText(to.engine, to);
  const childId = upgradeWorkflowId(namespace, name, update.generation);
  // From here a cancel request is taken (the loop below cancels the child once it has started).
  const inFlight: UpgradeInFlight = {
    uid: update.uid,
    generation: update.generation,
    fromVersion: from.version,
    toVersion: to.version,
    text: `${fromText} → ${toText}`,
    workflowId: childId,
  };
  entity.upgrading = inFlight;
  entity.step = `upgrade ${fromText} → ${toText}`;
  setCurrentDetails(
    `**upgrading** ${fromText} → ${toText} (generation ${update.generation}, workflow ${childId})`,
  );
  book.phase('Upgrading');
  // Every field set each time: the status is merge-patched, an absent key would keep an old value.
  state.status.upgrade = {
    fromVersion: from.version,
    toVersion: to.version,
    state: 'Upgrading',
    reason: `upgrading ${fromText} → ${toText}`,
  };
  book.mark(ConditionTypes.Upgraded, 'False', UpgradeReasons.Upgrading, `upgrading ${fromText} → ${toText}`);
  await book.report({
    type: 'Normal',
    reason: UpgradeReasons.Upgrading,
    message: `upgrading ${fromText} → ${toText}, replicas first and the primary last (workflow ${childId})`,
  });
  upgradeProgress.splice(0);
  const input: UpgradeInput = {
    target: lean(requested),
    previous: from,
    configHash,
    deadline: Date.now() + to.upgrade.timeoutSeconds * 1000,
  };
  const scope = new CancellationScope();
  const child = await scope.run(() =>
    startChild<typeof upgradeWorkflow>(UPGRADE_WORKFLOW_TYPE, {
      workflowId: childId,
      args: [input],
      staticSummary: `upgrade ${id}: ${fromText} → ${toText}`,
      typedSearchAttributes: [
        { key: DatabaseNamespace, value: namespace },
        { key: DatabaseName, value: name },
        { key: DatabaseEngine, value: to.engine },
      ],
    }),
  );
  let settled = false;
  let outcome: UpgradeOutcome | undefined;
  let error: unknown;
  child.result().then(
    (o) => {
      outcome = o;
      settled = true;
    },
    (e: unknown) => {
      error = e;
      settled = true;
    },
  );
  const deleting = () =>
    isGone(state) || !state.latest || state.latest.uid !== update.uid || state.latest.deleting;
  const rebuilt = () =>
    !!state.latest && state.latest.generation > update.generation && !sameBuild(state.latest.spec, to);
  let cancelledBy: 'request' | 'newer' | undefined;
  for (;;) {
    await condition(
      () =>
        settled ||
        upgradeProgress.length > 0 ||
        deleting() ||
        (!cancelledBy && (!!state.cancelUpgrade || rebuilt())),
    );
    for (const p of upgradeProgress.splice(0)) await reportProgress(p);
    if (settled) break;
    if (deleting()) {
      scope.cancel();
      return SUPERSEDED;
    }
    if (!cancelledBy && (state.cancelUpgrade || rebuilt())) {
      cancelledBy = state.cancelUpgrade ? 'request' : 'newer';
      inFlight.rollingBack ??=
        cancelledBy === 'request'
          ? 'cancelled on request'
          : `cancelled by generation ${state.latest?.generation}`;
      state.cancelUpgrade = false;
      scope.cancel();
    }
  }
  // The child has ended: a cancel request arriving now has nothing to cancel.
  entity.upgrading = undefined;
  for (const p of upgradeProgress.splice(0)) await reportProgress(p);
  if (cancelledBy === 'request') await clearCancelRequest(entity, update, 'the upgrade was cancelled');

  const failedGeneration = () => (state.failedUpgrade = { uid: update.uid, generation: update.generation });
  if (!outcome) {
    // The child itself failed (not its steps, which it contains): the build that runs is not
    // known for sure. Not retried; the generation is retried with what ran before.
    failedGeneration();
    state.status.upgrade = {
      ...state.status.upgrade,
      state: 'Failed',
      reason: describeFailure(error).message,
    };
    book.mark(ConditionTypes.Upgraded, 'False', UpgradeReasons.UpgradeFailed, describeFailure(error).message);
    throw error;
  }
  state.running = outcome.running;
  state.status.currentVersion = outcome.running.version;
  const seconds = `${Math.round(outcome.durationMs / 1000)}s`;
  if (outcome.state === 'Upgraded') {
    state.status.upgrade = {
      fromVersion: from.version,
      toVersion: to.version,
      state: 'Upgraded',
      reason: outcome.message,
    };
    book.mark(ConditionTypes.Upgraded, 'True', UpgradeReasons.Upgraded, outcome.message);
    await book.report({
      type: 'Normal',
      reason: UpgradeReasons.Upgraded,
      message: `${outcome.message} in ${seconds}`,
    });
    return requested;
  }
  failedGeneration();
  const reason =
    outcome.cause === 'UpgradeCancelled'
      ? UpgradeReasons.UpgradeCancelled
      : outcome.state === 'RolledBack'
        ? UpgradeReasons.RolledBack
        : UpgradeReasons.UpgradeFailed;
  state.status.upgrade = {
    fromVersion: from.version,
    toVersion: to.version,
    state: outcome.state,
    reason: outcome.message,
  };
  book.mark(ConditionTypes.Upgraded, 'False', reason, outcome.message);
  if (outcome.state === 'RollbackIncomplete') book.phase('Degraded');
  await book.report({
    type: 'Warning',
    reason: outcome.state === 'NotStarted' ? reason : outcome.state,
    message: `${outcome.message} (${seconds})`,
  });
  return cancelledBy === 'newer' ? SUPERSEDED : withBuild(requested, outcome.running);

  async function reportProgress(p: UpgradeProgress) {
    if (p.stage === 'rolling-back') {
      inFlight.rollingBack ??= p.message;
      state.status.upgrade = { ...state.status.upgrade, state: 'RollingBack', reason: p.message };
      const reason =
        p.cause === 'UpgradeCancelled' ? UpgradeReasons.UpgradeCancelled : UpgradeReasons.UpgradeFailed;
      book.mark(ConditionTypes.Upgraded, 'False', reason, `${p.message}; rolling back to ${fromText}`);
      await book.report({ type: 'Warning', reason, message: `${p.message}; rolling back to ${fromText}` });
    } else {
      const reason = p.stage === 'member-updating' ? 'UpgradingMember' : 'MemberUpgraded';
      await book.report({ type: 'Normal', reason, message: p.message });
    }
  }
}

/**
 * A fresh run takes over the upgrade status an earlier run left: a finished one as it was (its
 * Upgraded condition kept, which the fresh run's first report would otherwise drop); one still
 * "Upgrading" (or rolling back) means that run ended before it could say how it went. What runs
 * now settles it: the target's version, reached by every member (the StatefulSet no longer
 * records a build the members move from), is Upgraded; anything else is Interrupted, until this
 * run upgrades again (which reports afresh) or returns to what runs. An image change within one
 * version cannot be told apart from its rollback by versions, so it is Interrupted too.
 */
export function settleRecordedUpgrade(
  state: State,
  recorded: NonNullable<DatabaseStatus['upgrade']>,
  condition: Condition | undefined,
  running: EngineBuild | undefined,
): void {
  if (recorded.state !== 'Upgrading' && recorded.state !== 'RollingBack') {
    state.status.upgrade = recorded;
    const others = (state.status.conditions ?? []).filter((c) => c.type !== ConditionTypes.Upgraded);
    if (condition && others.length === (state.status.conditions ?? []).length) {
      state.status.conditions = [...others, condition].sort((a, b) => a.type.localeCompare(b.type));
    }
    return;
  }
  const { fromVersion, toVersion } = recorded;
  const done = !!running && running.version === toVersion && fromVersion !== toVersion;
  const what = `the run upgrading ${fromVersion ?? '?'} → ${toVersion ?? '?'} ended before it reported`;
  const reason = done
    ? `${what}: every member runs ${toVersion}`
    : `${what}; the StatefulSet runs ${running?.version ?? 'an unknown version'}`;
  state.status.upgrade = { ...recorded, state: done ? 'Upgraded' : 'Interrupted', reason };
  state.status.conditions = setCondition(
    state.status.conditions ?? [],
    {
      type: ConditionTypes.Upgraded,
      status: done ? 'True' : 'False',
      reason: done ? UpgradeReasons.Upgraded : UpgradeReasons.UpgradeInterrupted,
      message: reason,
    },
    state.status.observedGeneration ?? 0,
    new Date(),
  );
}

/** Removes the cancel-upgrade annotation once its request is handled, with an Event saying how. */
export async function clearCancelRequest(entity: Entity, update: SpecUpdate, outcome: string): Promise<void> {
  const { namespace, name, state } = entity;
  const ref = { namespace, name, uid: update.uid };
  try {
    await act(
      `remove annotation ${CANCEL_UPGRADE_ANNOTATION} from Database ${namespace}/${name}`,
    ).clearCancelUpgrade(ref);
    await act(`record cancel request on Database ${namespace}/${name}`).reportStatus(
      ref,
      state.status,
      keyed(entity, {
        type: 'Normal',
        reason: 'CancelUpgradeHandled',
        message: `${CANCEL_UPGRADE_ANNOTATION}: ${outcome}`,
      }),
    );
  } catch (err) {
    if (isCancellation(err)) throw err;
    // The annotation stays; the watcher sends the request again only if it is set anew.
  }
}

/**
 * Why a cancel request (the cancelUpgrade Update) is refused, or undefined when it is taken: it
 * must be about this incarnation, an upgrade must be in flight, and that upgrade must not be
 * rolling back already (the rollback runs to its end; a second cancel cannot change it).
 */
export function cancelUpgradeRefusal(entity: Entity, request: { uid: string }): string | undefined {
  const { state, upgrading, name } = entity;
  const uid = state.latest?.uid ?? state.uid;
  if (request.uid !== uid) {
    return `the request is for uid ${request.uid || '(none)'}, not the Database ${name} this workflow runs (uid ${uid ?? 'not known yet'})`;
  }
  if (!upgrading) return 'no upgrade is running';
  const rollingBack =
    upgrading.rollingBack ??
    (state.cancelUpgrade ? 'a cancellation was accepted already' : undefined) ??
    entity.upgradeProgress.find((p) => p.stage === 'rolling-back')?.message;
  if (rollingBack) {
    return `the upgrade ${upgrading.text} is past the point of no return: it rolls back (${rollingBack}), and a rollback runs to its end`;
  }
  return undefined;
}

/** What an accepted cancel request is about (the Update's result). */
export function acceptedCancel(entity: Entity): CancelUpgradeAccepted {
  const u = entity.upgrading!;
  return {
    generation: u.generation,
    fromVersion: u.fromVersion,
    toVersion: u.toVersion,
    upgradeWorkflowId: u.workflowId,
    message: `cancelling the upgrade ${u.text} (generation ${u.generation}, workflow ${u.workflowId}): it rolls back`,
  };
}
