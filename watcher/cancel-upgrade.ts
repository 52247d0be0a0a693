import type { Client } from '@temporalio/client';
import { CANCEL_UPGRADE_ANNOTATION } from '../crds';
import type { Logger } from '../common/logger';
import { cancelUpgradeSignal, databaseWorkflowId } from '../workflows/signals';
import type { DatabaseObject, SignalResult } from './signaler';
import { KeyedSender, noWorkflow, temporalCall } from './sender';
import type { BackoffOptions } from './timing';

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

interface CancelRequest {
  uid: string;
  namespace: string;
  name: string;
}

export class CancelUpgradeSignaler {
  /** uids whose current annotation was signalled (or is being signalled). */
  private readonly requested = new Set<string>();
  private readonly sender: KeyedSender<CancelRequest>;
  private running = false;

  constructor(opts: CancelUpgradeSignalerOptions) {
    const log = opts.logger.child({ part: 'cancel-upgrade' });
    const where = ({ uid, namespace, name }: CancelRequest) => ({ namespace, name, uid });
    this.sender = new KeyedSender<CancelRequest>({
      what: 'cancel-upgrade signal',
      logger: log,
      send: (db, signal) =>
        temporalCall(opts.client, signal, opts.requestTimeoutMs ?? 20_000, () =>
          opts.client.workflow
            .getHandle(databaseWorkflowId(db.namespace, db.name))
            .signal(cancelUpgradeSignal, { uid: db.uid }),
        ),
      permanent: noWorkflow,
      backoff: opts.backoff,
      maxAttempts: opts.maxAttempts ?? 6,
      logFields: where,
      onResult: opts.onSignal,
      onSent: (_uid, db) => log.info(where(db), 'cancel-upgrade signal sent'),
      onPermanent: (_uid, db) =>
        log.warn(where(db), 'cancel-upgrade ignored: the Database has no running workflow'),
      // Given up: the annotation, if still there, counts as a new request at the next update.
      onGiveUp: (uid) => this.requested.delete(uid),
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.sender.start();
  }

  stop(): Promise<void> {
    this.running = false;
    // Forgotten, so that after a restart (or regained leadership) a pending request is sent again.
    this.requested.clear();
    return this.sender.stop();
  }

  /** Takes note of a Database as the informer delivered it. */
  observe(db: DatabaseObject): void {
    const { uid, namespace, name, deletionTimestamp } = db.metadata ?? {};
    if (!this.running || !uid || !namespace || !name) return;
    if (!cancelRequested(db)) {
      this.forget(uid); // handled (or removed by hand): a new annotation is a new request
      return;
    }
    if (this.requested.has(uid) || deletionTimestamp) return;
    this.requested.add(uid);
    this.sender.submit(uid, { uid, namespace, name });
  }

  forget(uid: string): void {
    if (this.requested.delete(uid)) this.sender.cancel(uid);
  }
}
