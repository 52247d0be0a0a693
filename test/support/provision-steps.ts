import type { DatabaseActivities } from '../../activities';

/**
 * The activities of one reconcile of a new generation, in the order databaseWorkflow runs them
 * (without the status reports in between), for tests that check that order or count its steps:
 * the objects in one pass (finalizer, prerequisites, ConfigMap, Secret, StatefulSet, Services),
 * then the wait for the pods.
 */
export const PROVISION_STEPS: readonly (keyof DatabaseActivities)[] = [
  'ensureObjects',
  'waitForStatefulSetReady',
];
