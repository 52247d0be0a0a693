import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  isCancellation,
  patched,
  setCurrentDetails,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import { act } from '../activity-options';
import { describeFailure } from '../failure';
import {
  backupSignal,
  cancelUpgradeSignal,
  driftSignal,
  specSignal,
  stateQuery,
  upgradeProgressSignal,
  type DatabaseWorkflowInput,
} from '../signals';
import { reconcile, RETRY_AFTER } from './reconcile';
import {
  DEFAULT_LIMITS,
  freshState,
  historyFull,
  isGone,
  newGeneration,
  type Entity,
  type State,
} from './state';
import { noteBackup } from './status-book';
import { deleteDatabase } from './steps/delete';
import { switchOver } from './steps/switchover';
import { acceptedCancel, cancelUpgradeRefusal, clearCancelRequest } from './steps/upgrade';
import { CANCEL_UPGRADE_REJECTED, cancelUpgradeUpdate } from '../cancel-upgrade-update';
import { switchoverSignal } from '../switchover-names';

/** Runs from before quiet-resync-v1 re-ensured everything this often. */
const LEGACY_RESYNC_INTERVAL = '10 minutes';

/**
 * The level-triggered safety net: a look at the Database even when nothing was signalled, about
 * every `resyncSeconds`, jittered by ±10% (Math.random is seeded per run, so replays agree) so
 * that thousands of Databases started together do not wake together.
 */
function resyncInterval(entity: Entity): number | string {
  if (!patched('quiet-resync-v1')) return LEGACY_RESYNC_INTERVAL;
  return Math.round(entity.limits.resyncSeconds * 1000 * (0.9 + 0.2 * Math.random()));
}

/**
 * The long-lived workflow of one Database (`database/<namespace>/<name>`): an entity loop. It
 * waits for spec signals (coalescing to the newest generation), drift signals, backup outcomes,
 * cancel and switchover requests and a periodic resync, and dispatches each to its runbook:
 * reconcile (./reconcile.ts), switchover (./steps/switchover.ts) or delete (./steps/delete.ts). It continues as new before its history grows
 * large, carrying its state. Deletion releases the data per deletionPolicy, removes the
 * finalizer and completes the workflow.
 */
export async function databaseWorkflow(input: DatabaseWorkflowInput): Promise<void> {
  const { namespace, name } = input;
  const state: State = (input.carried as State | undefined) ?? freshState();
  const entity: Entity = {
    namespace,
    name,
    state,
    step: 'waiting for the first spec',
    upgradeProgress: [],
    limits: { ...DEFAULT_LIMITS, ...input.limits },
  };
  listen(entity);

  for (;;) {
    // After a transient failure the generation is tried again after RETRY_AFTER, as its status
    // says, not at once: only a newer spec, a deletion or the Database gone end the wait early.
    const retrying = state.retryPending && patched('retry-after-v1') ? state.latest : undefined;
    const woken = await condition(
      () =>
        retrying
          ? state.latest !== retrying || isGone(state)
          : newGeneration(state) ||
            state.drift.length > 0 ||
            state.retryPending ||
            isGone(state) ||
            !!state.backupDirty ||
            !!state.cancelUpgrade ||
            state.switchoverTo !== undefined,
      // A retry, or a Degraded Database (pods not ready at the last look), is checked again soon.
      state.retryPending || state.status.phase === 'Degraded' ? RETRY_AFTER : resyncInterval(entity),
    );
    if (isGone(state)) {
      setCurrentDetails('**gone**: the Database was deleted without passing through the finalizer');
      return;
    }
    const update = state.latest;
    if (!update) continue; // resync before any spec arrived: nothing to do

    if (update.uid !== state.uid) {
      // First spec, or the Database was deleted and re-created under the same name.
      if (patched('fresh-incarnation-v1')) startIncarnation(state, update.uid);
      else
        Object.assign(state, {
          uid: update.uid,
          handledGeneration: undefined,
          applied: undefined,
          status: {},
        });
    }
    if (update.deleting) {
      entity.step = 'deleting';
      try {
        await deleteDatabase(entity, update);
      } catch (err) {
        if (isCancellation(err)) throw err;
        // Permanent trouble (e.g. a missing RBAC rule): say so, then try the deletion again later.
        const failure = describeFailure(err);
        entity.step = `deletion failed: ${failure.type}`;
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
          carried: { ...freshState(), latest: state.latest } satisfies State,
          limits: input.limits,
        });
      }
      return;
    }

    if (state.cancelUpgrade) {
      // No upgrade runs now (a running one takes the request itself): say so, drop the annotation.
      state.cancelUpgrade = false;
      await clearCancelRequest(entity, update, 'no upgrade is running');
      if (!newGeneration(state) && state.drift.length === 0 && !state.retryPending) continue;
    }

    if (state.switchoverTo !== undefined) {
      // Between generations, never in the middle of one: a switchover sees the spec that runs.
      const to = state.switchoverTo;
      state.switchoverTo = undefined;
      await switchOver(entity, update, to);
      if (!newGeneration(state) && state.drift.length === 0 && !state.retryPending) continue;
    }

    const drift = state.drift.splice(0);
    const retry = state.retryPending;
    state.retryPending = false;
    if (newGeneration(state) || retry) {
      await reconcile(entity, update, 'generation');
    } else if (
      state.applied &&
      state.handledGeneration === update.generation &&
      state.status.phase !== 'Failed'
    ) {
      // Drift or periodic resync of a generation that reconciled successfully. A generation that
      // failed permanently waits for a new spec instead of failing again at every resync.
      // A change of the pods' readiness alone is looked into as a resync is: looked over first.
      const onlyReadiness = drift.length > 0 && drift.every((d) => d.change === 'readiness');
      const repair = woken && !onlyReadiness;
      await reconcile(entity, update, repair ? 'drift' : 'resync', drift);
    }

    if (isGone(state)) {
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

    if (historyFull(entity)) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof databaseWorkflow>({ namespace, name, carried: state, limits: input.limits });
    }
  }
}

/**
 * A new incarnation starts from a fresh state: nothing the old one ran, restored, failed or
 * scheduled applies to it (what runs is read from the cluster, see reconcile.ts). Kept: the
 * pending spec and deletion notice, and the Event counter (Event keys are per run and must not
 * repeat).
 */
function startIncarnation(state: State, uid: string): void {
  const { latest, goneUid, eventSeq } = state;
  for (const key of Object.keys(state)) delete (state as unknown as Record<string, unknown>)[key];
  Object.assign(state, freshState(), { uid, latest, goneUid, eventSeq });
}

/** The signal, update and query handlers: they only record what arrived; the loop acts on it. */
function listen(entity: Entity): void {
  const { state, upgradeProgress } = entity;
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
  // The same request as an Update: answered at once, accepted only while it can still cancel.
  setHandler(
    cancelUpgradeUpdate,
    () => {
      state.cancelUpgrade = true;
      return acceptedCancel(entity);
    },
    {
      validator: (request) => {
        const refusal = cancelUpgradeRefusal(entity, request);
        if (refusal) throw ApplicationFailure.nonRetryable(refusal, CANCEL_UPGRADE_REJECTED);
      },
    },
  );
  setHandler(switchoverSignal, (request) => {
    // The newest request wins: asked again while one runs, the next turn takes that one.
    if (request.uid === (state.latest?.uid ?? state.uid)) state.switchoverTo = request.to;
  });
  setHandler(upgradeProgressSignal, (progress) => {
    if (upgradeProgress.length < 50) upgradeProgress.push(progress);
  });
  setHandler(backupSignal, (notice) => {
    // The Database's status is written by this workflow only (a second writer's conditions would
    // be lost at the next report): a backup run reports here, and the loop writes it out.
    noteBackup(state, notice);
    state.backupDirty = true;
  });
  setHandler(stateQuery, () => ({
    uid: state.uid,
    observedGeneration: state.status.observedGeneration,
    pendingGeneration: state.latest?.generation,
    phase: state.status.phase,
    step: entity.step,
    status: state.status,
  }));
}
