import { patched, setCurrentDetails, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { Candidate, DatabaseTarget, FailoverWorkflowActivities, RepointReport } from '../activities';
import { activitiesOf, quick } from './activity-options';
import { describeFailure } from './failure';

/** This workflow's own activities. */
const act = activitiesOf<FailoverWorkflowActivities>();

/**
 * Each step is retried (backoff capped at 5 s; its pending activity in the Temporal UI says why)
 * for two minutes at most. A failover that cannot go on that long (no replica can take over, the
 * API server away) fails, and the Database workflow, free again for a newer spec or a deletion,
 * says so in an Event and tries again at its next look; a fence that ran is resumed from the
 * role record then, never chosen anew.
 */
const untilDone: ActivityOptions = {
  startToCloseTimeout: '20 seconds',
  scheduleToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '500 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '5 seconds',
    maximumAttempts: Number.POSITIVE_INFINITY,
    nonRetryableErrorTypes: ['RoleMoved'],
  },
};

export interface FailoverInput {
  target: DatabaseTarget;
  /** The primary that failed (the role record's, when the parent confirmed the failure). */
  from: number;
  /** Why the parent confirmed the failure, in words. */
  reason: string;
}

export interface FailoverOutcome {
  /**
   * FailedOver: `to` is the primary. Recovered: the primary answered again before anything was
   * changed, nothing was done. Superseded: the record already names another primary.
   */
  state: 'FailedOver' | 'Recovered' | 'Superseded';
  from: number;
  to?: number;
  /** What each step did, in order. */
  steps: string[];
  /** The replicas looked at, with their WAL positions or why each could not take over. */
  candidates: Candidate[];
  /** From the start of this workflow to the new primary's promotion. */
  promotedAfterMs?: number;
  durationMs: number;
}

/**
 * The failover runbook, as a DBA would run it, each step an idempotent activity that reads the
 * role record again (a SIGKILLed worker, a retried step or a re-run finds where it stands):
 *
 * 1. look again: a primary that answers by now is left alone (nothing changed yet);
 * 2. choose the replica that received the most WAL or GTIDs (unless a fence already named the target);
 * 3. fence the old primary: the record names the target, the primary Service selects it, the old
 *    pod loses its role label and is deleted — before anything is promoted, so no Service can
 *    route a write to two primaries;
 * 4. reserve, on the target, the slots of the members that will stream from it (before the
 *    promotion, so the WAL of the timeline switch is kept for them), point those members at the
 *    target itself (cutting what still ties them to the old primary), then promote it;
 * 5. make the record final (the target is the primary), Services and role labels with it;
 * 6. the replicas back on the primary Service; a replication pass: the new primary gets the
 *    other members' slots, and reports them.
 */
export async function failoverWorkflow(input: FailoverInput): Promise<FailoverOutcome> {
  const { target, from } = input;
  const started = Date.now();
  const id = `${target.namespace}/${target.name}`;
  const steps: string[] = [];
  const say = (text: string) =>
    setCurrentDetails(`**failover** of ${id} from ${target.name}-${from}: ${text}`);
  const done = (outcome: Omit<FailoverOutcome, 'durationMs' | 'from' | 'steps'>): FailoverOutcome => ({
    ...outcome,
    from,
    steps,
    durationMs: Date.now() - started,
  });

  say(`confirming (${input.reason})`);
  const now = await act(`assess the primary of ${id}`, untilDone).assessPrimary(target);
  let to = now.targetPrimary;
  let candidates: Candidate[] = [];
  if (to === undefined) {
    if (now.primary !== from) {
      steps.push(`the role record names ${target.name}-${now.primary} already`);
      return done({ state: 'Superseded', candidates });
    }
    if (now.healthy) {
      steps.push(`${now.reason}: nothing to do`);
      return done({ state: 'Recovered', candidates });
    }
    say('choosing the replica to promote');
    const choice = await act(`choose the replica to promote in ${id}`, untilDone).chooseFailoverTarget(
      target,
      from,
    );
    to = choice.ordinal;
    candidates = choice.candidates;
    steps.push(`chose ${target.name}-${to} (${describeCandidates(candidates)})`);
  } else {
    steps.push(`resumed the move to ${target.name}-${to} the role record shows`);
  }

  say(`fencing ${target.name}-${from}`);
  const fenced = await act(`fence ${target.name}-${from}`, untilDone).fencePrimary(target, from, to);
  steps.push(...fenced.steps);

  if (patched('reserve-slots-v1')) {
    say(`reserving the other members' slots on ${target.name}-${to}`);
    const reserved = await act(`reserve slots on ${target.name}-${to}`, untilDone).reserveSlots(target, to);
    if (reserved.created.length > 0)
      steps.push(`reserved ${reserved.created.join(', ')} on ${target.name}-${to}`);
  }

  // Detach the replicas from the fenced primary before anything is promoted: one still alive
  // behind a partition keeps their old connections, and ships its last WAL down them when the
  // partition heals, past the point where the new timeline forks (activities/failover.ts).
  const repoint = patched('repoint-replicas-v1');
  if (repoint) {
    say(`pointing the other replicas at ${target.name}-${to}`);
    const detached = await act(`point the replicas at ${target.name}-${to}`, untilDone).pointReplicasAt(
      target,
      from,
      to,
      'member',
    );
    steps.push(...describeRepoint(detached));
  }

  say(`promoting ${target.name}-${to}`);
  const promoted = await act(`promote ${target.name}-${to}`, untilDone).promoteMember(target, to);
  const promotedAfterMs = Date.now() - started;
  steps.push(`${target.name}-${to} ${promoted}`);

  say(`recording ${target.name}-${to} as the primary`);
  const completed = await act(
    `record ${target.name}-${to} as the primary of ${id}`,
    untilDone,
  ).completeFailover(target, to);
  if (completed.relabelled.length > 0) steps.push(`labelled ${completed.relabelled.join(', ')}`);

  if (repoint) {
    // Back to the primary Service, which follows the next failover by itself. Best effort: a
    // replica left on the new primary's own address still streams from the primary.
    try {
      const back = await act(`point the replicas at the primary Service of ${id}`, quick).pointReplicasAt(
        target,
        from,
        to,
        'service',
      );
      steps.push(...describeRepoint(back));
    } catch (err) {
      steps.push(`replicas left on ${target.name}-${to}'s address: ${describeFailure(err).message}`);
    }
  }

  say('giving the new primary the replicas’ slots');
  try {
    const rep = await act(`configure replication of ${id}`, quick).configureReplication(target);
    if (rep.changes.length > 0) steps.push(...rep.changes);
  } catch (err) {
    // The Database workflow's replication pass after the failover has the last word on the
    // replicas; the failover itself is done.
    steps.push(`replication pass left to the Database workflow: ${describeFailure(err).message}`);
  }
  say(`done: ${target.name}-${to} is the primary (run ${workflowInfo().runId})`);
  return done({ state: 'FailedOver', to, candidates, promotedAfterMs });
}

function describeRepoint(r: RepointReport): string[] {
  return [
    ...(r.repointed.length > 0 ? [`pointed ${r.repointed.join(', ')}`] : []),
    ...r.skipped.map((s) => `left ${s}`),
  ];
}

function describeCandidates(candidates: Candidate[]): string {
  return candidates
    .map((c) =>
      c.received !== undefined
        ? `${c.member} at ${c.position ?? `${c.received} bytes of WAL`}`
        : `${c.member} ${c.refused}`,
    )
    .join('; ');
}
