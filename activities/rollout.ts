import { PatchStrategy, setHeaderOptions, type V1Pod, type V1StatefulSet } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { CANCEL_UPGRADE_ANNOTATION } from '../crds';
import { serverSideApply } from './apply';
import { databaseGone, databaseResource, readDatabase } from './database-ref';
import { FailureTypes, kubeCall } from './errors';
import { FIELD_MANAGER, type KubeClients } from './kube-clients';
import { podName, renderStatefulSet, selectorLabels } from './manifests';
import { isPodReady, probeNotPassing } from './pod-trouble';
import { deleteMemberPod, readMemberPod } from './member-pods';
import { readStatefulSet } from './readiness';
import type { DatabaseRef, DatabaseTarget } from './types';

/**
 * The rollout steps of an upgrade (workflows/upgrade.ts): the StatefulSet applied with a partition,
 * one member's health at the new revision, and the forced-rollback pod deletion. Each is small and
 * idempotent, so a retry on another worker after a crash repeats nothing harmful.
 */

/** Label the StatefulSet controller puts on each pod: the ControllerRevision it was created from. */
export const REVISION_LABEL = 'controller-revision-hash';

export interface RolloutState {
  /** The revision the template that was just applied belongs to. */
  updateRevision: string;
  currentRevision: string;
  replicas: number;
}

export interface MemberState {
  /** The pod exists, runs the update revision and is Ready. */
  ready: boolean;
  /**
   * Set when the member can no longer become ready without a change (an image that cannot be
   * pulled, a container in a crash loop): the gate fails at once instead of waiting out its time.
   */
  fatal?: string;
  message: string;
}

const POLL_MS = 1_000;
/** How long an apply waits for the controller to compute the new revision. */
const OBSERVE_SECONDS = 60;

/** Container states that do not resolve themselves: waiting longer only delays the rollback. */
const FATAL_WAITING_REASONS = new Set([
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CrashLoopBackOff',
  'CreateContainerConfigError',
  'CreateContainerError',
]);

/**
 * Server-side applies the StatefulSet rendered from `target` with `partition` (and, while an
 * upgrade moves the members, the build they move from: UPGRADING_FROM_ANNOTATION), then waits
 * until the controller has observed it and reports the revisions. Refuses (non-retryable) when the Database
 * is gone or being deleted: the deletion releases the StatefulSet, and an upgrade or rollback
 * applying it again would re-create it behind the deletion's back.
 */
export async function applyRollout(
  clients: KubeClients,
  target: DatabaseTarget,
  configHash: string,
  partition: number,
  upgradingFrom?: { version: string; image?: string },
): Promise<RolloutState> {
  await assertNotDeleting(clients, target);
  const rendered = renderStatefulSet(target, { configHash, partition, upgradingFrom });
  const name = rendered.metadata!.name!;
  const applied = await partitionToApply(clients, target, rendered, partition);
  const sts = renderStatefulSet(target, { configHash, partition: applied, upgradingFrom });
  await serverSideApply(clients, sts, `StatefulSet ${target.namespace}/${name} (partition ${applied})`);
  const ctx = Context.current();
  const deadline = Date.now() + OBSERVE_SECONDS * 1000;
  for (;;) {
    const current = await readStatefulSet(clients, target);
    const status = current?.status;
    if (
      current &&
      status?.updateRevision &&
      (status.observedGeneration ?? 0) >= (current.metadata?.generation ?? 0)
    ) {
      return {
        updateRevision: status.updateRevision,
        currentRevision: status.currentRevision ?? '',
        replicas: current.spec?.replicas ?? 0,
      };
    }
    if (Date.now() >= deadline) {
      // The controller manager is down or far behind: worth another attempt later.
      throw ApplicationFailure.retryable(
        `StatefulSet ${target.namespace}/${name}: the controller did not observe the change within ${OBSERVE_SECONDS}s`,
        'NotObserved',
      );
    }
    ctx.heartbeat();
    await ctx.sleep(POLL_MS);
  }
}

/**
 * The partition to apply: `requested`, except that a StatefulSet whose template stays as it is
 * never gets its partition raised. A run taken up afresh (a worker or run lost mid-upgrade)
 * starts again by freezing the rollout at the top; raising the partition of a rollout already
 * past it would have the controller re-create a member that is being replaced at the old
 * revision, and the next step move it once more: a primary restarted three times instead of
 * once. Whether the template changes is asked of the API server (a dry-run apply, its defaults
 * included), not guessed from the rendering.
 */
async function partitionToApply(
  clients: KubeClients,
  target: DatabaseTarget,
  rendered: V1StatefulSet,
  requested: number,
): Promise<number> {
  const current = await readStatefulSet(clients, target);
  const now = current?.spec?.updateStrategy?.rollingUpdate?.partition ?? 0;
  if (!current || requested <= now) return requested;
  const what = `StatefulSet ${target.namespace}/${rendered.metadata!.name!}`;
  const dry = (await kubeCall(`dry-run apply ${what}`, () =>
    clients.objects.patch(rendered, undefined, 'All', FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
  )) as V1StatefulSet;
  return isDeepStrictEqual(dry.spec?.template, current.spec?.template) ? now : requested;
}

/**
 * Waits up to `budgetSeconds` for member `ordinal` to run the StatefulSet's update revision and be
 * Ready, heartbeating every poll (a dead worker is noticed, a cancellation is delivered). Returns
 * early, with `fatal`, when the member's container is stuck in a state that needs a new template.
 */
export async function waitForMember(
  clients: KubeClients,
  target: DatabaseTarget,
  ordinal: number,
  budgetSeconds: number,
): Promise<MemberState> {
  const ctx = Context.current();
  const deadline = Date.now() + budgetSeconds * 1000;
  const pod = podName(target.name, ordinal);
  for (;;) {
    const sts = await readStatefulSet(clients, target);
    const current = await readMemberPod(clients, target, pod);
    const state = memberState(sts, current, pod);
    ctx.heartbeat(state);
    if (state.ready || state.fatal || Date.now() >= deadline) return state;
    await ctx.sleep(POLL_MS);
  }
}

export function memberState(
  sts: V1StatefulSet | undefined,
  pod: V1Pod | undefined,
  name: string,
): MemberState {
  const revision = sts?.status?.updateRevision;
  if (!sts || !revision) return { ready: false, message: 'StatefulSet not found or not yet observed' };
  if (!pod) return { ready: false, message: `pod ${name} not created yet` };
  const podRevision = pod.metadata?.labels?.[REVISION_LABEL];
  if (podRevision !== revision || pod.metadata?.deletionTimestamp) {
    return {
      ready: false,
      message: `pod ${name} still at revision ${podRevision ?? '?'}, waiting for ${revision}`,
    };
  }
  if (isPodReady(pod)) return { ready: true, message: `pod ${name} is Ready at revision ${revision}` };
  for (const c of pod.status?.containerStatuses ?? []) {
    const waiting = c.state?.waiting?.reason;
    if (waiting && FATAL_WAITING_REASONS.has(waiting)) {
      const detail = `pod ${name}: container ${c.name} ${waiting}${c.state?.waiting?.message ? `: ${c.state.waiting.message}` : ''}`;
      return { ready: false, fatal: detail.slice(0, 512), message: detail.slice(0, 512) };
    }
  }
  if (pod.status?.phase === 'Failed') {
    return { ready: false, fatal: `pod ${name} failed`, message: `pod ${name} failed` };
  }
  // In the kubelet's terms: a running container that is not Ready is held back by a probe.
  const running = (pod.status?.containerStatuses ?? []).find((c) => c.state?.running && !c.ready);
  return {
    ready: false,
    message: `pod ${name} at revision ${revision} is ${pod.status?.phase ?? 'Pending'}, not Ready${running ? `: container ${running.name} ${probeNotPassing(running)}` : ''}`,
  };
}

/**
 * Deletes the Database's pods created from `revision` (the bad one of a failed upgrade). After the
 * template is reverted, a StatefulSet never replaces a pod that did not become Ready (the
 * "forced rollback" caveat in the Kubernetes documentation); deleted, it is re-created from the
 * reverted template. Returns the names deleted; a second run finds none.
 */
export async function deletePodsOfRevision(
  clients: KubeClients,
  target: DatabaseTarget,
  revision: string,
): Promise<string[]> {
  await assertNotDeleting(clients, target);
  const selector = { ...selectorLabels(target), [REVISION_LABEL]: revision };
  const labelSelector = Object.entries(selector)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const pods = await kubeCall(`list Pods of ${target.namespace}/${target.name} at revision ${revision}`, () =>
    clients.core.listNamespacedPod({ namespace: target.namespace, labelSelector }),
  );
  const deleted: string[] = [];
  for (const pod of pods.items) {
    const name = pod.metadata?.name;
    if (!name || pod.metadata?.deletionTimestamp) continue;
    if (await deleteMemberPod(clients, target, name)) deleted.push(name);
  }
  return deleted.sort();
}

/**
 * Removes the cancel-upgrade annotation (merge patch; absent is fine). Returns false when this
 * incarnation of the Database is gone.
 */
export async function clearCancelUpgrade(clients: KubeClients, ref: DatabaseRef): Promise<boolean> {
  const db = await readDatabase(clients, ref);
  if (!db) return false;
  if (db.metadata.annotations?.[CANCEL_UPGRADE_ANNOTATION] === undefined) return true;
  await kubeCall(
    `remove annotation ${CANCEL_UPGRADE_ANNOTATION} from Database ${ref.namespace}/${ref.name}`,
    () =>
      clients.custom.patchNamespacedCustomObject(
        {
          ...databaseResource(ref),
          // The uid makes the patch a precondition: a re-created Database is left alone.
          body: { metadata: { uid: ref.uid, annotations: { [CANCEL_UPGRADE_ANNOTATION]: null } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
  );
  return true;
}

async function assertNotDeleting(clients: KubeClients, target: DatabaseTarget): Promise<void> {
  const db = await readDatabase(clients, target);
  if (!db) throw databaseGone(target);
  if (db.metadata.deletionTimestamp) {
    throw ApplicationFailure.nonRetryable(
      `Database ${target.namespace}/${target.name} is being deleted`,
      FailureTypes.DatabaseDeleting,
    );
  }
}
