import crypto from 'node:crypto';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { API_VERSION, DATABASE, OPERATOR_NAME, type DatabaseStatus } from '../crds';
import { databaseResource } from './database-ref';
import { apiMessage, classify, isConflict, isNamespaceTerminating, isNotFound, statusOf } from './errors';
import type { KubeClients } from './kube-clients';
import type { DatabaseRef } from './types';

export interface EventRecord {
  type: 'Normal' | 'Warning';
  /** UpperCamelCase, e.g. StatefulSetApplied. */
  reason: string;
  message: string;
  /**
   * Unique per occurrence and stable across retries of the same report (the workflow derives it
   * from its run and a sequence number): the Event's name is derived from it, so a retried
   * activity finds its Event already there instead of writing a second one.
   */
  key: string;
}

export interface ReportOptions {
  /** Base URL of the Temporal UI for the link in status.workflow.url. */
  uiUrl?: string;
  temporalNamespace: string;
  /** Identity in Event.reportingInstance (the worker's pod name). */
  instance: string;
}

const COMPONENT = OPERATOR_NAME;

/**
 * Writes the status the workflow computed (merge patch on the status subresource, guarded by the
 * uid so a re-created Database of the same name is never touched) and records an Event.
 * Returns false when this incarnation of the Database is gone.
 *
 * While the Database is being deleted (phase Deleting) the status is a courtesy to whoever
 * watches: a permanent refusal is logged and skipped, so that the deletion goes on to release the
 * data and remove the finalizer (a namespace being deleted waits for exactly that).
 */
export async function reportStatus(
  clients: KubeClients,
  opts: ReportOptions,
  ref: DatabaseRef,
  status: DatabaseStatus,
  event?: EventRecord | EventRecord[],
): Promise<boolean> {
  const execution = Context.current().info.workflowExecution;
  const workflow = execution && {
    id: execution.workflowId,
    runId: execution.runId,
    url: workflowUrl(opts, execution.workflowId, execution.runId),
  };
  const body = {
    // A uid in the patch is a precondition: the API server refuses the patch if it differs.
    metadata: { uid: ref.uid },
    status: { ...status, workflow },
  };
  const what = `update status of Database ${ref.namespace}/${ref.name}`;
  let patched: boolean;
  try {
    await clients.custom.patchNamespacedCustomObjectStatus(
      { ...databaseResource(ref), body },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    patched = true;
  } catch (err) {
    if (isNotFound(err) || uidMismatch(err)) {
      patched = false; // gone, or a new incarnation
    } else {
      const failure = classify(err, what);
      if (status.phase !== 'Deleting' || !isPermanent(failure)) throw failure;
      skipped(what, failure.message);
      patched = true; // still there as far as we know: its Event is worth a try
    }
  }
  if (patched && event) {
    for (const e of Array.isArray(event) ? event : [event]) await recordEvent(clients, opts, ref, e);
  }
  return patched;
}

/** The API server reports a uid that differs from the patch's as a conflict or as invalid. */
function uidMismatch(err: unknown): boolean {
  const code = statusOf(err);
  return (code === 409 || code === 422) && /uid/i.test(apiMessage(err));
}

export function workflowUrl(
  opts: Pick<ReportOptions, 'uiUrl' | 'temporalNamespace'>,
  id: string,
  runId: string,
) {
  if (!opts.uiUrl) return undefined;
  const base = opts.uiUrl.replace(/\/$/, '');
  return `${base}/namespaces/${encodeURIComponent(opts.temporalNamespace)}/workflows/${encodeURIComponent(id)}/${runId}/history`;
}

/**
 * A core/v1 Event on the Database (what `kubectl describe db` and `kubectl events` show), or on
 * another object of the API (a DatabaseBackup) with `kind`.
 */
export async function recordEvent(
  clients: KubeClients,
  opts: ReportOptions,
  ref: DatabaseRef,
  event: EventRecord,
  kind: string = DATABASE.kind,
): Promise<void> {
  const now = new Date();
  const name = `${ref.name}.${crypto.createHash('sha256').update(`${ref.uid}/${event.key}`).digest('hex').slice(0, 16)}`;
  const what = `record Event ${event.reason} on ${kind} ${ref.namespace}/${ref.name}`;
  try {
    await clients.core.createNamespacedEvent({
      namespace: ref.namespace,
      body: {
        metadata: { name, namespace: ref.namespace },
        involvedObject: {
          apiVersion: API_VERSION,
          kind,
          name: ref.name,
          namespace: ref.namespace,
          uid: ref.uid,
        },
        type: event.type,
        reason: event.reason,
        message: event.message.slice(0, 1024),
        source: { component: COMPONENT },
        reportingComponent: `durable.dev/${COMPONENT}`,
        reportingInstance: opts.instance,
        action: event.reason,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
  } catch (err) {
    if (isConflict(err)) return; // recorded by an earlier attempt of this activity
    // Events are optional: none may fail the step that reports it (least of all a deletion).
    // A namespace being deleted refuses new objects (403), a deleted one is gone (404); any
    // other refusal that no retry can mend (RBAC, an invalid Event) is logged for the operator's
    // admin instead. Transient trouble is retried like any call.
    if (isNamespaceTerminating(err) || isNotFound(err)) return skipped(what, apiMessage(err), 'info');
    const failure = classify(err, what);
    if (!isPermanent(failure)) throw failure;
    skipped(what, failure.message);
  }
}

function isPermanent(failure: Error): boolean {
  return failure instanceof ApplicationFailure && failure.nonRetryable === true;
}

/** A write that is optional was refused for good: say so in the worker's log and go on. */
function skipped(what: string, why: string, level: 'info' | 'warn' = 'warn'): void {
  log[level](`skipped: ${what}`, { reason: why });
}
