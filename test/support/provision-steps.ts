import type { DatabaseActivities } from '../../activities';

/**
 * The activities of one reconcile of a new generation, in the order databaseWorkflow runs them
 * (without the status reports in between), for tests that check that order or count its steps.
 */
export const PROVISION_STEPS: readonly (keyof DatabaseActivities)[] = [
  'addFinalizer',
  'checkPrerequisites',
  'applyConfigMap',
  'ensureSecret',
  'applyStatefulSet',
  'applyServices',
  'waitForStatefulSetReady',
];
