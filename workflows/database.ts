import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type {
  DatabaseActivities,
  DatabaseTarget,
  EventRecord,
  MemberReport,
  ReplicationReport,
} from '../activities';
import {
  CANCEL_UPGRADE_ANNOTATION,
  type DatabasePhase,
  type DatabaseSpec,
  type DatabaseStatus,
} from '../crds';
import {
  ConditionTypes,
  setCondition,
  UpgradeReasons,
  type ConditionType,
  type ConditionUpdate,
} from './conditions';
import {
  DatabaseEngine,
  DatabaseName,
  DatabaseNamespace,
  DatabasePhase as PhaseAttribute,
} from './search-attributes';
import {
  backupSignal,
  cancelUpgradeSignal,
  driftSignal,
  specSignal,
  stateQuery,
  UPGRADE_WORKFLOW_TYPE,
  upgradeProgressSignal,
  upgradeWorkflowId,
  type DatabaseWorkflowInput,
  type DriftNotice,
  type EngineBuild,
  type SpecUpdate,
  type UpgradeProgress,
} from './signals';
import { act, quick } from './activity-options';
import { checkSpec } from './spec-rules';
import { statusText } from './status-text';
import type { UpgradeInput, UpgradeOutcome, upgradeWorkflow } from './upgrade';

/** Re-ensure everything this often even when nothing was signalled (level-triggered safety net). */
const RESYNC_INTERVAL = '10 minutes';
/** After a transient failure that outlived the activity retries, try the generation again after this. */
const RETRY_AFTER = '1 minute';
/** Each readiness wait returns after this long so the workflow can report progress. */
export const READY_WAIT_BUDGET_SECONDS = 60;
/** Continue as new well before Temporal's limits (51,200 events / 50 MB). */
const MAX_HISTORY_EVENTS = 2_000;

export const waiting: ActivityOptions = {
  startToCloseTimeout: `${READY_WAIT_BUDGET_SECONDS + 60} seconds`,
  heartbeatTimeout: '15 seconds',
  retry: quick.retry,
};
/**
 * The first replication pass runs as soon as the Services exist, while member 0 may still be
 * starting: it is retried for about two minutes (refused connections, an engine initialising).
 * A PostgreSQL replica's init container waits for the role and slot this pass creates.
 */
const untilMemberZeroAnswers: ActivityOptions = {
  startToCloseTimeout: '40 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 1.5,
    maximumInterval: '10 seconds',
    maximumAttempts: 16,
  },
};

/** As act(), retrying without a limit on attempts (backoff still capped at a minute). */
export function actUntilDone(summary: string): DatabaseActivities {
  return act(summary, {
    ...quick,
    retry: { ...quick.retry, maximumInterval: '1 minute', maximumAttempts: Number.POSITIVE_INFINITY },
  });
}

/** Workflow state; carried across continueAsNew. Holds no secret (DESIGN.md rule 3). */
interface State {
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
}

const SUPERSEDED = Symbol('superseded');
type Superseded = typeof SUPERSEDED;
type Mark = (
  type: ConditionType,
  status: 'True' | 'False' | 'Unknown',
  reason: string,
  message: string,
) => void;
type Report = (event?: Omit<EventRecord, 'key'>) => Promise<void>;

/**
 * The long-lived workflow of one Database (`database/<namespace>/<name>`). It waits for spec
 * signals (coalescing to the newest generation), drift signals and a periodic resync, and for
 * each ensures, in order: finalizer → prerequisites → ConfigMap → Secret → StatefulSet →
 * Services → ready pods, reporting every step in status conditions and Events. Deletion
 * releases the data per deletionPolicy, removes the finalizer and completes the workflow.
 */
export async function databaseWorkflow(input: DatabaseWorkflowInput): Promise<void> {
  const { namespace, name } = input;
  const state: State = (input.carried as State | undefined) ?? {
    status: {},
    eventSeq: 0,
    drift: [],
    retryPending: false,
  };
  let step = 'waiting for the first spec';

  setHandler(specSignal, (update) => {
    if (update.gone) {
      // Only about the incarnation this workflow knows; never displaces a newer one.
      if (update.uid === (state.latest?.uid ?? state.uid)) state.goneUid = update.uid;
      return;
    }
    const latest = state.latest;
    // A replayed or re-sent generation (watcher restart) changes nothing; a newer one replaces
    // whatever is pending, so a burst of edits is reconciled once, at its newest generation.
    if (latest && latest.uid === update.uid) {
      if (update.generation < latest.generation) return;
      if (update.generation === latest.generation && (latest.deleting || !update.deleting)) return;
    }
    state.latest = update;
  });
  setHandler(driftSignal, (notice) => {
    if (state.drift.length < 50) state.drift.push(notice);
  });
  setHandler(cancelUpgradeSignal, (request) => {
    if (request.uid === (state.latest?.uid ?? state.uid)) state.cancelUpgrade = true;
  });
  // Progress of the running upgrade child, reported in status and Events by the upgrade step.
  const upgradeProgress: UpgradeProgress[] = [];
  setHandler(upgradeProgressSignal, (progress) => {
    if (upgradeProgress.length < 50) upgradeProgress.push(progress);
  });
  setHandler(backupSignal, (notice) => {
    // The Database's status is written by this workflow only (a second writer's conditions would
    // be lost at the next report): a backup run reports here, and the loop writes it out.
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
    state.backupDirty = true;
  });
  setHandler(stateQuery, () => ({
    uid: state.uid,
    observedGeneration: state.status.observedGeneration,
    pendingGeneration: state.latest?.generation,
    phase: state.status.phase,
    step,
    status: state.status,
  }));

  /** The incarnation this workflow serves is gone and no newer one has arrived. */
  const isGone = () => !!state.goneUid && state.goneUid === (state.latest?.uid ?? state.uid);

  const newGeneration = () =>
    !!state.latest &&
    (state.latest.uid !== state.uid ||
      state.latest.deleting ||
      state.handledGeneration === undefined ||
      state.latest.generation > state.handledGeneration);

  for (;;) {
    const woken = await condition(
      () =>
        newGeneration() ||
        state.drift.length > 0 ||
        state.retryPending ||
        isGone() ||
        !!state.backupDirty ||
        !!state.cancelUpgrade,
      // A retry, or a Degraded Database (pods not ready at the last look), is checked again soon.
      state.retryPending || state.status.phase === 'Degraded' ? RETRY_AFTER : RESYNC_INTERVAL,
    );
    if (isGone()) {
      setCurrentDetails('**gone**: the Database was deleted without passing through the finalizer');
      return;
    }
    const update = state.latest;
    if (!update) continue; // resync before any spec arrived: nothing to do

    if (update.uid !== state.uid) {
      // First spec, or the Database was deleted and re-created under the same name.
      Object.assign(state, { uid: update.uid, handledGeneration: undefined, applied: undefined, status: {} });
    }
    if (update.deleting) {
      step = 'deleting';
      try {
        await deleteDatabase(update);
      } catch (err) {
        if (isCancellation(err)) throw err;
        // Permanent trouble (e.g. a missing RBAC rule): say so, then try the deletion again later.
        const failure = describeFailure(err);
        step = `deletion failed: ${failure.type}`;
        setCurrentDetails(
          `**deletion failed** (${failure.type}): ${failure.message}; retrying in ${RETRY_AFTER}`,
        );
        await sleep(RETRY_AFTER);
        continue;
      }
      if (state.latest && state.latest.uid !== update.uid) {
        // A new incarnation arrived while the old one was being deleted: start it afresh.
        await condition(allHandlersFinished);
        await continueAsNew<typeof databaseWorkflow>({
          namespace,
          name,
          carried: {
            status: {},
            eventSeq: 0,
            drift: [],
            retryPending: false,
            latest: state.latest,
          } satisfies State,
        });
      }
      return;
    }

    if (state.cancelUpgrade) {
      // No upgrade runs now (a running one takes the request itself): say so, drop the annotation.
      state.cancelUpgrade = false;
      await clearCancelRequest(update, 'no upgrade is running');
      if (!newGeneration() && state.drift.length === 0 && !state.retryPending) continue;
    }

    const drift = state.drift.splice(0);
    const retry = state.retryPending;
    state.retryPending = false;
    if (newGeneration() || retry) {
      await reconcile(update, 'generation');
    } else if (
      state.applied &&
      state.handledGeneration === update.generation &&
      state.status.phase !== 'Failed'
    ) {
      // Drift or periodic resync of a generation that reconciled successfully. A generation that
      // failed permanently waits for a new spec instead of failing again at every resync.
      await reconcile(update, woken ? 'drift' : 'resync', drift);
    }

    if (isGone()) {
      setCurrentDetails('**gone**: the Database was deleted without passing through the finalizer');
      return;
    }
    if (state.backupDirty && state.uid && patched('backup-schedule-v1')) {
      state.backupDirty = false;
      try {
        await act(`report last backup of Database ${namespace}/${name}`).reportStatus(
          { namespace, name, uid: state.uid },
          state.status,
        );
      } catch (err) {
        if (isCancellation(err)) throw err;
        // The next report of any step writes it; nothing else depends on it.
      }
    }

    if (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > MAX_HISTORY_EVENTS) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof databaseWorkflow>({ namespace, name, carried: state });
    }
  }

  // ---------------------------------------------------------------------------------------------

  async function reconcile(
    update: SpecUpdate,
    mode: 'generation' | 'drift' | 'resync',
    drift: DriftNotice[] = [],
  ) {
    const target0 = { namespace, name, uid: update.uid, generation: update.generation };
    const ref = { namespace, name, uid: update.uid };
    const verdict = checkSpec(update.spec, state.status.currentVersion);
    if (!verdict.ok || !verdict.spec) {
      state.handledGeneration = update.generation;
      // The finalizer goes on even so: deleting this Database must still reach the workflow.
      try {
        await act(`add finalizer to Database ${namespace}/${name}`).addFinalizer(ref);
      } catch (err) {
        if (isCancellation(err)) throw err;
        if (describeFailure(err).type === 'DatabaseGone') {
          state.goneUid = update.uid;
          return;
        }
        // Any other trouble: report the spec problem anyway; the next generation adds it.
      }
      await fail(update, verdict.reason ?? 'InvalidSpec', verdict.message ?? 'invalid spec');
      return;
    }
    const requested: DatabaseTarget = { ...target0, spec: verdict.spec };
    const id = `${namespace}/${name}`;
    // A version or image change against what runs is a rollout of the engine: the upgrade child
    // runs it, member by member with health gates, instead of the plain StatefulSet apply. A
    // generation whose upgrade did not complete keeps rendering what runs (resync and drift
    // included) until a newer generation arrives.
    const running = runningBuild();
    const changesBuild = !!running && !sameBuild(requested.spec, running);
    const heldBack =
      changesBuild &&
      state.failedUpgrade?.uid === update.uid &&
      state.failedUpgrade.generation === update.generation;
    let target: DatabaseTarget = heldBack ? withBuild(requested, running!) : requested;
    const upgrading = changesBuild && !heldBack && patched('upgrade-v1');
    const superseded = () =>
      !state.latest ||
      state.goneUid === update.uid ||
      state.latest.uid !== update.uid ||
      state.latest.deleting ||
      state.latest.generation > update.generation;

    // Changes only what differs, so that a resync that finds everything in place writes nothing.
    let dirty = false;
    const mark = (
      type: ConditionType,
      status: 'True' | 'False' | 'Unknown',
      reason: string,
      message: string,
    ) => {
      const before = JSON.stringify(state.status.conditions ?? []);
      const u: ConditionUpdate = { type, status, reason, message };
      state.status.conditions = setCondition(state.status.conditions ?? [], u, update.generation, new Date());
      if (JSON.stringify(state.status.conditions) !== before) dirty = true;
    };
    const phase = (p: DatabasePhase) => {
      if (state.status.phase !== p) {
        state.status.phase = p;
        upsertSearchAttributes([{ key: PhaseAttribute, value: p }]);
        dirty = true;
      }
    };
    const report = async (event?: Omit<EventRecord, 'key'>) => {
      if (!dirty && !event) return;
      dirty = false;
      await act(`update status of Database ${id}`).reportStatus(ref, state.status, event && keyed(event));
    };

    /**
     * A repair (drift, resync) whose wait ends unready reports Degraded and looks again after
     * RETRY_AFTER, rather than waiting here indefinitely.
     */
    const degrade = async (reason: string, message: string) => {
      phase('Degraded');
      mark(ConditionTypes.Ready, 'False', reason, message);
      await report({ type: 'Warning', reason, message });
    };

    const setMembers = (members: MemberReport[]) => {
      if (JSON.stringify(state.status.members ?? []) === JSON.stringify(members)) return;
      state.status.members = members;
      dirty = true;
    };

    /**
     * Takes a replication report into status (members, ReplicationReady) and announces what it
     * changed: an Event per kind of change, none when nothing changed. `final` is the pass after
     * the pods are ready: its "not yet" means replicas not streaming, an early one's means
     * replication still being set up.
     */
    async function absorbReplication(rep: ReplicationReport, final: boolean) {
      const before = new Set(
        (state.status.members ?? []).filter((m) => m.state === 'streaming').map((m) => m.name),
      );
      setMembers(rep.members);
      // A resync's early pass that finds everything streaming keeps the condition True: no flip.
      if (rep.ready) mark(ConditionTypes.ReplicationReady, 'True', 'Streaming', rep.message);
      else {
        const reason = final ? 'ReplicasNotStreaming' : 'Configuring';
        mark(ConditionTypes.ReplicationReady, 'False', reason, rep.message);
      }
      const streaming = rep.members
        .filter((m) => m.role === 'replica' && m.state === 'streaming' && !before.has(m.name))
        .map((m) => m.name);
      const events: Omit<EventRecord, 'key'>[] = [
        ...(rep.changes.length > 0
          ? [{ type: 'Normal' as const, reason: 'ReplicationConfigured', message: rep.changes.join('; ') }]
          : []),
        ...(rep.removed.length > 0
          ? [{ type: 'Normal' as const, reason: 'ReplicaRemoved', message: rep.removed.join('; ') }]
          : []),
        ...(streaming.length > 0
          ? [
              {
                type: 'Normal' as const,
                reason: 'ReplicaStreaming',
                message: `${streaming.join(', ')} streaming from ${name}-0`,
              },
            ]
          : []),
      ];
      if (events.length === 0) await report();
      for (const event of events) await report(event);
    }

    /** Runs one step; gives up (returning SUPERSEDED) as soon as a newer spec or a deletion arrives. */
    async function run<T>(what: string, fn: () => Promise<T>): Promise<T | Superseded> {
      step = what;
      setCurrentDetails(`**${what}** (generation ${update.generation})`);
      return interruptible(fn, superseded);
    }

    /**
     * Runs the upgrade child of this generation and reports its progress and outcome. Returns the
     * target that now runs (the requested one, or the previous build after a rollback), or
     * SUPERSEDED. A cancel request, or a newer generation that changes version or image again,
     * cancels the child, which rolls back, and is awaited, so two rollouts never overlap; a
     * deletion does not wait for it (its steps refuse to write once the Database is deleting).
     */
    async function upgrade(from: EngineBuild, configHash: string): Promise<DatabaseTarget | Superseded> {
      const to = requested.spec;
      const fromText = buildText(to.engine, from);
      const toText = buildText(to.engine, to);
      const childId = upgradeWorkflowId(namespace, name, update.generation);
      step = `upgrade ${fromText} → ${toText}`;
      setCurrentDetails(
        `**upgrading** ${fromText} → ${toText} (generation ${update.generation}, workflow ${childId})`,
      );
      phase('Upgrading');
      // Every field set each time: the status is merge-patched, an absent key would keep an old value.
      state.status.upgrade = {
        fromVersion: from.version,
        toVersion: to.version,
        state: 'Upgrading',
        reason: `upgrading ${fromText} → ${toText}`,
      };
      mark(ConditionTypes.Upgraded, 'False', UpgradeReasons.Upgrading, `upgrading ${fromText} → ${toText}`);
      await report({
        type: 'Normal',
        reason: UpgradeReasons.Upgrading,
        message: `upgrading ${fromText} → ${toText}, replicas first and the primary last (workflow ${childId})`,
      });
      upgradeProgress.splice(0);
      const input: UpgradeInput = {
        target: requested,
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
        isGone() || !state.latest || state.latest.uid !== update.uid || state.latest.deleting;
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
          state.cancelUpgrade = false;
          scope.cancel();
        }
      }
      for (const p of upgradeProgress.splice(0)) await reportProgress(p);
      if (cancelledBy === 'request') await clearCancelRequest(update, 'the upgrade was cancelled');

      const failedGeneration = () =>
        (state.failedUpgrade = { uid: update.uid, generation: update.generation });
      if (!outcome) {
        // The child itself failed (not its steps, which it contains): the build that runs is not
        // known for sure. Not retried; the generation is retried with what ran before.
        failedGeneration();
        state.status.upgrade = {
          ...state.status.upgrade,
          state: 'Failed',
          reason: describeFailure(error).message,
        };
        mark(ConditionTypes.Upgraded, 'False', UpgradeReasons.UpgradeFailed, describeFailure(error).message);
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
        mark(ConditionTypes.Upgraded, 'True', UpgradeReasons.Upgraded, outcome.message);
        await report({
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
      mark(ConditionTypes.Upgraded, 'False', reason, outcome.message);
      if (outcome.state === 'RollbackIncomplete') phase('Degraded');
      await report({
        type: 'Warning',
        reason: outcome.state === 'NotStarted' ? reason : outcome.state,
        message: `${outcome.message} (${seconds})`,
      });
      return cancelledBy === 'newer' ? SUPERSEDED : withBuild(requested, outcome.running);

      async function reportProgress(p: UpgradeProgress) {
        if (p.stage === 'rolling-back') {
          state.status.upgrade = { ...state.status.upgrade, state: 'RollingBack', reason: p.message };
          const reason =
            p.cause === 'UpgradeCancelled' ? UpgradeReasons.UpgradeCancelled : UpgradeReasons.UpgradeFailed;
          mark(ConditionTypes.Upgraded, 'False', reason, `${p.message}; rolling back to ${fromText}`);
          await report({ type: 'Warning', reason, message: `${p.message}; rolling back to ${fromText}` });
        } else {
          const reason = p.stage === 'member-updating' ? 'UpgradingMember' : 'MemberUpgraded';
          await report({ type: 'Normal', reason, message: p.message });
        }
      }
    }

    try {
      const first = !state.applied;
      const scaling = !!state.applied && state.applied.replicas !== target.spec.replicas;
      /**
       * While a new generation is not Ready, its Ready condition says why, in the words of the
       * newest failure or wait (member 0 refusing connections, a pod in CrashLoopBackOff, a
       * replica not streaming), not only "reconciling". Written at once, and only when the text
       * changes; statusText blanks anything credential-like and bounds the length.
       */
      const whyNotReady = async (why: string) => {
        if (mode !== 'generation' || !patched('status-why-v1')) return;
        mark(
          ConditionTypes.Ready,
          'False',
          first ? 'Provisioning' : 'Updating',
          statusText(`reconciling generation ${update.generation}: ${why}`),
        );
        await report();
      };
      if (mode === 'generation') {
        phase(first ? 'Provisioning' : 'Updating');
        mark(
          ConditionTypes.Ready,
          'False',
          first ? 'Provisioning' : 'Updating',
          `reconciling generation ${update.generation}`,
        );
        mark(
          ConditionTypes.Progressing,
          'True',
          'Reconciling',
          `reconciling generation ${update.generation}`,
        );
        await report(
          scaling
            ? {
                type: 'Normal',
                reason: 'Scaling',
                message: `scaling from ${state.applied!.replicas} to ${target.spec.replicas} replicas`,
              }
            : {
                type: 'Normal',
                reason: first ? 'Provisioning' : 'Updating',
                message: `reconciling generation ${update.generation}`,
              },
        );
      }

      if (
        (await run(`add finalizer to Database ${id}`, () =>
          act(`add finalizer to Database ${id}`).addFinalizer(ref),
        )) === SUPERSEDED
      )
        return;
      if (
        (await run(`check prerequisites of ${id}`, () =>
          act(`check prerequisites of Database ${id}`).checkPrerequisites(target),
        )) === SUPERSEDED
      )
        return;

      const cm = await run(`apply ConfigMap ${id}-config`, () =>
        act(`apply ConfigMap ${id}-config`).applyConfigMap(target),
      );
      if (cm === SUPERSEDED) return;
      mark(ConditionTypes.ConfigMapReady, 'True', 'Applied', `ConfigMap ${name}-config ${cm.outcome}`);
      await report(announce('ConfigMap', `${name}-config`, cm.outcome));

      const secret = await run(`ensure Secret ${id}-credentials`, () =>
        act(`ensure Secret ${id}-credentials`).ensureSecret(target),
      );
      if (secret === SUPERSEDED) return;
      state.status.secretName = secret.secretName;
      mark(ConditionTypes.SecretReady, 'True', 'Present', `Secret ${secret.secretName} ${secret.outcome}`);
      await report(announce('Secret', secret.secretName, secret.outcome));

      if (upgrading) {
        const upgraded = await upgrade(running!, cm.configHash);
        if (upgraded === SUPERSEDED) return;
        target = upgraded;
      }
      // After an upgrade that did not complete, the plain apply of what runs as well: it changes
      // nothing after a clean rollback, and repairs whatever one that stopped short left behind.
      if (!upgrading || target !== requested) {
        const sts = await run(`apply StatefulSet ${id}`, () =>
          act(`apply StatefulSet ${id}`).applyStatefulSet(target, cm.configHash),
        );
        if (sts === SUPERSEDED) return;
        await report(announce('StatefulSet', name, sts.outcome));
      }

      const svc = await run(`apply Services of ${id}`, () =>
        act(`apply Services ${id}-primary, -ro, -headless`).applyServices(target),
      );
      if (svc === SUPERSEDED) return;
      state.status.endpoints = svc.endpoints;
      mark(
        ConditionTypes.ServicesReady,
        'True',
        'Applied',
        `Services ${name}-primary, ${name}-ro, ${name}-headless ${svc.outcome}`,
      );
      await report(announce('Services', `${name}-primary, ${name}-ro, ${name}-headless`, svc.outcome));

      // Replication needs the engines when there are replicas, or when a scale-down to one member
      // leaves a replica's slot behind; a single member is reported without asking the engine.
      const replication = patched('replication-v1');
      const engineWork =
        replication && (target.spec.replicas > 1 || (state.applied?.replicas ?? target.spec.replicas) > 1);
      let configured = !engineWork;
      /**
       * The early replication pass: role, slots and replication user as soon as member 0 answers,
       * before the replicas start (a PostgreSQL replica's init container clones through its slot).
       * Transient trouble that outlives the retries is not fatal here: the pass is tried again
       * while waiting for the pods, and the replication wait after it has the last word.
       */
      const configureEarly = async (): Promise<boolean> => {
        const what = `configure replication of ${id}`;
        try {
          const early = await run(what, () => act(what, untilMemberZeroAnswers).configureReplication(target));
          if (early === SUPERSEDED) return false;
          configured = true;
          await absorbReplication(early, false);
        } catch (err) {
          if (isCancellation(err) || describeFailure(err).permanent) throw err;
          await whyNotReady(describeFailure(err).message);
        }
        return true;
      };
      // A new generation may bring replicas that need their role and slot before they can start:
      // ensured up front. A repair (drift, resync) of a reconciled generation has them; it runs
      // the pass only if its pods are not ready, and the final pass below checks them anyway.
      if (!configured && mode === 'generation' && !(await configureEarly())) return;

      // Wait for the pods, reporting progress after each bounded wait.
      for (;;) {
        const ready = await run(`wait for StatefulSet ${id} to be ready`, () =>
          act(`wait for StatefulSet ${id} to be ready`, waiting).waitForStatefulSetReady(
            target,
            READY_WAIT_BUDGET_SECONDS,
          ),
        );
        if (ready === SUPERSEDED) return;
        state.status.replicas = ready.replicas;
        state.status.readyReplicas = ready.readyReplicas;
        if (ready.ready) {
          mark(ConditionTypes.StatefulSetReady, 'True', 'PodsReady', ready.message);
          break;
        }
        mark(ConditionTypes.StatefulSetReady, 'False', 'PodsNotReady', ready.message);
        const podsWhy = ready.reason ? `${ready.message}; ${ready.reason}` : ready.message;
        if (!configured && !(await configureEarly())) return;
        if (mode !== 'generation') {
          await degrade('PodsNotReady', statusText(podsWhy));
          return;
        }
        await whyNotReady(podsWhy);
        await report();
      }

      if (replication) {
        if (!engineWork) {
          setMembers([{ name: `${name}-0`, role: 'primary' }]);
          mark(ConditionTypes.ReplicationReady, 'True', 'SingleMember', 'one member: nothing to replicate');
        }
        // Wait for every replica to stream (and departing ones to let go), reporting progress.
        while (engineWork) {
          const what = `wait for replication of ${id}`;
          const rep = await run(what, () =>
            act(what, waiting).waitForReplicationReady(target, READY_WAIT_BUDGET_SECONDS),
          );
          if (rep === SUPERSEDED) return;
          await absorbReplication(rep, true);
          if (rep.ready) break;
          if (mode !== 'generation') {
            await degrade('ReplicationNotReady', rep.message);
            return;
          }
          await whyNotReady(`replication not ready: ${rep.message}`);
          await report();
        }
      }

      const fromBackup = target.spec.bootstrap?.fromBackup?.name;
      if (first && fromBackup && state.restoredFrom !== fromBackup && patched('restore-v1')) {
        if ((await restore(target, mark, report, run)) === SUPERSEDED) return;
      }

      const wasReady = state.status.phase === 'Ready';
      state.applied = target.spec;
      state.handledGeneration = update.generation;
      state.status.observedGeneration = update.generation;
      state.status.currentVersion = target.spec.version;
      state.running = { version: target.spec.version, image: target.spec.image };
      phase('Ready');
      mark(
        ConditionTypes.Ready,
        'True',
        'Ready',
        `${target.spec.engine} ${target.spec.version} with ${target.spec.replicas} ready replica(s)`,
      );
      mark(ConditionTypes.Progressing, 'False', 'Reconciled', `generation ${update.generation} reconciled`);
      const repaired = drift.map(
        (d) => `${d.kind} ${d.name} ${d.change === 'deleted' ? 're-created' : 'restored'}`,
      );
      await report(
        mode === 'generation'
          ? {
              type: 'Normal',
              reason: 'Ready',
              message:
                target === requested
                  ? `generation ${update.generation} is ready`
                  : `generation ${update.generation} is ready on ${target.spec.engine} ${target.spec.version}, the version it ran before its upgrade`,
            }
          : repaired.length > 0
            ? { type: 'Normal', reason: 'DriftCorrected', message: repaired.join('; ') }
            : wasReady
              ? undefined
              : { type: 'Normal', reason: 'Ready', message: 'ready again' },
      );
      if (mode !== 'drift' && patched('backup-schedule-v1')) await scheduleBackups(target, mark, report);
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
      await fail(
        update,
        failure.type,
        failure.permanent ? failure.message : `${failure.message} (will retry in ${RETRY_AFTER})`,
      );
    }
  }

  /** Reports a generation that cannot be reconciled now: Ready=False with the reason, an Event. */
  async function fail(update: SpecUpdate, reason: string, failure: string) {
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
    step = `failed: ${reason}`;
    setCurrentDetails(`**${reason}**: ${message}`);
    try {
      await act(`report ${reason} on Database ${namespace}/${name}`).reportStatus(
        ref,
        state.status,
        keyed({ type: 'Warning', reason, message }),
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      // Even the report failed (API server unreachable for minutes): try the whole generation
      // again later rather than letting the workflow fail.
      state.retryPending = true;
    }
  }

  async function deleteDatabase(update: SpecUpdate) {
    const ref = { namespace, name, uid: update.uid };
    const id = `${namespace}/${name}`;
    // A deletion must finish: its steps retry until they succeed, however long the API is away.
    const act = (summary: string) => actUntilDone(summary);
    const policy = update.spec.deletionPolicy ?? 'Delete';
    setCurrentDetails(`**deleting** (deletionPolicy ${policy})`);
    state.status.phase = 'Deleting';
    upsertSearchAttributes([{ key: PhaseAttribute, value: 'Deleting' }]);
    await act(`update status of Database ${id}`).reportStatus(
      ref,
      state.status,
      keyed({
        type: 'Normal',
        reason: 'Deleting',
        message:
          policy === 'Retain'
            ? 'deleting; data volumes and credentials Secret are retained'
            : 'deleting with its data volumes',
      }),
    );
    if (patched('backup-schedule-v1')) {
      // Backups already taken (DatabaseBackups and their data) stay: they outlive the Database.
      await act(`delete backup Schedule of Database ${id}`).deleteBackupSchedule(namespace, name);
    }
    await act(
      `release ${policy === 'Retain' ? 'and retain data of' : 'data of'} Database ${id}`,
    ).releaseDatabase(ref, policy);
    await act(`remove finalizer from Database ${id}`).removeFinalizer(ref);
  }

  /** What the StatefulSet runs: recorded since upgrades exist, else what the last reconcile applied. */
  function runningBuild(): EngineBuild | undefined {
    if (state.running) return state.running;
    return state.applied && { version: state.applied.version, image: state.applied.image };
  }

  /** Removes the cancel-upgrade annotation once its request is handled, with an Event saying how. */
  async function clearCancelRequest(update: SpecUpdate, outcome: string) {
    const ref = { namespace, name, uid: update.uid };
    try {
      await act(
        `remove annotation ${CANCEL_UPGRADE_ANNOTATION} from Database ${namespace}/${name}`,
      ).clearCancelUpgrade(ref);
      await act(`record cancel request on Database ${namespace}/${name}`).reportStatus(
        ref,
        state.status,
        keyed({
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
   * Makes the Temporal Schedule match spec.backup (create, update, pause) when the generation is
   * new, spec.backup changed, or at a resync (someone may have deleted it in the UI). Trouble
   * with the Schedule is reported in BackupScheduled and does not make the Database unready.
   */
  async function scheduleBackups(target: DatabaseTarget, mark: Mark, report: Report) {
    const { enabled, schedule } = target.spec.backup;
    const wanted = JSON.stringify({ enabled, schedule });
    if (state.backupScheduleFor === wanted && !enabled) return;
    try {
      const outcome = await act(
        `ensure backup Schedule of Database ${namespace}/${name}`,
      ).ensureBackupSchedule(target);
      state.backupScheduleFor = wanted;
      if (enabled) {
        mark(ConditionTypes.BackupScheduled, 'True', 'Scheduled', `backups on cron "${schedule}" (UTC)`);
      } else {
        mark(
          ConditionTypes.BackupScheduled,
          'False',
          outcome === 'absent' ? 'NotConfigured' : 'Paused',
          outcome === 'absent'
            ? 'spec.backup.enabled is false'
            : 'schedule paused: spec.backup.enabled is false',
        );
      }
      const changed = outcome === 'created' || outcome === 'updated' || outcome === 'paused';
      await report(
        changed
          ? {
              type: 'Normal',
              reason: outcome === 'paused' ? 'BackupSchedulePaused' : 'BackupScheduled',
              message: `backup Schedule ${outcome}${enabled ? `: cron "${schedule}"` : ''}`,
            }
          : undefined,
      );
    } catch (err) {
      if (isCancellation(err)) throw err;
      const failure = describeFailure(err);
      mark(ConditionTypes.BackupScheduled, 'False', 'ScheduleFailed', failure.message);
      await report({ type: 'Warning', reason: 'BackupScheduleFailed', message: failure.message });
    }
  }

  /**
   * Restores spec.bootstrap.fromBackup into the new Database, once, after its members are up and
   * before it is declared Ready: checks the backup (Succeeded, same engine), runs Job
   * `<db>-restore` and waits for it. A refusal or a failed Job is permanent for this generation:
   * the Restored condition and the Ready condition say why.
   */
  async function restore(
    target: DatabaseTarget,
    mark: Mark,
    report: Report,
    run: <T>(what: string, fn: () => Promise<T>) => Promise<T | Superseded>,
  ): Promise<void | Superseded> {
    const id = `${namespace}/${name}`;
    const from = target.spec.bootstrap!.fromBackup!.name;
    try {
      const source = await run(`check backup ${namespace}/${from} for restore`, () =>
        act(`check backup ${namespace}/${from} for restore`).checkRestoreSource(target),
      );
      if (source === SUPERSEDED) return SUPERSEDED;
      mark(ConditionTypes.Restored, 'False', 'Restoring', `restoring ${from} from ${source.location}`);
      await report({ type: 'Normal', reason: 'Restoring', message: `restoring backup ${from}` });
      const started = await run(`start restore Job ${id}-restore`, () =>
        act(`start restore Job ${id}-restore`).startRestoreJob(target, source.location),
      );
      if (started === SUPERSEDED) return SUPERSEDED;
      for (;;) {
        const outcome = await run(`wait for restore Job ${namespace}/${started.jobName}`, () =>
          act(`wait for Job ${namespace}/${started.jobName}`, waiting).waitForJob(
            namespace,
            started.jobName,
            READY_WAIT_BUDGET_SECONDS,
          ),
        );
        if (outcome === SUPERSEDED) return SUPERSEDED;
        if (outcome.state === 'running') continue;
        if (outcome.state === 'failed') {
          throw ApplicationFailure.nonRetryable(
            `restore of backup ${from} failed (Job ${started.jobName}): ${outcome.message}`,
            'RestoreFailed',
          );
        }
        break;
      }
      state.restoredFrom = from;
      mark(ConditionTypes.Restored, 'True', 'Restored', `restored backup ${from}`);
      await report({ type: 'Normal', reason: 'Restored', message: `restored backup ${from}` });
    } catch (err) {
      if (isCancellation(err)) throw err;
      const failure = describeFailure(err);
      if (failure.type !== 'DatabaseGone') {
        mark(ConditionTypes.Restored, 'False', failure.type, failure.message);
      }
      throw err;
    }
  }

  function keyed(event: Omit<EventRecord, 'key'>): EventRecord {
    state.eventSeq += 1;
    return { ...event, key: `${workflowInfo().runId}/${state.eventSeq}` };
  }
}

function sameBuild(spec: Pick<DatabaseSpec, 'version' | 'image'>, build: EngineBuild): boolean {
  return spec.version === build.version && (spec.image ?? '') === (build.image ?? '');
}

/** The target with another version and image (what runs, while a failed upgrade is held back). */
function withBuild(target: DatabaseTarget, build: EngineBuild): DatabaseTarget {
  return { ...target, spec: { ...target.spec, version: build.version, image: build.image } };
}

function buildText(engine: string, build: EngineBuild): string {
  return `${engine} ${build.version}${build.image ? ` (${build.image})` : ''}`;
}

/** An Event for an object the step created or changed; nothing when it was already as wanted. */
function announce(kind: string, objectName: string, outcome: string): Omit<EventRecord, 'key'> | undefined {
  if (outcome === 'unchanged') return undefined;
  const verb = outcome === 'created' ? 'Created' : 'Updated';
  return {
    type: 'Normal',
    reason: `${kind.replace(/s$/, '')}${verb}`,
    message: `${kind} ${objectName} ${outcome}`,
  };
}

/**
 * Runs `fn` in a cancellable scope and cancels it as soon as `abandon()` turns true, returning
 * SUPERSEDED. A waiting activity is cancelled through its heartbeat; a retrying one stops
 * retrying. Used so that a new spec never waits behind an obsolete step.
 */
async function interruptible<T>(fn: () => Promise<T>, abandon: () => boolean): Promise<T | Superseded> {
  if (abandon()) return SUPERSEDED;
  const scope = new CancellationScope();
  const work = scope.run(fn);
  const watch = new CancellationScope();
  const stop: Promise<Superseded> = watch.run(() => condition(abandon)).then(() => SUPERSEDED);
  try {
    return await Promise.race<T | Superseded>([work, stop]);
  } catch (err) {
    if (abandon() && isCancellation(err)) return SUPERSEDED;
    throw err;
  } finally {
    watch.cancel();
    stop.catch(() => undefined);
    if (abandon()) {
      scope.cancel();
      work.catch(() => undefined);
    }
  }
}

export interface FailureInfo {
  type: string;
  message: string;
  permanent: boolean;
}

export function describeFailure(err: unknown): FailureInfo {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    return {
      type:
        cause.type && !cause.type.startsWith('Http') && cause.type !== 'Transient'
          ? cause.type
          : 'ReconcileFailed',
      message: cause.message,
      permanent: !!cause.nonRetryable,
    };
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return { type: 'ReconcileFailed', message, permanent: false };
}
