import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { DatabaseActivities } from '../activities';

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

/** One proxy per call, so that each activity carries a summary naming its object in the UI. */
export function act(summary: string, options: ActivityOptions = quick): DatabaseActivities {
  return proxyActivities<DatabaseActivities>({ ...options, summary });
}
