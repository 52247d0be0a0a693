import { setCurrentDetails, workflowInfo, type ActivityOptions } from '@temporalio/workflow';
import type { DatabaseTarget, SwitchoverWorkflowActivities } from '../activities';
import { activitiesOf, quick } from './activity-options';
import { describeFailure } from './failure';

/** This workflow's own activities. */
const act = activitiesOf<SwitchoverWorkflowActivities>();

/**
 * The steps after the fence: each retried (backoff capped at 2 s) for a minute at most. The old
 * primary is stopped by then, so the switchover goes forward, never back: a step that cannot
 * finish leaves the role record naming the target, which the Database workflow's primary guard
 * then finishes as a failover.
 */
const forward: ActivityOptions = {
  startToCloseTimeout: '20 seconds',
  scheduleToCloseTimeout: '1 minute',
  retry: {
    initialInterval: '200 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '2 seconds',
    maximumAttempts: Number.POSITIVE_INFINITY,
    nonRetryableErrorTypes: ['RoleMoved'],
  },
};

/** The wait for the old primary's last WAL: a fast shutdown takes a second or two. */
const handover: ActivityOptions = {
  startToCloseTimeout: '45 seconds',
  heartbeatTimeout: '10 seconds',
  retry: { ...forward.retry, maximumAttempts: 3 },
};

export interface SwitchoverInput {
  target: DatabaseTarget;
  /** The member to make primary. */
  to: number;
  /** spec.failover.switchoverTimeoutSeconds: how long the target may take to catch up. */
  timeoutSeconds: number;
}

export interface SwitchoverOutcome {
  /**
   * SwitchedOver: `to` is the primary. Already: it was. Aborted: the target did not catch up in
   * time, nothing was changed. Rejected: it could not start (nothing was changed); `reason` says why.
   */
  state: 'SwitchedOver' | 'Already' | 'Aborted' | 'Rejected';
  from?: number;
  to: number;
  reason: string;
  /** What each step did, in order. */
  steps: string[];
  /** From the fence (writes stop reaching the old primary) to the promotion of the new one. */
  writesPausedMs?: number;
  durationMs: number;
}

/**
 * The switchover runbook, as a DBA would run it, with nothing changed until the target is ready:
 *
 * 1. check: the primary is healthy, no move is under way, the target is a Ready standby streaming;
 * 2. wait (at most spec.failover.switchoverTimeoutSeconds) for the target to replay all the primary
 *    had written a moment before; if it cannot, abort: the primary stays, nothing was touched;
 * 3. reserve, on the target, the slots of the members that will stream from it (so the WAL of
 *    the timeline switch is kept for them, and the old primary's clone finds its slot);
 * 4. fence the old primary, as a failover does: the record names the target, the primary Service
 *    selects it, the old pod loses its role label and is deleted, which stops its engine with a
 *    fast shutdown that sends its last WAL to the streaming standbys;
 * 5. wait for that hand-over: the old engine stopped, the target received at least what the
 *    primary had when it was found caught up;
 * 6. promote the target, make the record final, Services and role labels with it;
 * 7. a replication pass: the new primary gets the other members' slots. The old primary's pod
 *    comes back, reads the record, and clones the new primary (as any former primary).
 */
export async function switchoverWorkflow(input: SwitchoverInput): Promise<SwitchoverOutcome> {
  const { target, to } = input;
  const started = Date.now();
  const id = `${target.namespace}/${target.name}`;
  const member = `${target.name}-${to}`;
  const steps: string[] = [];
  const say = (text: string) => setCurrentDetails(`**switchover** of ${id} to ${member}: ${text}`);
  const done = (outcome: Omit<SwitchoverOutcome, 'durationMs' | 'to' | 'steps'>): SwitchoverOutcome => ({
    ...outcome,
    to,
    steps,
    durationMs: Date.now() - started,
  });

  say('checking the primary and the target');
  const check = await act(`check a switchover of ${id} to ${member}`).checkSwitchover(target, to);
  const from = check.from;
  const primary = `${target.name}-${from}`;
  if (check.already) return done({ state: 'Already', from, reason: `${member} is the primary already` });
  if (check.refused) return done({ state: 'Rejected', from, reason: check.refused });

  say(`waiting for ${member} to catch up with ${primary} (at most ${input.timeoutSeconds}s)`);
  const caught = await act(`wait for ${member} to catch up with ${primary}`, {
    startToCloseTimeout: `${input.timeoutSeconds + 30} seconds`,
    heartbeatTimeout: '10 seconds',
    retry: { ...quick.retry, maximumAttempts: 3, nonRetryableErrorTypes: ['RoleMoved'] },
  }).waitForCatchUp(target, from, to, input.timeoutSeconds);
  if (!caught.caughtUp) {
    return done({
      state: 'Aborted',
      from,
      reason: `${member} did not catch up within ${input.timeoutSeconds}s (${caught.message}); ${primary} stays the primary`,
    });
  }
  steps.push(caught.message);

  say(`reserving the other members' slots on ${member}`);
  const reserved = await act(`reserve slots on ${member}`, forward).reserveSlots(target, to);
  if (reserved.created.length > 0) steps.push(`reserved ${reserved.created.join(', ')} on ${member}`);

  say(`fencing ${primary}`);
  const fenceStarted = Date.now();
  const fenced = await act(`fence ${primary}`, forward).fencePrimary(target, from, to);
  steps.push(...fenced.steps);

  say(`waiting for ${primary} to hand its last WAL over to ${member}`);
  const handed = await act(`wait for ${primary} to hand over to ${member}`, handover).waitForHandover(
    target,
    from,
    to,
    caught.primaryAt,
  );
  steps.push(handed.message);

  say(`promoting ${member}`);
  const promoted = await act(`promote ${member}`, forward).promoteMember(target, to);
  const writesPausedMs = Date.now() - fenceStarted;
  steps.push(`${member} ${promoted}`);

  say(`recording ${member} as the primary`);
  const completed = await act(`record ${member} as the primary of ${id}`, forward).completeFailover(
    target,
    to,
  );
  if (completed.relabelled.length > 0) steps.push(`labelled ${completed.relabelled.join(', ')}`);

  say('giving the new primary the replicas’ slots');
  try {
    const rep = await act(`configure replication of ${id}`, quick).configureReplication(target);
    if (rep.changes.length > 0) steps.push(...rep.changes);
  } catch (err) {
    // The Database workflow's replication pass has the last word on the replicas.
    steps.push(`replication pass left to the Database workflow: ${describeFailure(err).message}`);
  }
  say(`done: ${member} is the primary (run ${workflowInfo().runId})`);
  return done({
    state: 'SwitchedOver',
    from,
    reason: handed.shortBytes
      ? `${member} is the primary; ${handed.message}`
      : `${member} is the primary, with every write of ${primary}`,
    writesPausedMs,
  });
}
