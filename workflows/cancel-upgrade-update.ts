import { defineUpdate } from '@temporalio/workflow';
import type { CancelUpgradeRequest } from './signals';

/**
 * The cancel request as a Workflow Update (`kubectl durable cancel-upgrade`): unlike the signal
 * (annotation durable.dev/cancel-upgrade), the asker learns at once whether it was accepted, and
 * if not, why. Apart from signals.ts so that the workflows that do not take it (upgrade, backup)
 * keep their code, and their recorded histories, as they are (see switchover-names.ts).
 */

/** What an accepted cancellation is about: the upgrade that now rolls back. */
export interface CancelUpgradeAccepted {
  generation: number;
  fromVersion: string;
  toVersion: string;
  /** The upgrade's own run, `upgrade/<ns>/<name>/g<generation>`. */
  upgradeWorkflowId: string;
  message: string;
}

/** Registered name of the Update; a rejection's failure has type CANCEL_UPGRADE_REJECTED. */
export const cancelUpgradeUpdate = defineUpdate<CancelUpgradeAccepted, [CancelUpgradeRequest]>(
  'cancelUpgrade',
);
export const CANCEL_UPGRADE_REJECTED = 'CancelUpgradeRejected';
