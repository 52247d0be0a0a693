import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { SWITCHOVER_ANNOTATION } from '../crds';
import { podName } from '../contracts/names';
import type { EngineCredentials } from '../engines/credentials';
import type { EngineEndpoint } from '../engines/resolver';
import { postgresPosition, type WalPosition } from '../engines/postgres';
import { readCredentials } from './credentials';
import { databaseResource, readDatabase } from './database-ref';
import { isConflict, kubeCall } from './errors';
import type { KubeClients } from './kube-clients';
import { assessPrimary } from './failover';
import { readMemberPod } from './member-pods';
import { isPodReady } from './pod-trouble';
import { memberAddress, type EngineDependencies } from './replication';
import type { DatabaseRef, DatabaseTarget } from './types';

/**
 * The steps of a planned switchover (workflows/switchover.ts) that a failover does not have: the
 * checks before anything changes, the wait for the target to catch up, and the wait for the old
 * primary to hand its last WAL over. The fence, the promotion and the final record are the
 * failover's own steps (activities/failover.ts). PostgreSQL only, as failover.
 */

export interface SwitchoverCheck {
  /** The primary the role record names. */
  from: number;
  /** Why the switchover cannot start (nothing was changed); absent when it can. */
  refused?: string;
  /** The target is the primary already: nothing to do. */
  already?: boolean;
}

/**
 * Can the primary role move to `to` now? Only from a healthy primary (a failed one is the
 * failover's), with no move under way, to a member that is a Ready standby streaming now.
 */
export async function checkSwitchover(
  deps: EngineDependencies,
  target: DatabaseTarget,
  to: number,
): Promise<SwitchoverCheck> {
  const primary = await assessPrimary(deps, target);
  const from = primary.primary;
  const member = podName(target.name, to);
  if (primary.targetPrimary !== undefined)
    return {
      from,
      refused: `the role is moving to ${podName(target.name, primary.targetPrimary)} already (a failover or switchover under way)`,
    };
  if (from === to) return { from, already: true };
  if (!primary.healthy) return { from, refused: `the primary is not healthy: ${primary.reason}` };
  const pod = await readMemberPod(deps.clients, target, member);
  if (!pod || pod.metadata?.deletionTimestamp || !isPodReady(pod))
    return { from, refused: `${member} is ${pod ? 'not Ready' : 'not there'}` };
  const credentials = await readCredentials(deps.clients, target.namespace, target.name);
  const position = await positionOf(deps, target, to, credentials);
  if (typeof position === 'string') return { from, refused: `${member} does not answer: ${position}` };
  if (!position.inRecovery) return { from, refused: `${member} is not a standby` };
  if (!position.streaming) return { from, refused: `${member} does not stream from the primary` };
  return { from };
}

export interface CatchUp {
  caughtUp: boolean;
  /** The primary's WAL position (bytes since 0/0) that the target had replayed, or last lagged behind. */
  primaryAt: string;
  /** Bytes the target's replay was behind the primary at the last look. */
  lagBytes: string;
  message: string;
}

/** Between the primary's position and the target's look: the target must be this close in time. */
const CATCH_UP_WINDOW_MS = 300;

/**
 * Waits, heartbeating, for `to` to have replayed everything the primary had written a moment
 * before (CATCH_UP_WINDOW_MS): replay lag under that window, so that once the primary stops, the
 * rest arrives and is replayed in about as long. Gives up at `budgetSeconds` with how far behind
 * it was: the switchover is then aborted with nothing changed.
 */
export async function waitForCatchUp(
  deps: EngineDependencies,
  target: DatabaseTarget,
  from: number,
  to: number,
  budgetSeconds: number,
): Promise<CatchUp> {
  const ctx = Context.current();
  const deadline = Date.now() + budgetSeconds * 1000;
  const credentials = await readCredentials(deps.clients, target.namespace, target.name);
  const member = podName(target.name, to);
  let last: CatchUp = { caughtUp: false, primaryAt: '0', lagBytes: '0', message: 'not looked at yet' };
  for (;;) {
    const primary = await positionOf(deps, target, from, credentials);
    if (typeof primary === 'string')
      throw ApplicationFailure.retryable(`the primary does not answer: ${primary}`);
    if (primary.inRecovery) {
      throw ApplicationFailure.nonRetryable(
        `${podName(target.name, from)} is no longer a primary`,
        'RoleMoved',
      );
    }
    await ctx.sleep(CATCH_UP_WINDOW_MS);
    const standby = await positionOf(deps, target, to, credentials);
    if (typeof standby === 'string') {
      last = { ...last, message: `${member} does not answer: ${standby}` };
    } else {
      const lag = BigInt(primary.received) - BigInt(standby.replayed);
      const caughtUp = lag <= 0n && standby.inRecovery && standby.streaming;
      last = {
        caughtUp,
        primaryAt: primary.received,
        lagBytes: String(lag > 0n ? lag : 0n),
        message: caughtUp
          ? `${member} replayed all the primary had written ${CATCH_UP_WINDOW_MS} ms before`
          : !standby.streaming
            ? `${member} does not stream from the primary`
            : `${member} replays ${lag} bytes behind the primary`,
      };
      if (caughtUp) return last;
    }
    ctx.heartbeat(last.message);
    if (Date.now() >= deadline) return last;
  }
}

export interface Handover {
  /** WAL the target received, bytes since 0/0. */
  received: string;
  /** Bytes the target lacks of what the old primary had written when it was found caught up. */
  shortBytes?: string;
  message: string;
}

/**
 * After the fence deleted the old primary's pod: waits, heartbeating, until that pod's engine
 * has stopped (the pod is gone, or a new incarnation is there: a pod object is removed only once
 * its containers stopped) and the target received at least `atLeast`, the primary's position
 * when the target was found caught up. A fast shutdown (the image's stop signal) sends every
 * remaining WAL record to the streaming standbys before the engine exits, so the target then has
 * every write the old primary acknowledged. Polls until then: the step's deadline bounds it.
 */
export async function waitForHandover(
  deps: EngineDependencies,
  target: DatabaseTarget,
  from: number,
  to: number,
  atLeast: string,
): Promise<Handover> {
  const ctx = Context.current();
  const credentials = await readCredentials(deps.clients, target.namespace, target.name);
  const old = podName(target.name, from);
  const member = podName(target.name, to);
  for (;;) {
    const pod = await readMemberPod(deps.clients, target, old);
    const stopped = !pod || !pod.metadata?.deletionTimestamp;
    const standby = await positionOf(deps, target, to, credentials);
    if (stopped && typeof standby !== 'string') {
      const short = BigInt(atLeast) - BigInt(standby.received);
      // Short only if the target's receiver was cut just then. The old primary's pod is already
      // being cloned again from the target, so there is no going back: said, not hidden.
      return {
        received: standby.received,
        ...(short > 0n && { shortBytes: String(short) }),
        message:
          short > 0n
            ? `${old} stopped, but ${member} received ${short} bytes of WAL fewer than the primary had written when it was found caught up`
            : `${old} stopped; ${member} received ${standby.received} bytes of WAL (at least ${atLeast})`,
      };
    }
    ctx.heartbeat(stopped ? `${member} does not answer: ${String(standby)}` : `${old} is stopping`);
    await ctx.sleep(200);
  }
}

async function positionOf(
  deps: EngineDependencies,
  target: DatabaseTarget,
  ordinal: number,
  credentials: EngineCredentials,
): Promise<WalPosition | string> {
  try {
    const endpoint: EngineEndpoint = await deps.resolver(memberAddress(target, ordinal));
    return await postgresPosition(endpoint, credentials);
  } catch (err) {
    if (err instanceof ApplicationFailure && err.nonRetryable) throw err;
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Removes the switchover annotation once its request is handled, only while it still asks for
 * `value`: a newer request (another value, set meanwhile) stays, for the workflow to take next.
 * The patch carries the resourceVersion read, so a value changed between the read and the write
 * is never removed. Returns whether the annotation is gone (false: a newer request is there).
 */
export async function clearSwitchoverRequest(
  clients: KubeClients,
  ref: DatabaseRef,
  value: string,
): Promise<boolean> {
  for (;;) {
    const db = await readDatabase(clients, ref);
    if (!db) return true;
    const now = db.metadata.annotations?.[SWITCHOVER_ANNOTATION];
    if (now === undefined) return true;
    if (now !== value) return false;
    const removed = await kubeCall(
      `remove annotation ${SWITCHOVER_ANNOTATION} from Database ${ref.namespace}/${ref.name}`,
      async () => {
        try {
          await clients.custom.patchNamespacedCustomObject(
            {
              ...databaseResource(ref),
              body: {
                metadata: {
                  uid: ref.uid,
                  resourceVersion: db.metadata.resourceVersion,
                  annotations: { [SWITCHOVER_ANNOTATION]: null },
                },
              },
            },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          );
          return true;
        } catch (err) {
          if (isConflict(err)) return false; // changed meanwhile: read again
          throw err;
        }
      },
    );
    if (removed) return true;
  }
}
