import { SWITCHOVER_ANNOTATION } from '../crds';
import { databaseWorkflowId } from '../workflows/signals';
import { switchoverSignal } from '../workflows/switchover-names';
import { AnnotationRequestSignaler, type AnnotationRequestOptions } from './annotation-requests';

/**
 * `kubectl annotate database <name> durable.dev/switchover-to=<name>-<n>` → a switchover signal
 * to the Database's workflow, which moves the primary role to that member (or says why not) and
 * then removes the annotation. A new value while one is handled is the next request.
 */
export function switchoverSignaler(opts: AnnotationRequestOptions): AnnotationRequestSignaler {
  return new AnnotationRequestSignaler(
    {
      annotation: SWITCHOVER_ANNOTATION,
      what: 'switchover',
      send: (client, { uid, namespace, name, value }) =>
        client.workflow
          .getHandle(databaseWorkflowId(namespace, name))
          .signal(switchoverSignal, { uid, to: value }),
    },
    opts,
  );
}
