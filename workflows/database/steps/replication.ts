import { isCancellation, patched, type ActivityOptions } from '@temporalio/workflow';
import type { DatabaseTarget, ReplicationReport } from '../../../activities';
import { act, READY_WAIT_BUDGET_SECONDS, waiting } from '../../activity-options';
import { ConditionTypes } from '../../conditions';
import { describeFailure } from '../../failure';
import { explainNotReady, pauseForNewRun, SUPERSEDED, type Generation } from '../generation';
import { lean } from '../builds';
import type { DatabaseEvent } from '../status-book';

/**
 * A repair's replication wait (drift, resync) gives up after three attempts, not eight:
 * its failures are a primary that stopped answering, and the pass then ends Degraded at once, so
 * that the primary guard after it looks (and fails over) within seconds instead of after a
 * minute and a half of retries against a dead primary. A new generation keeps the patient wait.
 */
const briefly: ActivityOptions = { ...waiting, retry: { ...waiting.retry, maximumAttempts: 3 } };

/**
 * The first replication pass runs as soon as the Services exist, while member 0 may still be
 * starting: it is retried for about two minutes (refused connections, an engine initialising).
 * A PostgreSQL replica's init container waits for the role and slot this pass creates.
 */
const untilMemberZeroAnswers: ActivityOptions = {
  startToCloseTimeout: '40 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 1.5,
    maximumInterval: '10 seconds',
    maximumAttempts: 16,
  },
};

/** A look at a few standbys and the primary: a log read and a few queries each. */
const lookAtStandbys: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', maximumAttempts: 2 },
};

/**
 * Replication of one generation: the replication user, slots and replica wiring on the engines,
 * and the wait for every replica to stream. Made after the Services exist.
 */
export class Replication {
  /** Replication is configured on the engines at all (workflows from before it did not). */
  readonly enabled: boolean;
  /**
   * The engines must be asked: there are replicas, or a scale-down to one member leaves a
   * replica's slot behind. A single member is reported without asking the engine.
   */
  readonly engineWork: boolean;
  /** The early pass succeeded (or there is nothing to configure). */
  configured: boolean;
  private readonly target: DatabaseTarget;

  constructor(
    private readonly g: Generation,
    target: DatabaseTarget,
  ) {
    this.target = lean(target);
    const applied = g.entity.state.applied;
    this.enabled = patched('replication-v1');
    this.engineWork =
      this.enabled && (target.spec.replicas > 1 || (applied?.replicas ?? target.spec.replicas) > 1);
    this.configured = !this.engineWork;
  }

  /**
   * The early replication pass: role, slots and replication user as soon as member 0 answers,
   * before the replicas start (a PostgreSQL replica's init container clones through its slot).
   * Transient trouble that outlives the retries is not fatal here: the pass is tried again
   * while waiting for the pods, and the replication wait after it has the last word.
   * Returns false when superseded.
   */
  async configureEarly(): Promise<boolean> {
    const what = `configure replication of ${this.g.id}`;
    try {
      const early = await this.g.run(what, () =>
        act(what, untilMemberZeroAnswers).configureReplication(this.target),
      );
      if (early === SUPERSEDED) return false;
      this.configured = true;
      await this.absorb(early, false);
    } catch (err) {
      if (isCancellation(err) || describeFailure(err).permanent) throw err;
      await explainNotReady(this.g, describeFailure(err).message);
    }
    return true;
  }

  /**
   * After the pods are ready: every replica streaming (and departing ones let go), reporting
   * progress. Returns false when the reconcile stops here (superseded, or a repair that found
   * replication not ready and reported Degraded).
   */
  async awaitStreaming(): Promise<boolean> {
    const { g } = this;
    if (!this.enabled) return true;
    if (!this.engineWork) {
      g.book.setMembers([{ name: `${g.entity.name}-0`, role: 'primary' }]);
      g.book.mark(
        ConditionTypes.ReplicationReady,
        'True',
        'SingleMember',
        'one member: nothing to replicate',
      );
    }
    while (this.engineWork) {
      const what = `wait for replication of ${g.id}`;
      const rep = await g.run(what, () =>
        act(what, g.mode === 'generation' ? waiting : briefly).waitForReplicationReady(
          this.target,
          Math.min(READY_WAIT_BUDGET_SECONDS, g.entity.limits.readyWaitSeconds),
        ),
      );
      if (rep === SUPERSEDED) return false;
      await this.absorb(rep, true);
      if (rep.ready) break;
      await this.recloneDiverged(rep);
      if (g.mode !== 'generation') {
        await g.book.degrade('ReplicationNotReady', rep.message);
        return false;
      }
      await explainNotReady(g, `replication not ready: ${rep.message}`);
      await g.book.report();
      if (pauseForNewRun(g)) return false;
    }
    return true;
  }

  /**
   * A replica that stays "not connected" may have diverged from the primary's timeline for good
   * (it took a fenced primary's last WAL, or was promoted by hand and put back): such a standby
   * never streams again by itself. The activity checks each one against the engines and has
   * those that diverged cloned afresh; each gets a Warning Event that says why. Best effort: the
   * wait goes on as before, and the new pod's clone shows in the next passes. MariaDB: a replica
   * whose source refused its position (error 1236: a former primary with writes that were lost in
   * the failover) gets the same look.
   */
  private async recloneDiverged(rep: ReplicationReport): Promise<void> {
    const engine = this.target.spec.engine;
    const stuck = rep.members
      .filter(
        (m) =>
          m.role === 'replica' &&
          (engine === 'mariadb' ? /\b1236\b/.test(m.state ?? '') : m.state === 'not connected'),
      )
      .map((m) => m.name);
    if (stuck.length === 0) return;
    if (
      engine === 'postgres'
        ? !patched('reclone-diverged-v1')
        : engine !== 'mariadb' || !patched('reclone-mariadb-v1')
    ) {
      return;
    }
    const what = `re-clone the diverged standbys of ${this.g.id}`;
    try {
      const done = await act(what, lookAtStandbys).recloneDivergedStandbys(this.target, stuck);
      for (const r of done.recloned) {
        await this.g.book.report({
          type: 'Warning',
          reason: 'ReplicaDiverged',
          message: `${r.member} cannot follow the primary: ${r.why}; its data is replaced by a fresh clone of the primary`,
        });
      }
    } catch (err) {
      if (isCancellation(err)) throw err;
    }
  }

  /**
   * Takes a replication report into status (members, ReplicationReady) and announces what it
   * changed: an Event per kind of change, none when nothing changed. `final` is the pass after
   * the pods are ready: its "not yet" means replicas not streaming, an early one's means
   * replication still being set up.
   */
  private async absorb(rep: ReplicationReport, final: boolean): Promise<void> {
    const { book, entity } = this.g;
    const before = new Set(
      (entity.state.status.members ?? []).filter((m) => m.state === 'streaming').map((m) => m.name),
    );
    book.setMembers(rep.members);
    const primary = rep.members.find((m) => m.role === 'primary');
    if (primary && patched('failover-v1')) book.setPrimary(primary.name);
    // A resync's early pass that finds everything streaming keeps the condition True: no flip.
    if (rep.ready) book.mark(ConditionTypes.ReplicationReady, 'True', 'Streaming', rep.message);
    else {
      const reason = final ? 'ReplicasNotStreaming' : 'Configuring';
      book.mark(ConditionTypes.ReplicationReady, 'False', reason, rep.message);
    }
    const streaming = rep.members
      .filter((m) => m.role === 'replica' && m.state === 'streaming' && !before.has(m.name))
      .map((m) => m.name);
    const events: DatabaseEvent[] = [
      ...(rep.changes.length > 0
        ? [{ type: 'Normal' as const, reason: 'ReplicationConfigured', message: rep.changes.join('; ') }]
        : []),
      ...(rep.removed.length > 0
        ? [{ type: 'Normal' as const, reason: 'ReplicaRemoved', message: rep.removed.join('; ') }]
        : []),
      ...(streaming.length > 0
        ? [
            {
              type: 'Normal' as const,
              reason: 'ReplicaStreaming',
              message: `${streaming.join(', ')} streaming from ${primary?.name ?? `${entity.name}-0`}`,
            },
          ]
        : []),
    ];
    if (events.length === 0) await book.report();
    for (const event of events) await book.report(event);
  }
}
