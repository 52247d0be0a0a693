import type * as k8s from '@kubernetes/client-node';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { DatabaseSpec } from '../crds';
import { splitParameters } from '../contracts/parameters-digest';
import type { Logger } from '../common/logger';
import {
  DatabaseEngine,
  DatabaseName,
  DatabaseNamespace,
  DatabasePhase,
} from '../workflows/search-attributes';
import {
  DATABASE_WORKFLOW_TYPE,
  databaseWorkflowId,
  specSignal,
  type DatabaseWorkflowInput,
  type SpecUpdate,
  type WorkflowLimits,
} from '../workflows/signals';
import { backoffDelay, DEFAULT_BACKOFF, describeError, type BackoffOptions } from './timing';

/**
 * Sends spec signals (signalWithStart, so the first one starts the Database's workflow) and
 * never loses a generation: a generation stays pending per uid until Temporal accepted it,
 * retried with backoff; a newer generation of the same uid supersedes a pending one, and the
 * signals of one uid are sent one at a time, in order.
 */

/** A Database as the informer delivers it: the spec is not trusted to parse. */
export type DatabaseObject = k8s.KubernetesObject & { spec?: unknown };

/** One generation of a Database as an informer saw it. */
export interface DatabaseObservation {
  uid: string;
  namespace: string;
  name: string;
  generation: number;
  deleting: boolean;
  /** As stored (defaults applied by the API server); may fail to parse, the workflow reports that. */
  spec: unknown;
  /** `spec.engine` when it is a string, for the search attribute. */
  engine?: string;
}

export interface SpecSignalerOptions {
  client: Client;
  taskQueue: string;
  logger: Logger;
  backoff?: BackoffOptions;
  /** Deadline of one signalWithStart call. Default 20 s. */
  requestTimeoutMs?: number;
  /** Signals in flight at once (a restart re-signals every Database). Default 8. */
  concurrency?: number;
  /** Called after each signalWithStart call (for metrics); must not throw. */
  onSignal?: (result: SignalResult, seconds: number) => void;
  /** Given to each Database workflow this starts. */
  workflowLimits?: WorkflowLimits;
}

/** How one signal call ended (drift signals also know `no-workflow`). */
export type SignalResult = 'sent' | 'failed' | 'cancelled' | 'no-workflow';

interface Mark {
  generation: number;
  deleting: boolean;
}

interface Pending {
  obs: DatabaseObservation;
  attempt: number;
  inFlight: boolean;
  queued: boolean;
  timer?: NodeJS.Timeout;
}

export class SpecSignaler {
  /** Per uid: the newest generation Temporal accepted. */
  private readonly signaled = new Map<string, Mark>();
  private readonly pending = new Map<string, Pending>();
  private readonly queue: string[] = [];
  private active = 0;
  private running = false;
  private abort = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly log: Logger;

  constructor(private readonly opts: SpecSignalerOptions) {
    this.log = opts.logger.child({ part: 'spec-signaler' });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.abort = new AbortController();
  }

  /**
   * Stops sending: aborts calls in flight and drops what is pending. The confirmed generations
   * are kept, pending ones are not marked, so after a restart the initial list signals them.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.abort.abort();
    for (const entry of this.pending.values()) clearTimeout(entry.timer);
    this.pending.clear();
    this.queue.length = 0;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Number of uids whose newest generation Temporal has not accepted yet. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Takes note of an added or updated Database; queues a signal when its generation is newer
   * than any signaled or pending one, or deletion newly started. Returns whether it queued one.
   */
  observe(obs: DatabaseObservation): boolean {
    if (!this.running) return false;
    const entry = this.pending.get(obs.uid);
    const known: Mark | undefined = entry?.obs ?? this.signaled.get(obs.uid);
    const newer = !known || obs.generation > known.generation;
    const newlyDeleting = obs.deleting && !(known?.deleting ?? false);
    if (!newer && !newlyDeleting) return false;
    // A generation is never taken back: keep `deleting` once seen, and the higher generation.
    const next: DatabaseObservation = {
      ...obs,
      generation: Math.max(obs.generation, known?.generation ?? 0),
      deleting: obs.deleting || (known?.deleting ?? false),
    };
    if (entry) {
      entry.obs = next; // supersedes; sent when the current attempt or its backoff is over
      this.log.debug({ ...ids(next) }, 'pending spec signal superseded by a newer generation');
    } else {
      this.pending.set(obs.uid, { obs: next, attempt: 0, inFlight: false, queued: false });
      this.enqueue(obs.uid);
    }
    return true;
  }

  /**
   * The Database is gone. If it went without a deletion signal (its finalizer was bypassed), its
   * workflow is told once (`gone`), so that it ends now instead of at its next resync. Best
   * effort: that resync, which finds the Database missing, is the fallback.
   */
  async vanished(obs: DatabaseObservation): Promise<void> {
    const known = this.signaled.get(obs.uid);
    this.forget(obs.uid);
    if (!this.running || known?.deleting) return;
    const update: SpecUpdate = { ...specUpdateOf(obs), deleting: true, gone: true };
    try {
      await this.opts.client.workflow
        .getHandle(databaseWorkflowId(obs.namespace, obs.name))
        .signal(specSignal, update);
      this.log.info({ ...ids(obs) }, 'gone signal sent');
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) {
        this.log.warn(
          { ...ids(obs), ...describeError(err) },
          'gone signal failed; the workflow resync will notice',
        );
      }
    }
  }

  /** The Database is gone (deleted for good): drop its memory and anything pending for it. */
  forget(uid: string): void {
    this.signaled.delete(uid);
    const entry = this.pending.get(uid);
    if (entry) {
      clearTimeout(entry.timer);
      this.pending.delete(uid);
    }
  }

  private enqueue(uid: string): void {
    const entry = this.pending.get(uid);
    if (!entry || entry.queued || entry.inFlight) return;
    entry.queued = true;
    this.queue.push(uid);
    this.pump();
  }

  private pump(): void {
    const limit = this.opts.concurrency ?? 8;
    while (this.running && this.active < limit && this.queue.length > 0) {
      const uid = this.queue.shift()!;
      const entry = this.pending.get(uid);
      if (!entry || entry.inFlight) continue;
      entry.queued = false;
      const p = this.send(uid, entry);
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }
  }

  private async send(uid: string, entry: Pending): Promise<void> {
    const obs = entry.obs;
    entry.inFlight = true;
    this.active++;
    let failure: { err: unknown } | undefined;
    const began = performance.now();
    try {
      await this.signalWithStart(obs);
    } catch (err) {
      failure = { err };
    }
    const result = !failure ? 'sent' : this.abort.signal.aborted ? 'cancelled' : 'failed';
    this.opts.onSignal?.(result, (performance.now() - began) / 1000);
    entry.inFlight = false;
    this.active--;
    if (!failure) {
      const prev = this.signaled.get(uid);
      this.signaled.set(uid, {
        generation: Math.max(obs.generation, prev?.generation ?? 0),
        deleting: obs.deleting || (prev?.deleting ?? false),
      });
      this.log.info({ ...ids(obs), attempts: entry.attempt + 1 }, 'spec signal sent');
    }
    // Unless forgotten or stopped meanwhile: done, send the newer generation, or retry later.
    if (this.running && this.pending.get(uid) === entry) {
      if (!failure && entry.obs === obs) {
        this.pending.delete(uid);
      } else if (!failure) {
        entry.attempt = 0;
        this.enqueue(uid);
      } else {
        entry.attempt++;
        const delay = backoffDelay(entry.attempt, this.opts.backoff ?? DEFAULT_BACKOFF);
        this.log.warn(
          {
            ...ids(entry.obs),
            attemptedGeneration: obs.generation,
            ...describeError(failure.err),
            attempt: entry.attempt,
            retryInMs: delay,
          },
          'spec signal failed, will retry',
        );
        entry.timer = setTimeout(() => {
          entry.timer = undefined;
          this.enqueue(uid);
        }, delay);
      }
    }
    this.pump();
  }

  private signalWithStart(obs: DatabaseObservation): Promise<unknown> {
    const { client, taskQueue } = this.opts;
    const update = specUpdateOf(obs);
    const limits = this.opts.workflowLimits;
    const input: DatabaseWorkflowInput = {
      namespace: obs.namespace,
      name: obs.name,
      ...(limits && { limits }),
    };
    const searchAttributes = [
      { key: DatabaseNamespace, value: obs.namespace },
      { key: DatabaseName, value: obs.name },
      { key: DatabasePhase, value: 'Pending' },
      ...(obs.engine ? [{ key: DatabaseEngine, value: obs.engine }] : []),
    ];
    const deadline = Date.now() + (this.opts.requestTimeoutMs ?? 20_000);
    return client.withDeadline(deadline, () =>
      client.withAbortSignal(this.abort.signal, () =>
        client.workflow.signalWithStart(DATABASE_WORKFLOW_TYPE, {
          workflowId: databaseWorkflowId(obs.namespace, obs.name),
          taskQueue,
          args: [input],
          signal: specSignal,
          signalArgs: [update],
          // Applied only when this call starts the workflow.
          typedSearchAttributes: searchAttributes,
        }),
      ),
    );
  }
}

function ids(obs: DatabaseObservation) {
  return {
    namespace: obs.namespace,
    name: obs.name,
    uid: obs.uid,
    generation: obs.generation,
    deleting: obs.deleting,
  };
}

/**
 * The spec signal of one observed generation. The spec is sent as stored, even when it does not
 * parse (the workflow reports the error as a condition), but without its parameters: those go by
 * reference (contracts/parameters-digest.ts).
 */
export function specUpdateOf(obs: DatabaseObservation): SpecUpdate {
  const { spec, parametersDigest } = splitParameters(obs.spec);
  return {
    uid: obs.uid,
    generation: obs.generation,
    spec: spec as DatabaseSpec,
    ...(parametersDigest && { parametersDigest }),
    deleting: obs.deleting,
  };
}
