import {
  CancellationScope,
  condition,
  isCancellation,
  patched,
  setCurrentDetails,
} from '@temporalio/workflow';
import type { DatabaseRef } from '../../activities';
import { ConditionTypes } from '../conditions';
import type { SpecUpdate } from '../signals';
import { statusText } from '../status-text';
import { cancellationWaits } from '../activity-options';
import { historyFull, supersedes, type Entity } from './state';
import { StatusBook } from './status-book';

export const SUPERSEDED = Symbol('superseded');
export type Superseded = typeof SUPERSEDED;

/** Why the steps run: a new generation, a drift signal, or the periodic resync. */
export type ReconcileMode = 'generation' | 'drift' | 'resync';

/**
 * One reconcile of one generation: what every step of it receives. A step gives up (returns
 * SUPERSEDED) as soon as a newer spec or a deletion arrives.
 */
export interface Generation {
  readonly entity: Entity;
  readonly update: SpecUpdate;
  readonly mode: ReconcileMode;
  /** `<namespace>/<name>`, for summaries and messages. */
  readonly id: string;
  readonly ref: DatabaseRef;
  readonly book: StatusBook;
  /** Nothing was applied yet for this incarnation (its first generation). */
  readonly first: boolean;
  superseded(): boolean;
  /** Runs one step, named for the state query and the UI, abandoned when superseded. */
  run<T>(what: string, fn: () => Promise<T>): Promise<T | Superseded>;
}

export function openGeneration(entity: Entity, update: SpecUpdate, mode: ReconcileMode): Generation {
  const { namespace, name, state } = entity;
  const superseded = () => supersedes(state, update);
  return {
    entity,
    update,
    mode,
    id: `${namespace}/${name}`,
    ref: { namespace, name, uid: update.uid },
    book: new StatusBook(entity, update),
    first: !state.applied,
    superseded,
    run(what, fn) {
      entity.step = what;
      setCurrentDetails(`**${what}** (generation ${update.generation})`);
      return interruptible(fn, superseded);
    },
  };
}

/**
 * Between two waits of a new generation that is not Ready yet (pods, replication, a restore Job):
 * true when the run's history is full, after noting the generation as to be resumed. The
 * reconcile then stops, the run continues as new, and the next run resumes the generation, so a
 * Database that never becomes ready does not grow one history until Temporal terminates it.
 */
export function pauseForNewRun(g: Generation): boolean {
  if (g.mode !== 'generation' || !historyFull(g.entity) || !patched('bounded-generation-v1')) return false;
  g.entity.state.resuming = g.update.generation;
  return true;
}

/**
 * While a new generation is not Ready, its Ready condition says why, in the words of the newest
 * failure or wait (member 0 refusing connections, a pod in CrashLoopBackOff, a replica not
 * streaming), not only "reconciling". Written at once, and only when the text changes;
 * statusText blanks anything credential-like and bounds the length.
 */
export async function explainNotReady(g: Generation, why: string): Promise<void> {
  if (g.mode !== 'generation' || !patched('status-why-v1')) return;
  g.book.mark(
    ConditionTypes.Ready,
    'False',
    g.first ? 'Provisioning' : 'Updating',
    statusText(`reconciling generation ${g.update.generation}: ${why}`),
  );
  await g.book.report();
}

/**
 * Runs `fn` in a cancellable scope and cancels it as soon as `abandon()` turns true, returning
 * SUPERSEDED. A waiting activity is cancelled through its heartbeat; a retrying one stops
 * retrying. Used so that a new spec never waits behind an obsolete step.
 */
export async function interruptible<T>(
  fn: () => Promise<T>,
  abandon: () => boolean,
): Promise<T | Superseded> {
  if (abandon()) return SUPERSEDED;
  const scope = new CancellationScope();
  const work = scope.run(fn);
  const watch = new CancellationScope();
  const stop: Promise<Superseded> = watch.run(() => condition(abandon)).then(() => SUPERSEDED);
  let result: T | Superseded;
  try {
    result = await Promise.race<T | Superseded>([work, stop]);
  } catch (err) {
    if (!(abandon() && isCancellation(err))) {
      watch.cancel();
      stop.catch(() => undefined);
      throw err;
    }
    result = SUPERSEDED;
  }
  watch.cancel();
  stop.catch(() => undefined);
  if (abandon()) {
    scope.cancel();
    // The obsolete activity is waited for (see cancellationWaits): nothing it writes can land
    // after what the newer generation applies next.
    if (cancellationWaits()) await work.catch(() => undefined);
    else work.catch(() => undefined);
  }
  return result;
}
