import { WorkflowNotFoundError, WorkflowUpdateFailedError, isGrpcServiceError } from '@temporalio/client';
import { CANCEL_UPGRADE_ANNOTATION, type Database } from '../../crds';
import {
  CANCEL_UPGRADE_REJECTED,
  cancelUpgradeUpdate,
  type CancelUpgradeAccepted,
} from '../../workflows/cancel-upgrade-update';
import { databaseWorkflowId } from '../../workflows/signals';
import { follow, timeoutOption } from '../follow';
import { annotateDatabase, getDatabase, kubeTarget, type KubeTarget } from '../kube';
import type { Invocation } from '../main';
import { UserError, paint, type Io } from '../output';
import { connectTemporal, temporalSettings, withTimeout, type TemporalFlags } from '../temporal';

/**
 * `cancel-upgrade <db>`: the cancel request as a Workflow Update to the Database's workflow
 * (`database/<ns>/<name>`), which answers at once: accepted (the upgrade rolls back) or rejected
 * with the reason its validator gives. Where the Update cannot be used (a server that refuses
 * Updates, an operator older than the Update), the annotation durable.dev/cancel-upgrade asks
 * instead, and what status says is reported. With --wait, follows status.upgrade until it ended.
 */

/** How long the workflow's worker may take to answer; a user waits at the prompt meanwhile. */
const ANSWER_TIMEOUT_MS = 20_000;

export type CancelAnswer =
  | { kind: 'accepted'; accepted: CancelUpgradeAccepted }
  | { kind: 'rejected'; reason: string }
  /** The Update is not available here; `why` says what refused it. */
  | { kind: 'unsupported'; why: string };

/** The Update's answer, from what the client returned or threw. Pure. */
export function cancelAnswer(result: { value?: CancelUpgradeAccepted; error?: unknown }): CancelAnswer {
  if (!result.error) return { kind: 'accepted', accepted: result.value! };
  const err = result.error;
  if (err instanceof WorkflowUpdateFailedError) {
    const cause = err.cause as { message?: string; type?: string } | undefined;
    const reason = cause?.message ?? err.message;
    // An operator whose workflow has no such handler yet (older than this plugin).
    if (cause?.type !== CANCEL_UPGRADE_REJECTED && /no registered handler for update/i.test(reason)) {
      return { kind: 'unsupported', why: `the operator's workflow does not know the Update (${reason})` };
    }
    return { kind: 'rejected', reason };
  }
  const message = err instanceof Error ? err.message : String(err);
  // UNIMPLEMENTED (12), or an Update switched off on the namespace (PERMISSION_DENIED, 7).
  const code = isGrpcServiceError(err)
    ? err.code
    : isGrpcServiceError((err as Error)?.cause)
      ? ((err as Error).cause as { code: number }).code
      : undefined;
  if (
    code === 12 ||
    (code === 7 && /update/i.test(message)) ||
    /update.*(disabled|not (enabled|supported))/i.test(message)
  ) {
    return { kind: 'unsupported', why: `the Temporal server refused the Update: ${message}` };
  }
  throw err;
}

const SETTLED = ['Upgraded', 'RolledBack', 'NotStarted', 'RollbackIncomplete', 'Failed', 'Interrupted'];

/** The upgrade `accepted` named has ended, as the Database's status records it. Pure. */
export function upgradeEnded(db: Database, generation: number): boolean {
  const up = db.status?.upgrade;
  const cond = db.status?.conditions?.find((c) => c.type === 'Upgraded');
  return (
    !!up?.state &&
    SETTLED.includes(up.state) &&
    !!cond &&
    (cond.observedGeneration ?? 0) >= generation &&
    cond.reason !== 'Upgrading'
  );
}

export async function cancelUpgrade(inv: Invocation): Promise<number> {
  const { values, io } = inv;
  const t = kubeTarget(values as { kubeconfig?: string; context?: string; namespace?: string });
  const name = inv.args[0]!;
  const timeoutSeconds = timeoutOption(values.timeout, 900);
  const db = await getDatabase(t, name);
  const uid = db.metadata.uid ?? '';
  const settings = temporalSettings(values as TemporalFlags);
  const session = await connectTemporal(settings);
  const workflowId = databaseWorkflowId(t.namespace, name);
  let answer: CancelAnswer;
  try {
    const handle = session.client.workflow.getHandle(workflowId);
    answer = cancelAnswer(
      await withTimeout(
        handle.executeUpdate(cancelUpgradeUpdate, { args: [{ uid }] }),
        ANSWER_TIMEOUT_MS,
        'no answer',
      ).then(
        (value) => ({ value }),
        (error: unknown) => ({ error }),
      ),
    );
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) {
      throw new UserError(
        `Temporal has no running workflow ${workflowId} (namespace ${settings.namespace}): ${err.message}`,
        'is the operator running, and pointed at this Temporal? (TEMPORAL_ADDRESS / --temporal-address)',
      );
    }
    if (err instanceof Error && err.message === 'no answer') {
      throw new UserError(
        `the workflow ${workflowId} did not answer within ${ANSWER_TIMEOUT_MS / 1000}s: no worker of the operator takes its tasks; the request may still be taken when one does`,
        `check the operator's worker (kubectl durable status ${name} -n ${t.namespace})`,
      );
    }
    throw err;
  } finally {
    await session.close();
  }

  if (answer.kind === 'rejected') {
    io.out(`rejected: ${answer.reason}\n`);
    return 1;
  }
  if (answer.kind === 'unsupported')
    return viaAnnotation(t, io, db, answer.why, values.wait ? timeoutSeconds : 0);
  io.out(`${paint('accepted', 'green', io.tty)}: ${answer.accepted.message}\n`);
  if (!values.wait) return 0;
  return followUpgrade(t, io, name, answer.accepted.generation, timeoutSeconds);
}

/** The fallback: the annotation the watcher turns into the signal; status says what came of it. */
async function viaAnnotation(t: KubeTarget, io: Io, db: Database, why: string, waitSeconds: number) {
  const name = db.metadata.name!;
  await annotateDatabase(t, name, CANCEL_UPGRADE_ANNOTATION, 'true');
  io.err(
    `${why}\nasked by annotation instead: database.durable.dev/${name} annotated ${CANCEL_UPGRADE_ANNOTATION}=true\n`,
  );
  const up = db.status?.upgrade;
  io.out(
    `requested: status says ${db.status?.phase ?? 'no phase'}, upgrade ${up ? `${up.fromVersion ?? '?'} → ${up.toVersion ?? '?'} ${up.state ?? ''}` : 'none'}; the operator removes the annotation once handled (Event CancelUpgradeHandled)\n`,
  );
  if (!waitSeconds) return 0;
  return followUpgrade(t, io, name, db.metadata.generation ?? 0, waitSeconds);
}

/** Follows status.upgrade until the upgrade of `generation` ended; exit 0 if it did not go through. */
async function followUpgrade(
  t: KubeTarget,
  io: Io,
  name: string,
  generation: number,
  timeoutSeconds: number,
) {
  const { seen, timedOut } = await follow({
    read: () => getDatabase(t, name),
    done: (d) => upgradeEnded(d, generation),
    progress: (d) => {
      const up = d.status?.upgrade;
      return up ? `${up.state ?? '?'}: ${up.reason ?? ''}` : (d.status?.phase ?? 'no status');
    },
    timeoutSeconds,
    io,
  });
  if (timedOut) {
    io.err(
      `the upgrade of ${name} has not ended within ${timeoutSeconds}s: kubectl durable status ${name} -n ${t.namespace}\n`,
    );
    return 1;
  }
  const up = seen.status!.upgrade!;
  const stopped = up.state === 'RolledBack' || up.state === 'NotStarted';
  io.out(
    `upgrade ${up.fromVersion ?? '?'} → ${up.toVersion ?? '?'} ${paint(up.state!, stopped ? 'green' : 'red', io.tty)}: ${up.reason ?? ''}\n`,
  );
  return stopped ? 0 : 1;
}
