import type { Client } from '@temporalio/client';
import type { Logger } from '../common/logger';
import type { DatabaseObject, SignalResult } from './signaler';
import { KeyedSender, noWorkflow, temporalCall } from './sender';
import type { BackoffOptions } from './timing';

/**
 * A request a person makes by annotating a Database (`kubectl annotate database <name> <key>=…`),
 * sent to the Database's workflow as a signal. An annotation changes no generation, so the
 * Database informer hands every add and update here; one signal goes out per appearance of the
 * annotation, or of a new value of it, on a uid (status updates while the request is handled
 * deliver the same annotation again and again). The workflow removes the annotation once it has
 * handled the request; a value changed meanwhile is a new request and stays.
 */
export interface AnnotationRequestOptions {
  client: Client;
  logger: Logger;
  backoff?: BackoffOptions;
  /** Attempts per request before giving up (a new annotation sends it again). Default 6. */
  maxAttempts?: number;
  requestTimeoutMs?: number;
  /** Called after each signal call (for metrics); must not throw. */
  onSignal?: (result: SignalResult, seconds: number) => void;
}

/** What is asked: the annotation, and the signal that carries it. */
export interface AnnotationRequestKind {
  /** The annotation's key. */
  annotation: string;
  /** The request in words, for logs ("cancel-upgrade"). */
  what: string;
  /** Sends the request for the annotation's value to the Database's workflow. */
  send: (client: Client, request: AnnotationRequest) => Promise<void>;
}

export interface AnnotationRequest {
  uid: string;
  namespace: string;
  name: string;
  /** The annotation's value. */
  value: string;
}

export class AnnotationRequestSignaler {
  /** Per uid, the annotation value signalled (or being signalled). */
  private readonly requested = new Map<string, string>();
  private readonly sender: KeyedSender<AnnotationRequest>;
  private running = false;

  constructor(
    private readonly kind: AnnotationRequestKind,
    opts: AnnotationRequestOptions,
  ) {
    const log = opts.logger.child({ part: kind.what });
    const where = ({ uid, namespace, name, value }: AnnotationRequest) => ({ namespace, name, uid, value });
    this.sender = new KeyedSender<AnnotationRequest>({
      what: `${kind.what} signal`,
      logger: log,
      send: (request, signal) =>
        temporalCall(opts.client, signal, opts.requestTimeoutMs ?? 20_000, () =>
          kind.send(opts.client, request),
        ),
      permanent: noWorkflow,
      backoff: opts.backoff,
      maxAttempts: opts.maxAttempts ?? 6,
      logFields: where,
      onResult: opts.onSignal,
      onSent: (_uid, request) => log.info(where(request), `${kind.what} signal sent`),
      onPermanent: (_uid, request) =>
        log.warn(where(request), `${kind.what} ignored: the Database has no running workflow`),
      // Given up: the annotation, if still there, counts as a new request at the next update.
      onGiveUp: (uid) => this.requested.delete(uid),
    });
  }

  /** The annotation's value on a Database, if it carries it (any value, also empty). */
  valueOn(db: DatabaseObject): string | undefined {
    return db.metadata?.annotations?.[this.kind.annotation];
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
    const value = this.valueOn(db);
    if (value === undefined) {
      this.forget(uid); // handled (or removed by hand): a new annotation is a new request
      return;
    }
    if (this.requested.get(uid) === value || deletionTimestamp) return;
    this.requested.set(uid, value);
    this.sender.submit(uid, { uid, namespace, name, value });
  }

  forget(uid: string): void {
    if (this.requested.delete(uid)) this.sender.cancel(uid);
  }
}
