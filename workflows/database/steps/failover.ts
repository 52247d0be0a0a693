import { executeChild, isCancellation, patched, setCurrentDetails, sleep } from '@temporalio/workflow';
import type { DatabaseTarget, PrimaryAssessment } from '../../../activities';
import type { DatabaseSpec } from '../../../crds';
import { act } from '../../activity-options';
import { describeFailure } from '../../failure';
import type { FailoverOutcome, failoverWorkflow } from '../../failover';
import { DatabaseEngine, DatabaseName, DatabaseNamespace } from '../../search-attributes';
import { FAILOVER_WORKFLOW_TYPE, failoverWorkflowId } from '../../failover-names';
import type { SpecUpdate } from '../../signals';
import { lean } from '../builds';
import type { Entity } from '../state';
import { StatusBook } from '../status-book';

/** The engines whose failover exists (activities/failover.ts). */
export const FAILOVER_ENGINES: readonly string[] = ['postgres', 'mariadb'];

/** The engines whose planned switchover exists (activities/switchover.ts). */
export const SWITCHOVER_ENGINES: readonly string[] = ['postgres'];

/** Between two checks of a primary that failed, while its failure is being confirmed. */
const CONFIRM_EVERY_MS = 1_000;

/** spec.failover with its defaults (a spec carried from before a field existed lacks it). */
export function failoverSettings(spec: DatabaseSpec): {
  enabled: boolean;
  delaySeconds: number;
  switchoverTimeoutSeconds: number;
} {
  return {
    enabled: spec.failover?.enabled ?? true,
    delaySeconds: spec.failover?.delaySeconds ?? 5,
    switchoverTimeoutSeconds: spec.failover?.switchoverTimeoutSeconds ?? 30,
  };
}

/** Whether this Database's primary is guarded at all: failover on, more than one member, an engine that has it. */
export function guarded(target: DatabaseTarget): boolean {
  return (
    failoverSettings(target.spec).enabled &&
    target.spec.replicas > 1 &&
    FAILOVER_ENGINES.includes(target.spec.engine) &&
    // MariaDB's failover came later: a run that started before it never asked.
    (target.spec.engine === 'postgres' ? patched('failover-v1') : patched('failover-mariadb-v1'))
  );
}

/**
 * Looks at the primary when something suggests it may have failed (a pod's readiness changed, or
 * the Database is Degraded), and fails over when it did:
 *
 * - the primary counts as failed only after consecutive checks over spec.failover.delaySeconds
 *   all found it failed (pod gone or not Ready, engine not answering): one slow answer or a short
 *   API hiccup never starts a failover;
 * - a failover the role record shows as started (a run that stopped half-way) is finished;
 * - the failover runs as a child workflow (workflows/failover.ts), announced by Events, and the
 *   status names the primary before and after.
 *
 * Returns true when a failover ran, so the caller goes on with the new roles.
 */
export async function guardPrimary(
  entity: Entity,
  update: SpecUpdate,
  target: DatabaseTarget,
): Promise<boolean> {
  const { namespace, name, state } = entity;
  const id = `${namespace}/${name}`;
  const book = new StatusBook(entity, update);
  const { delaySeconds } = failoverSettings(target.spec);
  const assess = () => act(`assess the primary of ${id}`).assessPrimary(lean(target));
  const note = (a: PrimaryAssessment) =>
    book.setPrimary(
      `${name}-${a.primary}`,
      a.targetPrimary !== undefined ? `${name}-${a.targetPrimary}` : undefined,
    );

  let a = await assess();
  note(a);
  if (a.healthy && a.targetPrimary === undefined) {
    await book.report();
    return false;
  }
  if (a.targetPrimary === undefined) {
    entity.step = `confirming the failure of ${name}-${a.primary}`;
    setCurrentDetails(
      `**primary ${name}-${a.primary} failed?** ${a.reason}; confirming for ${delaySeconds}s`,
    );
    const since = Date.now();
    let checks = 1;
    while (checks < 2 || Date.now() - since < delaySeconds * 1000) {
      await sleep(CONFIRM_EVERY_MS);
      a = await assess();
      checks++;
      if (a.healthy || a.targetPrimary !== undefined) break;
    }
    note(a);
    if (a.healthy && a.targetPrimary === undefined) {
      // A short trouble: nothing is done, nothing is announced beyond the workflow's own details.
      setCurrentDetails(`primary ${name}-${a.primary} answers again after ${checks} checks: no failover`);
      await book.report();
      return false;
    }
  }

  state.failovers = (state.failovers ?? 0) + 1;
  const childId = failoverWorkflowId(namespace, name, state.failovers);
  const from = a.primary;
  entity.step = `failover from ${name}-${from}`;
  await book.report({
    type: 'Warning',
    reason: 'PrimaryFailed',
    message: `primary ${name}-${from} failed (${a.reason}), confirmed for ${delaySeconds}s: failing over (workflow ${childId})`,
  });
  let outcome: FailoverOutcome;
  try {
    outcome = await executeChild<typeof failoverWorkflow>(FAILOVER_WORKFLOW_TYPE, {
      workflowId: childId,
      args: [{ target: lean(target), from, reason: a.reason }],
      staticSummary: `failover ${id} from ${name}-${from}`,
      typedSearchAttributes: [
        { key: DatabaseNamespace, value: namespace },
        { key: DatabaseName, value: name },
        { key: DatabaseEngine, value: target.spec.engine },
      ],
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    const failure = describeFailure(err);
    await book.report({
      type: 'Warning',
      reason: 'FailoverFailed',
      message: `failover from ${name}-${from} did not finish: ${failure.message}; looking again in a minute`,
    });
    return false;
  }
  const after = await assess();
  note(after);
  if (outcome.state !== 'FailedOver') {
    await book.report({
      type: 'Normal',
      reason: outcome.state === 'Recovered' ? 'PrimaryRecovered' : 'FailoverSuperseded',
      message: `no failover from ${name}-${from}: ${outcome.steps.join('; ')}`,
    });
    return false;
  }
  await book.report({
    type: 'Normal',
    reason: 'FailedOver',
    message: `${name}-${outcome.to} is the primary, promoted ${Math.round(outcome.promotedAfterMs ?? 0)} ms into the failover (${Math.round(outcome.durationMs)} ms in all): ${outcome.steps.join('; ')}`,
  });
  return true;
}
