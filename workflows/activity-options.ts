import {
  ActivityCancellationType,
  patched,
  proxyActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { DatabaseWorkflowActivities } from '../activities';

/**
 * Activity options shared by the workflows (Database lifecycle, backup, upgrade), so that a
 * Kubernetes call is retried the same way wherever it is made.
 */
export const quick: ActivityOptions = {
  // A Kubernetes API call that takes longer is stuck; a retry (the steps are idempotent) is right.
  startToCloseTimeout: '10 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 8,
  },
};

/**
 * A cancelled activity is waited for until it has stopped (or finished), so that the step after
 * a cancellation never runs while an obsolete one may still write: a superseded apply cannot land
 * after the newer one. Runs from before this rule keep cancelling without waiting.
 */
export function cancellationWaits(): boolean {
  return patched('await-cancelled-activities-v1');
}

/**
 * The activities of one workflow (its own interface, see activities/index.ts): one proxy per
 * call, so that each activity carries a summary naming its object in the UI.
 */
export function activitiesOf<A extends object>(): (summary: string, options?: ActivityOptions) => A {
  return (summary, options = quick) =>
    proxyActivities<A>({
      ...(cancellationWaits() && { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED }),
      ...options,
      summary,
    }) as A;
}

/** The Database workflow's activities (workflows/database/). */
export const act = activitiesOf<DatabaseWorkflowActivities>();

/** Each readiness wait returns after this long so the workflow can report progress. */
export const READY_WAIT_BUDGET_SECONDS = 60;

/** A wait that heartbeats (readiness, replication, Jobs): bounded, and cancelled through its heartbeat. */
export const waiting: ActivityOptions = {
  startToCloseTimeout: `${READY_WAIT_BUDGET_SECONDS + 60} seconds`,
  heartbeatTimeout: '15 seconds',
  retry: quick.retry,
};

/** As act(), retrying without a limit on attempts (backoff still capped at a minute). */
export function actUntilDone(summary: string): DatabaseWorkflowActivities {
  return act(summary, {
    ...quick,
    retry: { ...quick.retry, maximumInterval: '1 minute', maximumAttempts: Number.POSITIVE_INFINITY },
  });
}
