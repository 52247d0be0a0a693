import { CANCEL_UPGRADE_ANNOTATION } from '../crds';
import { cancelUpgradeSignal, databaseWorkflowId } from '../workflows/signals';
import { AnnotationRequestSignaler, type AnnotationRequestOptions } from './annotation-requests';
import type { DatabaseObject } from './signaler';

/**
 * `kubectl annotate database <name> durable.dev/cancel-upgrade=true` → a cancelUpgrade signal to
 * the Database's workflow, which cancels its running upgrade (it rolls back) and then removes the
 * annotation.
 */
export function cancelUpgradeSignaler(opts: AnnotationRequestOptions): AnnotationRequestSignaler {
  return new AnnotationRequestSignaler(
    {
      annotation: CANCEL_UPGRADE_ANNOTATION,
      what: 'cancel-upgrade',
      send: (client, { uid, namespace, name }) =>
        client.workflow.getHandle(databaseWorkflowId(namespace, name)).signal(cancelUpgradeSignal, { uid }),
    },
    opts,
  );
}

/** Whether a Database carries the cancel-upgrade annotation (any value). */
export function cancelRequested(db: DatabaseObject): boolean {
  return db.metadata?.annotations?.[CANCEL_UPGRADE_ANNOTATION] !== undefined;
}
