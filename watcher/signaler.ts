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
import { KeyedSender, temporalCall, type SendResult } from './sender';
import { describeError, type BackoffOptions } from './timing';

/**
 * Sends spec signals (signalWithStart, so the first one starts the Database's workflow) and
 * never loses a generation: a generation stays pending per uid until Temporal accepted it,
 * retried with backoff; a newer generation of the same uid supersedes a pending one, and the
 * signals of one uid are sent one at a time, in order (all of that is the KeyedSender's, keyed
 * by uid; this class decides what is newer).
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

/** How one signal call ended (drift and cancel-upgrade signals also know `no-workflow`). */
export type SignalResult = SendResult;

interface Mark {
  generation: number;
  deleting: boolean;
}

export class SpecSignaler {
  /** Per uid: the newest generation Temporal accepted. */
  private readonly signaled = new Map<string, Mark>();
  /** Per uid: the newest generation not yet accepted. */
  private readonly sender: KeyedSender<DatabaseObservation>;
  private running = false;
  private readonly log: Logger;

  constructor(private readonly opts: SpecSignalerOptions) {
    this.log = opts.logger.child({ part: 'spec-signaler' });
    this.sender = new KeyedSender<DatabaseObservation>({
      what: 'spec signal',
      logger: this.log,
      send: (obs, signal) =>
        temporalCall(opts.client, signal, opts.requestTimeoutMs ?? 20_000, () => this.signalWithStart(obs)),
      concurrency: opts.concurrency,
      backoff: opts.backoff,
      // The generation attempted: a newer one may be pending meanwhile.
      logFields: (obs) => ({ ...ids(obs), attemptedGeneration: obs.generation }),
      onResult: opts.onSignal,
      onSent: (uid, obs, _value, attempts) => {
        const prev = this.signaled.get(uid);
        this.signaled.set(uid, {
          generation: Math.max(obs.generation, prev?.generation ?? 0),
          deleting: obs.deleting || (prev?.deleting ?? false),
        });
        this.log.info({ ...ids(obs), attempts }, 'spec signal sent');
      },
    });
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.sender.start();
  }

  /**
   * Stops sending: aborts calls in flight and drops what is pending. The confirmed generations
   * are kept, pending ones are not marked, so after a restart the initial list signals them.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.sender.stop();
  }

  /** Number of uids whose newest generation Temporal has not accepted yet. */
  get pendingCount(): number {
    return this.sender.size;
  }

  /**
   * Takes note of an added or updated Database; queues a signal when its generation is newer
   * than any signaled or pending one, or deletion newly started. Returns whether it queued one.
   */
  observe(obs: DatabaseObservation): boolean {
    if (!this.running) return false;
    const pending = this.sender.pending(obs.uid);
    const known: Mark | undefined = pending ?? this.signaled.get(obs.uid);
    const newer = !known || obs.generation > known.generation;
    const newlyDeleting = obs.deleting && !(known?.deleting ?? false);
    if (!newer && !newlyDeleting) return false;
    // A generation is never taken back: keep `deleting` once seen, and the higher generation.
    const next: DatabaseObservation = {
      ...obs,
      generation: Math.max(obs.generation, known?.generation ?? 0),
      deleting: obs.deleting || (known?.deleting ?? false),
    };
    // A pending one is superseded; sent when the current attempt or its backoff is over.
    if (pending) this.log.debug({ ...ids(next) }, 'pending spec signal superseded by a newer generation');
    this.sender.submit(obs.uid, next);
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
    this.sender.cancel(uid);
  }

  private async signalWithStart(obs: DatabaseObservation): Promise<void> {
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
    await client.workflow.signalWithStart(DATABASE_WORKFLOW_TYPE, {
      workflowId: databaseWorkflowId(obs.namespace, obs.name),
      taskQueue,
      args: [input],
      signal: specSignal,
      signalArgs: [update],
      // Applied only when this call starts the workflow.
      typedSearchAttributes: searchAttributes,
    });
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
