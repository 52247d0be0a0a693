import { executeChild, isCancellation, setCurrentDetails } from '@temporalio/workflow';
import type { DatabaseTarget } from '../../../activities';
import { SWITCHOVER_ANNOTATION } from '../../../crds';
import { memberOrdinal } from '../../../contracts/names';
import { act } from '../../activity-options';
import { describeFailure } from '../../failure';
import { DatabaseEngine, DatabaseName, DatabaseNamespace } from '../../search-attributes';
import type { SpecUpdate } from '../../signals';
import type { SwitchoverOutcome, switchoverWorkflow } from '../../switchover';
import { SWITCHOVER_WORKFLOW_TYPE, switchoverWorkflowId } from '../../switchover-names';
import { lean } from '../builds';
import type { Entity } from '../state';
import { StatusBook } from '../status-book';
import { failoverSettings, SWITCHOVER_ENGINES, guardPrimary } from './failover';

/**
 * A planned switchover a person asked for (annotation durable.dev/switchover-to=<name>-<n>):
 * checked against the spec the Database runs, run as a child workflow (workflows/switchover.ts),
 * announced by Events and recorded in status.switchover, and the annotation removed once handled
 * (unless it names another member by then: the next request, taken at the next turn of the loop).
 */
export async function switchOver(entity: Entity, update: SpecUpdate, request: string): Promise<void> {
  const { namespace, name, state } = entity;
  // Free text from an annotation: shown shortened, so that no status field outgrows its schema.
  const requested = request.length > 63 ? `${request.slice(0, 60)}…` : request;
  const id = `${namespace}/${name}`;
  const book = new StatusBook(entity, update);
  const spec = state.applied;
  const settle = async (
    outcome: 'SwitchedOver' | 'Aborted' | 'Rejected',
    reason: string,
    event: { type: 'Normal' | 'Warning'; reason: string },
    from?: string,
  ) => {
    book.setSwitchover({ to: requested, ...(from && { from }), state: outcome, reason });
    await book.report({ ...event, message: `switchover to ${requested}: ${reason}` });
  };
  const reject = (why: string) => settle('Rejected', why, { type: 'Warning', reason: 'SwitchoverRejected' });

  try {
    const ordinal = memberOrdinal(name, request);
    if (!spec || state.handledGeneration === undefined) await reject('the Database is not reconciled yet');
    else if (!SWITCHOVER_ENGINES.includes(spec.engine))
      await reject(`switchover is not available for ${spec.engine} yet`);
    else if (spec.replicas < 2) await reject('the Database has one member');
    else if (ordinal === undefined || ordinal >= spec.replicas)
      await reject(`${SWITCHOVER_ANNOTATION} must name a member: ${name}-0 … ${name}-${spec.replicas - 1}`);
    else if (state.status.phase !== 'Ready')
      await reject(`the Database is ${state.status.phase ?? 'not Ready'}; a switchover needs it Ready`);
    else {
      const target: DatabaseTarget = {
        namespace,
        name,
        uid: update.uid,
        generation: update.generation,
        spec,
        ...(update.parametersDigest && { parametersDigest: update.parametersDigest }),
      };
      await run(entity, update, book, lean(target), ordinal, settle);
    }
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Reporting failed (API server away): the annotation stays, and is handled at a later turn
    // only if set anew; the status says nothing wrong meanwhile.
    setCurrentDetails(`switchover to ${requested}: ${describeFailure(err).message}`);
  }
  try {
    await act(`remove annotation ${SWITCHOVER_ANNOTATION} from Database ${id}`).clearSwitchoverRequest(
      { namespace, name, uid: update.uid },
      request,
    );
  } catch (err) {
    if (isCancellation(err)) throw err;
    // The annotation stays; the watcher sends it again only if it is set anew.
  }
}

async function run(
  entity: Entity,
  update: SpecUpdate,
  book: StatusBook,
  target: DatabaseTarget,
  to: number,
  settle: (
    outcome: 'SwitchedOver' | 'Aborted' | 'Rejected',
    reason: string,
    event: { type: 'Normal' | 'Warning'; reason: string },
    from?: string,
  ) => Promise<void>,
): Promise<void> {
  const { namespace, name, state } = entity;
  const member = `${name}-${to}`;
  state.switchovers = (state.switchovers ?? 0) + 1;
  const childId = switchoverWorkflowId(namespace, name, state.switchovers);
  entity.step = `switchover to ${member}`;
  book.setSwitchover({ to: member, state: 'Running', reason: `workflow ${childId}` });
  await book.report({
    type: 'Normal',
    reason: 'SwitchoverStarted',
    message: `switching the primary over to ${member} (workflow ${childId})`,
  });
  let outcome: SwitchoverOutcome;
  try {
    outcome = await executeChild<typeof switchoverWorkflow>(SWITCHOVER_WORKFLOW_TYPE, {
      workflowId: childId,
      args: [{ target, to, timeoutSeconds: failoverSettings(target.spec).switchoverTimeoutSeconds }],
      staticSummary: `switchover ${namespace}/${name} to ${member}`,
      typedSearchAttributes: [
        { key: DatabaseNamespace, value: namespace },
        { key: DatabaseName, value: name },
        { key: DatabaseEngine, value: target.spec.engine },
      ],
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Past the fence a step did not finish: the role record names the target, and the primary
    // guard finishes the move at its next look (a Degraded pass looks soon).
    await settle(
      'Aborted',
      `did not finish: ${describeFailure(err).message}; the primary guard takes it up`,
      { type: 'Warning', reason: 'SwitchoverFailed' },
    );
    await guardPrimary(entity, update, target);
    return;
  }
  const from = outcome.from !== undefined ? `${name}-${outcome.from}` : undefined;
  switch (outcome.state) {
    case 'SwitchedOver':
      book.setPrimary(member);
      await settle(
        'SwitchedOver',
        `${outcome.reason}; writes paused ${Math.round(outcome.writesPausedMs ?? 0)} ms (${Math.round(outcome.durationMs)} ms in all): ${outcome.steps.join('; ')}`,
        { type: 'Normal', reason: 'SwitchedOver' },
        from,
      );
      return;
    case 'Already':
      await settle('SwitchedOver', outcome.reason, { type: 'Normal', reason: 'SwitchedOver' }, from);
      return;
    case 'Aborted':
      await settle('Aborted', outcome.reason, { type: 'Warning', reason: 'SwitchoverAborted' }, from);
      return;
    case 'Rejected':
      await settle('Rejected', outcome.reason, { type: 'Warning', reason: 'SwitchoverRejected' }, from);
  }
}
