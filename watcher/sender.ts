import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Logger } from '../common/logger';
import { backoffDelay, DEFAULT_BACKOFF, describeError, type BackoffOptions } from './timing';

/**
 * The one way the watcher sends to Temporal (spec signals, drift notices, cancel-upgrade signals,
 * backup starts): a queue keyed by what a send is about (a Database's uid, an owned object, a
 * backup), so that
 * - a key has at most one send in flight, and its sends go out in the order they were submitted;
 * - a newer payload for a key supersedes one not yet sent (newest wins: the callers submit only
 *   payloads that carry everything the older ones did);
 * - at most `concurrency` sends are in flight at once (a restart re-signals every Database);
 * - a transient failure is retried with the shared backoff (consecutive failures of the key set
 *   the delay), forever or up to `maxAttempts` per payload; a failure the caller calls permanent
 *   ends the key's send with that result;
 * - a failure is logged once per state (a payload and a kind of error), not per retry, so that an
 *   outage of Temporal does not flood the log.
 */

/** How one send call ended (the label of `durable_watcher_signals_total`). */
export type SendResult = 'sent' | 'failed' | 'cancelled' | 'no-workflow';

/** A result that ends a key's send as answered, though not as `sent`. */
export type PermanentResult = Exclude<SendResult, 'sent' | 'failed' | 'cancelled'>;

export interface KeyedSenderOptions<P, R = void> {
  /** What is sent, for log messages: "spec signal" → "spec signal failed, will retry". */
  what: string;
  logger: Logger;
  /** One attempt; rejects on failure. `signal` aborts when the sender stops. */
  send: (payload: P, signal: AbortSignal) => Promise<R>;
  /** The permanent result a failure stands for, or undefined when retrying may help. */
  permanent?: (err: unknown) => PermanentResult | undefined;
  /** Sends in flight at once. Default 8. */
  concurrency?: number;
  backoff?: BackoffOptions;
  /** Failed attempts per payload before giving up; default: never give up. */
  maxAttempts?: number;
  /** Quiet time after a submit before the send (a burst yields one send). Default 0. */
  debounceMs?: number;
  /** Identifies a payload in log lines (no secrets, no bodies). */
  logFields?: (payload: P) => Record<string, unknown>;
  /** After every send call (for metrics). */
  onResult?: (result: SendResult, seconds: number) => void;
  /**
   * A send succeeded; `attempts` counts the tries since the key's last success. Called even when
   * the sender was stopped meanwhile (Temporal did accept it), not after `cancel(key)`.
   */
  onSent?: (key: string, payload: P, value: R, attempts: number) => void;
  /** A send ended with a permanent result. */
  onPermanent?: (key: string, payload: P, result: PermanentResult, err: unknown) => void;
  /** `maxAttempts` failed attempts of a payload: it is dropped. */
  onGiveUp?: (key: string, payload: P) => void;
}

interface Entry<P> {
  /** The newest payload submitted; the one sent next. */
  payload: P;
  /** Bumped by every submit: an attempt completes the entry only if none came meanwhile. */
  version: number;
  /** Failed attempts of the newest payload (for maxAttempts). */
  attempts: number;
  /** Consecutive failed attempts of the key (for the backoff). */
  failures: number;
  state: 'waiting' | 'queued' | 'sending';
  timer?: NodeJS.Timeout;
  /** When the timer fires (ms since the epoch). */
  due?: number;
  /** The failure state last logged at warn level. */
  loggedFailure?: string;
  /** Dropped by cancel(): what its send in flight returns is ignored. */
  cancelled: boolean;
}

export class KeyedSender<P, R = void> {
  private readonly entries = new Map<string, Entry<P>>();
  /** Keys ready to send, waiting for a slot. */
  private readonly queue: string[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private active = 0;
  private running = false;
  private abort = new AbortController();
  private readonly log: Logger;

  constructor(private readonly opts: KeyedSenderOptions<P, R>) {
    this.log = opts.logger;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
  }

  /** Aborts the sends in flight (awaiting them) and drops everything pending. */
  async stop(): Promise<void> {
    if (this.running) {
      this.running = false;
      this.abort.abort();
      for (const entry of this.entries.values()) clearTimeout(entry.timer);
      this.entries.clear();
      this.queue.length = 0;
    }
    await Promise.allSettled([...this.inFlight]);
  }

  /** Keys with a payload not yet sent (waiting, queued or in flight). */
  get size(): number {
    return this.entries.size;
  }

  /** The newest payload of a key not yet sent. */
  pending(key: string): P | undefined {
    return this.entries.get(key)?.payload;
  }

  /**
   * Submits the newest payload of a key: it supersedes one not yet sent, and goes after the one in
   * flight. A submit puts the send off to `debounceMs` from now, never earlier than a backoff
   * already running. False when stopped.
   */
  submit(key: string, payload: P): boolean {
    if (!this.running) return false;
    const debounceMs = this.opts.debounceMs ?? 0;
    const entry = this.entries.get(key);
    if (!entry) {
      const fresh: Entry<P> = {
        payload,
        version: 0,
        attempts: 0,
        failures: 0,
        state: 'waiting',
        cancelled: false,
      };
      this.entries.set(key, fresh);
      this.wait(key, fresh, debounceMs);
      return true;
    }
    entry.payload = payload;
    entry.version++;
    entry.attempts = 0;
    if (entry.state === 'waiting') {
      const remaining = entry.due === undefined ? 0 : entry.due - Date.now();
      this.wait(key, entry, Math.max(debounceMs, remaining));
    }
    return true;
  }

  /** Drops a key: nothing more is sent for it, and its send in flight is ignored. */
  cancel(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    clearTimeout(entry.timer);
    entry.cancelled = true;
    this.entries.delete(key);
  }

  private wait(key: string, entry: Entry<P>, ms: number): void {
    clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.due = undefined;
    if (ms <= 0) {
      this.enqueue(key, entry);
      return;
    }
    entry.state = 'waiting';
    entry.due = Date.now() + ms;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      entry.due = undefined;
      this.enqueue(key, entry);
    }, ms);
  }

  private enqueue(key: string, entry: Entry<P>): void {
    if (!this.running || this.entries.get(key) !== entry) return;
    entry.state = 'queued';
    this.queue.push(key);
    this.pump();
  }

  private pump(): void {
    const limit = this.opts.concurrency ?? 8;
    while (this.running && this.active < limit && this.queue.length > 0) {
      const key = this.queue.shift()!;
      const entry = this.entries.get(key);
      if (!entry || entry.state !== 'queued') continue; // cancelled, or queued twice
      const p = this.sendOne(key, entry);
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }
  }

  private async sendOne(key: string, entry: Entry<P>): Promise<void> {
    const { payload, version } = entry;
    const abort = this.abort;
    entry.state = 'sending';
    this.active++;
    const began = performance.now();
    let outcome: { ok: true; value: R } | { ok: false; err: unknown; permanent?: PermanentResult };
    try {
      outcome = { ok: true, value: await this.opts.send(payload, abort.signal) };
    } catch (err) {
      outcome = { ok: false, err, permanent: this.opts.permanent?.(err) };
    }
    this.active--;
    const result: SendResult = outcome.ok
      ? 'sent'
      : (outcome.permanent ?? (abort.signal.aborted ? 'cancelled' : 'failed'));
    this.guard('onResult', () => this.opts.onResult?.(result, (performance.now() - began) / 1000));
    if (outcome.ok && !entry.cancelled) {
      const { value } = outcome;
      this.guard('onSent', () => this.opts.onSent?.(key, payload, value, entry.failures + 1));
    }
    if (this.running && this.entries.get(key) === entry) this.settle(key, entry, version, payload, outcome);
    this.pump();
  }

  /** After an attempt: done, the newer payload next, or a retry after the backoff. */
  private settle(
    key: string,
    entry: Entry<P>,
    version: number,
    attempted: P,
    outcome: { ok: true } | { ok: false; err: unknown; permanent?: PermanentResult },
  ): void {
    const superseded = entry.version !== version;
    const debounceMs = this.opts.debounceMs ?? 0;
    if (outcome.ok || outcome.permanent) {
      if (!outcome.ok) {
        const { err, permanent } = outcome;
        this.guard('onPermanent', () => this.opts.onPermanent?.(key, attempted, permanent!, err));
      }
      // Temporal answered: the key is healthy again.
      entry.failures = 0;
      entry.loggedFailure = undefined;
      if (superseded) this.wait(key, entry, debounceMs);
      else this.entries.delete(key);
      return;
    }
    entry.failures++;
    if (!superseded) entry.attempts++;
    const fields = { ...this.opts.logFields?.(attempted), ...describeError(outcome.err) };
    const maxAttempts = this.opts.maxAttempts;
    if (!superseded && maxAttempts !== undefined && entry.attempts >= maxAttempts) {
      this.log.warn({ ...fields, attempts: entry.attempts }, `${this.opts.what} given up`);
      this.entries.delete(key);
      this.guard('onGiveUp', () => this.opts.onGiveUp?.(key, attempted));
      return;
    }
    const delay = Math.max(
      backoffDelay(entry.failures, this.opts.backoff ?? DEFAULT_BACKOFF),
      superseded ? debounceMs : 0,
    );
    // Once per failure state: the first failure of a payload, or a different kind of error.
    const state = `${version}|${failureKind(outcome.err)}`;
    const level = state === entry.loggedFailure ? 'debug' : 'warn';
    entry.loggedFailure = state;
    this.log[level](
      { ...fields, attempt: entry.failures, retryInMs: delay },
      `${this.opts.what} failed, will retry`,
    );
    this.wait(key, entry, delay);
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ ...describeError(err), callback: what }, 'sender callback threw');
    }
  }
}

/**
 * What tells one failure from another for logging: the error's name and gRPC/HTTP code (a
 * Temporal ServiceError keeps it on its cause), or its message without numbers (addresses,
 * durations and timestamps vary from retry to retry).
 */
export function failureKind(err: unknown): string {
  if (!(err instanceof Error)) return String(err).replace(/\d+/g, '#').slice(0, 120);
  const codeOf = (e: unknown) => {
    const code = (e as { code?: unknown } | undefined)?.code;
    return typeof code === 'number' || typeof code === 'string' ? String(code) : undefined;
  };
  const code = codeOf(err) ?? codeOf((err as { cause?: unknown }).cause);
  return `${err.name}:${code ?? err.message.replace(/\d+/g, '#').slice(0, 120)}`;
}

/**
 * Runs Temporal client calls with a deadline and the sender's abort signal (client-side: the
 * client offers both per call scope).
 */
export function temporalCall<T>(
  client: Client,
  signal: AbortSignal,
  timeoutMs: number,
  fn: () => Promise<T>,
): Promise<T> {
  return client.withDeadline(Date.now() + timeoutMs, () => client.withAbortSignal(signal, fn));
}

/** For plain signals: a Database without a running workflow is an answer, not a failure. */
export function noWorkflow(err: unknown): PermanentResult | undefined {
  return err instanceof WorkflowNotFoundError ? 'no-workflow' : undefined;
}
