import { isCancellation, patched, setCurrentDetails } from '@temporalio/workflow';
import type { DatabaseTarget } from '../../activities';
import type { DatabaseSpec } from '../../crds';
import { checkSpec, type Verdict } from '../../crds/spec-rules';
import { act } from '../activity-options';
import { ConditionTypes } from '../conditions';
import { describeFailure } from '../failure';
import type { DriftNotice, SpecUpdate } from '../signals';
import { lean, sameBuild, withBuild } from './builds';
import { statusText } from '../status-text';
import { openGeneration, SUPERSEDED, type Generation, type ReconcileMode } from './generation';
import { isGone, runningBuild, type Entity } from './state';
import { noteBackup, reportFailure, type DatabaseEvent } from './status-book';
import { scheduleBackups } from './steps/backup-schedule';
import { applyMembers, applyServices, ensureConfiguration, ensureObjects } from './steps/provision';
import { awaitPods } from './steps/readiness';
import { Replication } from './steps/replication';
import { guarded, guardPrimary } from './steps/failover';
import { restore } from './steps/restore';
import { settleRecordedUpgrade, upgrade } from './steps/upgrade';

/** After a transient failure that outlived the activity retries, try the generation again after this. */
export const RETRY_AFTER = '1 minute';

/**
 * Reconciles one generation, as a DBA would provision or repair a database: check the spec →
 * finalizer, prerequisites, ConfigMap, Secret, StatefulSet, Services in one pass (the upgrade
 * child rolls the StatefulSet instead, member by member, when the version or image changes) →
 * replication set up → pods ready →
 * replicas streaming → (restore the bootstrap backup, once) → Ready → backup Schedule in line.
 * Every step reports in status conditions and Events; a newer spec abandons the steps at once.
 */
export async function reconcile(
  entity: Entity,
  update: SpecUpdate,
  mode: ReconcileMode,
  drift: DriftNotice[] = [],
): Promise<void> {
  const guard: PrimaryGuard = {};
  await reconcileOnce(entity, update, mode, drift, guard);
  // A pass that ended Degraded may have met a primary that failed while it ran (its waits then
  // end in trouble, not in a readiness notice): looked at now, not a RETRY_AFTER later.
  if (guard.target && entity.state.status.phase === 'Degraded' && !isGone(entity.state)) {
    await lookAtPrimary(entity, update, guard.target);
  }
}

/** Set by a pass on a Database whose primary is guarded (steps/failover.ts). */
interface PrimaryGuard {
  target?: DatabaseTarget;
}

/** guardPrimary, whose own trouble never fails the workflow. */
async function lookAtPrimary(entity: Entity, update: SpecUpdate, target: DatabaseTarget): Promise<void> {
  try {
    await guardPrimary(entity, update, target);
  } catch (err) {
    if (isCancellation(err)) throw err;
    // The look itself failed (the API server away for the activity's retries): the next
    // wake-up looks again.
    setCurrentDetails(`**could not look at the primary**: ${describeFailure(err).message}`);
  }
}

async function reconcileOnce(
  entity: Entity,
  update: SpecUpdate,
  mode: ReconcileMode,
  drift: DriftNotice[],
  guard: PrimaryGuard,
): Promise<void> {
  const { state } = entity;
  const verdict = await assess(entity, update);
  if (!verdict) return; // the spec could not be checked now: retried after RETRY_AFTER
  if (!verdict.ok || !verdict.spec) {
    await refuseSpec(entity, update, verdict.reason ?? 'InvalidSpec', verdict.message ?? 'invalid spec');
    return;
  }
  const requested: DatabaseTarget = {
    namespace: entity.namespace,
    name: entity.name,
    uid: update.uid,
    generation: update.generation,
    spec: verdict.spec,
    // The parameters go by reference: the ConfigMap's activity reads them (builds.ts, lean).
    ...(update.parametersDigest && { parametersDigest: update.parametersDigest }),
  };
  // A version or image change against what runs is a rollout of the engine: the upgrade child
  // runs it, member by member with health gates, instead of the plain StatefulSet apply. A
  // generation whose upgrade did not complete keeps rendering what runs (resync and drift
  // included) until a newer generation arrives.
  const running = runningBuild(state);
  const changesBuild = !!running && !sameBuild(requested.spec, running);
  const heldBack =
    changesBuild &&
    state.failedUpgrade?.uid === update.uid &&
    state.failedUpgrade.generation === update.generation;
  let target: DatabaseTarget = heldBack ? withBuild(requested, running!) : requested;
  const upgrading = changesBuild && !heldBack && patched('upgrade-v1');
  // On a Database reconciled before (not while it is first provisioned, nor upgraded), the
  // primary is looked at first, and replaced if it failed, before anything waits for the pods,
  // when something suggests trouble: a drift repair, a pod's readiness changed, the Database is
  // Degraded, or a failover stopped half-way.
  const suspect =
    mode === 'drift' ||
    drift.some((d) => d.change === 'readiness') ||
    state.status.phase === 'Degraded' ||
    !!state.status.targetPrimary;
  if (state.applied && !upgrading && guarded(target)) {
    guard.target = target;
    if (suspect) await lookAtPrimary(entity, update, target);
  }
  let found: string[] = [];
  if (mode === 'resync' && !upgrading && state.status.phase === 'Ready' && patched('quiet-resync-v1')) {
    const look = await lookOver(entity, target);
    if (look?.length === 0) return; // in line: nothing written, nothing reported
    found = look ?? [];
  }
  const g = openGeneration(entity, update, mode);

  try {
    // A generation resumed by a new run (the last one's history was full) was announced already.
    const announcing = mode === 'generation' && state.resuming !== update.generation;
    state.resuming = undefined;

    if (patched('one-pass-provision-v1')) {
      // The objects in one activity, then one status write that announces the generation with
      // their Events (the objects do not wait for a status write); an upgrade rolls the
      // StatefulSet itself. After one that did not complete, the plain apply of what runs as
      // well: it changes nothing after a clean rollback, and repairs what one that stopped
      // short left behind.
      const announcement = announcing ? markGeneration(g, target) : undefined;
      const objects = await ensureObjects(g, target, { statefulSet: !upgrading }, announcement);
      if (objects === SUPERSEDED) return;
      if (upgrading) {
        const upgraded = await upgrade(g, requested, running!, objects.configHash);
        if (upgraded === SUPERSEDED) return;
        target = upgraded;
        if (target !== requested && (await applyMembers(g, target, objects.configHash)) === SUPERSEDED)
          return;
      }
    } else {
      if (announcing) await announceGeneration(g, target);
      const config = await ensureConfiguration(g, target);
      if (config === SUPERSEDED) return;
      if (upgrading) {
        const upgraded = await upgrade(g, requested, running!, config.configHash);
        if (upgraded === SUPERSEDED) return;
        target = upgraded;
      }
      if (!upgrading || target !== requested) {
        if ((await applyMembers(g, target, config.configHash)) === SUPERSEDED) return;
      }
      if ((await applyServices(g, target)) === SUPERSEDED) return;
    }

    const replication = new Replication(g, target);
    // A new generation may bring replicas that need their role and slot before they can start:
    // ensured up front. A repair (drift, resync) of a reconciled generation has them; it runs
    // the pass only if its pods are not ready, and the final pass below checks them anyway.
    if (!replication.configured && mode === 'generation' && !(await replication.configureEarly())) return;
    if (!(await awaitPods(g, target, replication))) return;
    if (!(await replication.awaitStreaming())) return;

    const fromBackup = target.spec.bootstrap?.fromBackup?.name;
    if (g.first && fromBackup && state.restoredFrom !== fromBackup && patched('restore-v1')) {
      if ((await restore(g, target)) === SUPERSEDED) return;
    }

    await declareReady(g, target, target === requested, drift, found);
    if (mode !== 'drift' && patched('backup-schedule-v1')) await scheduleBackups(g, target);
  } catch (err) {
    if (isCancellation(err)) throw err;
    const failure = describeFailure(err);
    if (failure.type === 'DatabaseGone') {
      // This incarnation disappeared without going through our finalizer (removed by hand, or
      // deleted before it was added): nothing is left to reconcile, the workflow ends.
      state.handledGeneration = update.generation;
      state.goneUid = update.uid;
      return;
    }
    if (failure.permanent) state.handledGeneration = update.generation;
    else state.retryPending = true;
    await reportFailure(
      entity,
      update,
      failure.type,
      failure.permanent ? failure.message : `${failure.message} (will retry in ${RETRY_AFTER})`,
    );
  }
}

/**
 * Checks the generation's spec (schema, supported versions, no downgrade, no major jump) in an
 * activity, so the verdict is recorded in the history and a later build's schema never changes
 * what this run decided. A run that knows nothing of what runs (a fresh run after a terminated
 * one, a reset, a lost Temporal database, a re-created Database) has the activity read it from
 * the StatefulSet first: the cluster is the record, the state a cache. The verdict is kept for
 * the generation (drift and resync reuse it). Undefined when the spec could not be checked now.
 */
async function assess(
  entity: Entity,
  update: SpecUpdate,
): Promise<(Verdict & { spec?: DatabaseSpec }) | undefined> {
  const { namespace, name, state } = entity;
  if (!patched('assess-spec-v1')) return checkSpec(update.spec, state.status.currentVersion);
  const key = { uid: update.uid, generation: update.generation, runningVersion: state.status.currentVersion };
  const cached = state.assessed;
  if (
    cached &&
    cached.uid === key.uid &&
    cached.generation === key.generation &&
    cached.runningVersion === key.runningVersion
  )
    return cached.verdict;
  const observe = !state.running && !state.applied;
  try {
    const { verdict, running, lastBackup, recordedUpgrade, recordedUpgradedCondition } = await act(
      `check the spec of Database ${namespace}/${name}`,
    ).assessSpec(
      { namespace, name, uid: update.uid, generation: update.generation, spec: update.spec },
      { runningVersion: state.status.currentVersion, observe },
    );
    if (running) {
      state.running = running;
      state.status.currentVersion = running.version;
    }
    // What an earlier run left unsaid: a backup that ended while no run was there to hear it (a
    // notice this run heard already is newer), an upgrade its status says is under way. Both
    // come from the activity's recorded result: a replay sees what it said, so no patch.
    if (lastBackup && !state.status.lastBackup) noteBackup(state, lastBackup);
    if (recordedUpgrade && !state.status.upgrade) {
      settleRecordedUpgrade(state, recordedUpgrade, recordedUpgradedCondition, running);
    }
    state.assessed = { ...key, runningVersion: state.status.currentVersion, verdict };
    return verdict;
  } catch (err) {
    if (isCancellation(err)) throw err;
    const failure = describeFailure(err);
    state.retryPending = true;
    await reportFailure(entity, update, failure.type, `${failure.message} (will retry in ${RETRY_AFTER})`);
    return undefined;
  }
}

/**
 * The periodic look at a Ready Database: one activity that reads and dry-runs what a reconcile
 * would apply and reports what differs, in words. Undefined when the look itself failed: the
 * full reconcile then runs and reports whatever is wrong.
 */
async function lookOver(entity: Entity, target: DatabaseTarget): Promise<string[] | undefined> {
  const { namespace, name } = entity;
  entity.step = 'looking the Database over';
  try {
    const { findings } = await act(`look over Database ${namespace}/${name} at rest`).inspectAtRest(
      lean(target),
    );
    return findings;
  } catch (err) {
    if (isCancellation(err)) throw err;
    return undefined;
  }
}

/** A spec that cannot be satisfied: Failed with the reason, until a new generation arrives. */
async function refuseSpec(
  entity: Entity,
  update: SpecUpdate,
  reason: string,
  message: string,
): Promise<void> {
  const { namespace, name, state } = entity;
  const id = `${namespace}/${name}`;
  state.handledGeneration = update.generation;
  // The finalizer goes on even so: deleting this Database must still reach the workflow.
  try {
    await act(`add finalizer to Database ${id}`).addFinalizer({ namespace, name, uid: update.uid });
  } catch (err) {
    if (isCancellation(err)) throw err;
    if (describeFailure(err).type === 'DatabaseGone') {
      state.goneUid = update.uid;
      return;
    }
    // Any other trouble: report the spec problem anyway; the next generation adds it.
  }
  await reportFailure(entity, update, reason, message);
}

/** A new generation starts: Provisioning or Updating, with an Event (Scaling when replicas change). */
async function announceGeneration(g: Generation, target: DatabaseTarget): Promise<void> {
  await g.book.report(markGeneration(g, target));
}

/** The phase and conditions of a generation that starts, and the Event that announces it. */
function markGeneration(g: Generation, target: DatabaseTarget): DatabaseEvent {
  const { book, update } = g;
  const applied = g.entity.state.applied;
  const scaling = !!applied && applied.replicas !== target.spec.replicas;
  const doing = g.first ? 'Provisioning' : 'Updating';
  book.phase(doing);
  book.mark(ConditionTypes.Ready, 'False', doing, `reconciling generation ${update.generation}`);
  book.mark(ConditionTypes.Progressing, 'True', 'Reconciling', `reconciling generation ${update.generation}`);
  return scaling
    ? {
        type: 'Normal',
        reason: 'Scaling',
        message: `scaling from ${applied.replicas} to ${target.spec.replicas} replicas`,
      }
    : { type: 'Normal', reason: doing, message: `reconciling generation ${update.generation}` };
}

/**
 * Everything is in place: the generation is handled, status says Ready with what runs. The Event
 * says what happened: a new generation ready (on the previous build after a failed upgrade), a
 * drift repaired, or ready again after a Degraded spell; a resync that found nothing says nothing.
 */
async function declareReady(
  g: Generation,
  target: DatabaseTarget,
  asRequested: boolean,
  drift: DriftNotice[],
  found: string[] = [],
): Promise<void> {
  const { book, update, mode } = g;
  const { state } = g.entity;
  const { spec } = target;
  const wasReady = state.status.phase === 'Ready';
  state.applied = spec;
  state.handledGeneration = update.generation;
  state.status.observedGeneration = update.generation;
  state.status.currentVersion = spec.version;
  state.running = { version: spec.version, image: spec.image };
  // The verdict holds against the version now running (the generation's own): keyed so, the
  // next resync of this generation reuses it instead of checking the spec again.
  const assessed = state.assessed;
  if (
    assessed?.uid === update.uid &&
    assessed.generation === update.generation &&
    patched('quiet-resync-v1')
  ) {
    assessed.runningVersion = spec.version;
  }
  book.phase('Ready');
  book.mark(
    ConditionTypes.Ready,
    'True',
    'Ready',
    `${spec.engine} ${spec.version} with ${spec.replicas} ready replica(s)`,
  );
  book.mark(ConditionTypes.Progressing, 'False', 'Reconciled', `generation ${update.generation} reconciled`);
  const repaired = drift
    .filter((d) => d.change !== 'readiness')
    .map((d) => `${d.kind} ${d.name} ${d.change === 'deleted' ? 're-created' : 'restored'}`);
  let event: DatabaseEvent | undefined;
  if (mode === 'generation') {
    event = {
      type: 'Normal',
      reason: 'Ready',
      message: asRequested
        ? `generation ${update.generation} is ready`
        : `generation ${update.generation} is ready on ${spec.engine} ${spec.version}, the version it ran before its upgrade`,
    };
  } else if (repaired.length > 0 || found.length > 0) {
    const atResync = found.length > 0 ? [`found when looked over: ${found.join('; ')}; in line again`] : [];
    event = {
      type: 'Normal',
      reason: 'DriftCorrected',
      message: statusText([...repaired, ...atResync].join('; ')),
    };
  } else if (!wasReady) {
    event = { type: 'Normal', reason: 'Ready', message: 'ready again' };
  }
  await book.report(event);
}
