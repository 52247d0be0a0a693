import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { CANCEL_UPGRADE_ANNOTATION } from '../crds';
import type { Logger } from '../common/logger';
import { cancelUpgradeSignal, databaseWorkflowId } from '../workflows/signals';
import type { DatabaseObject, SignalResult } from './signaler';
import { backoffDelay, DEFAULT_BACKOFF, describeError, type BackoffOptions } from './timing';

/**
 * `kubectl annotate database <name> durable.dev/cancel-upgrade=true` → a cancelUpgrade signal to
 * the Database's workflow, which cancels its running upgrade (it rolls back) and then removes the
 * annotation. An annotation changes no generation, so the Database informer hands every add and
 * update here; one signal goes out per appearance of the annotation on a uid (status updates
 * during the rollback deliver the same annotation again and again).
 */
export interface CancelUpgradeSignalerOptions {
  client: Client;
  logger: Logger;
  backoff?: BackoffOptions;
  /** Attempts per request before giving up (a new annotation sends it again). Default 6. */
  maxAttempts?: number;
  requestTimeoutMs?: number;
  /** Called after each signal call (for metrics); must not throw. */
  onSignal?: (result: SignalResult, seconds: number) => void;
}

/** Whether a Database carries the cancel-upgrade annotation (any value). */
export function cancelRequested(db: DatabaseObject): boolean {
  return db.metadata?.annotations?.[CANCEL_UPGRADE_ANNOTATION] !== undefined;
}

export class CancelUpgradeSignaler {
  /** uids whose current annotation was signalled (or is being signalled). */
  private readonly requested = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private running = false;
  private abort = new AbortController();
  private readonly log: Logger;

  constructor(private readonly opts: CancelUpgradeSignalerOptions) {
    this.log = opts.logger.child({ part: 'cancel-upgrade' });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
  }

  stop(): void {
    this.running = false;
    this.abort.abort();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    // Forgotten, so that after a restart (or regained leadership) a pending request is sent again.
    this.requested.clear();
  }

  /** Takes note of a Database as the informer delivered it. */
  observe(db: DatabaseObject): void {
    const { uid, namespace, name, deletionTimestamp } = db.metadata ?? {};
    if (!this.running || !uid || !namespace || !name) return;
    if (!cancelRequested(db)) {
      this.requested.delete(uid); // handled (or removed by hand): a new annotation is a new request
      return;
    }
    if (this.requested.has(uid) || deletionTimestamp) return;
    this.requested.add(uid);
    void this.send({ uid, namespace, name }, 1);
  }

  forget(uid: string): void {
    this.requested.delete(uid);
  }

  private async send(db: { uid: string; namespace: string; name: string }, attempt: number): Promise<void> {
    const { client } = this.opts;
    const where = { namespace: db.namespace, name: db.name, uid: db.uid };
    const began = performance.now();
    let result: SignalResult;
    let failure: unknown;
    try {
      const deadline = Date.now() + (this.opts.requestTimeoutMs ?? 20_000);
      await client.withDeadline(deadline, () =>
        client.withAbortSignal(this.abort.signal, () =>
          client.workflow
            .getHandle(databaseWorkflowId(db.namespace, db.name))
            .signal(cancelUpgradeSignal, { uid: db.uid }),
        ),
      );
      result = 'sent';
    } catch (err) {
      result =
        err instanceof WorkflowNotFoundError
          ? 'no-workflow'
          : this.abort.signal.aborted
            ? 'cancelled'
            : 'failed';
      failure = err;
    }
    this.opts.onSignal?.(result, (performance.now() - began) / 1000);
    if (result === 'sent') this.log.info(where, 'cancel-upgrade signal sent');
    if (result === 'no-workflow')
      this.log.warn(where, 'cancel-upgrade ignored: the Database has no running workflow');
    if (result !== 'failed' || !this.running || !this.requested.has(db.uid)) return;
    if (attempt >= (this.opts.maxAttempts ?? 6)) {
      this.log.warn(
        { ...where, ...describeError(failure), attempts: attempt },
        'cancel-upgrade signal given up',
      );
      this.requested.delete(db.uid);
      return;
    }
    const delay = backoffDelay(attempt, this.opts.backoff ?? DEFAULT_BACKOFF);
    this.log.warn(
      { ...where, ...describeError(failure), attempt, retryInMs: delay },
      'cancel-upgrade signal failed, will retry',
    );
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.send(db, attempt + 1);
    }, delay);
    this.timers.add(timer);
  }
}
