import type { V1ConfigMap } from '@kubernetes/client-node';
import { ApplicationFailure } from '@temporalio/activity';
import { FailureTypes, isConflict, kubeCall, kubeRead } from './errors';
import type { KubeClients } from './kube-clients';
import { objectMeta, POD_NAME_LABEL } from './manifests/labels';
import { memberOrdinal, objectNames, podName, ROLE_KEYS } from '../contracts/names';
import type { DatabaseRef, DatabaseTarget } from './types';

/**
 * The role record: which member is the primary, kept in the cluster (ConfigMap `<name>-roles`,
 * key `primary` = the primary's pod name; `targetPrimary` while a failover moves the role). It
 * is the one source of truth for the role: the primary Service selects the pod it names, the
 * engine activities dial it as the primary, and the pods read it (mounted at ROLES_MOUNT_PATH)
 * when they start, so that a former primary coming back knows it must not start as one.
 *
 * It is never re-rendered from the spec: only created (member 0, the first primary) and moved by
 * a failover, with the resourceVersion it read, so two writers can never both win.
 */
export interface RoleRecord {
  /** Ordinal of the primary. */
  primary: number;
  /** Ordinal of the member a failover or switchover is promoting, until it is done. */
  targetPrimary?: number;
  resourceVersion?: string;
}

type Target = Pick<DatabaseTarget, 'namespace' | 'name'>;

const what = (target: Target) => `ConfigMap ${target.namespace}/${objectNames(target.name).roles}`;

/** The record, or undefined when there is none (a Database from before it, or not made yet). */
export async function readRoles(clients: KubeClients, target: Target): Promise<RoleRecord | undefined> {
  const cm = await kubeRead(what(target), () =>
    clients.core.readNamespacedConfigMap({
      name: objectNames(target.name).roles,
      namespace: target.namespace,
    }),
  );
  return cm ? parseRoles(target, cm) : undefined;
}

/** The primary's ordinal: the record's, or member 0 where there is no record yet. */
export async function primaryOrdinal(clients: KubeClients, target: Target): Promise<number> {
  return (await readRoles(clients, target))?.primary ?? 0;
}

/**
 * Creates the record if it is missing, naming the member the primary Service selects (a record
 * deleted by hand after a failover must not hand the role back to member 0, a standby), or
 * member 0 when there is no such Service: every Database starts with member 0 as its primary,
 * and it was the primary of every Database made before the record existed. An existing record
 * is left alone, whatever it says.
 */
export async function ensureRoles(clients: KubeClients, target: DatabaseTarget): Promise<RoleRecord> {
  const existing = await readRoles(clients, target);
  if (existing) return existing;
  const primary = (await selectedByPrimaryService(clients, target)) ?? 0;
  const created = await kubeCall(`create ${what(target)}`, async () => {
    try {
      const body = renderRoles(target, { primary });
      return await clients.core.createNamespacedConfigMap({ namespace: target.namespace, body });
    } catch (err) {
      if (isConflict(err)) return undefined; // made concurrently: read that one
      throw err;
    }
  });
  if (created) return parseRoles(target, created);
  const raced = await readRoles(clients, target);
  if (!raced) throw ApplicationFailure.retryable(`${what(target)} vanished while being created`, 'Transient');
  return raced;
}

/** The ordinal of the member the primary Service selects by pod name, if it does. */
async function selectedByPrimaryService(clients: KubeClients, target: Target): Promise<number | undefined> {
  const name = objectNames(target.name).primaryService;
  const service = await kubeRead(`Service ${target.namespace}/${name}`, () =>
    clients.core.readNamespacedService({ name, namespace: target.namespace }),
  );
  const pod = service?.spec?.selector?.[POD_NAME_LABEL];
  return pod === undefined ? undefined : memberOrdinal(target.name, pod);
}

/**
 * Moves the record from `from` (as read, with its resourceVersion) to `next`. A record changed by
 * someone else meanwhile is a conflict: retryable, and the caller reads again and decides anew.
 */
export async function writeRoles(
  clients: KubeClients,
  target: DatabaseTarget,
  from: RoleRecord,
  next: Omit<RoleRecord, 'resourceVersion'>,
): Promise<RoleRecord> {
  if (!from.resourceVersion) {
    throw ApplicationFailure.nonRetryable(
      `${what(target)}: no resourceVersion to write on`,
      FailureTypes.Invalid,
    );
  }
  const body = renderRoles(target, next);
  body.metadata!.resourceVersion = from.resourceVersion;
  const written = await kubeCall(`update ${what(target)}`, () =>
    clients.core.replaceNamespacedConfigMap({
      name: objectNames(target.name).roles,
      namespace: target.namespace,
      body,
    }),
  );
  return parseRoles(target, written);
}

export function renderRoles(
  target: DatabaseTarget,
  record: Omit<RoleRecord, 'resourceVersion'>,
): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMeta(target, objectNames(target.name).roles, 'config'),
    data: {
      [ROLE_KEYS.primary]: podName(target.name, record.primary),
      ...(record.targetPrimary !== undefined && {
        [ROLE_KEYS.targetPrimary]: podName(target.name, record.targetPrimary),
      }),
    },
  };
}

/** Reads a record; a value that names no member of this Database is refused, never guessed at. */
export function parseRoles(target: Pick<DatabaseRef, 'namespace' | 'name'>, cm: V1ConfigMap): RoleRecord {
  const ordinalOf = (key: string): number | undefined => {
    const value = cm.data?.[key];
    if (value === undefined) return undefined;
    const ordinal = memberOrdinal(target.name, value);
    if (ordinal === undefined) {
      throw ApplicationFailure.nonRetryable(
        `${what(target)} key ${key} is ${JSON.stringify(value.slice(0, 80))}: expected a member's pod name, ${target.name}-<ordinal>`,
        FailureTypes.Invalid,
      );
    }
    return ordinal;
  };
  const primary = ordinalOf(ROLE_KEYS.primary);
  if (primary === undefined) {
    throw ApplicationFailure.nonRetryable(
      `${what(target)} has no key ${ROLE_KEYS.primary}: it should name the primary's pod`,
      FailureTypes.Invalid,
    );
  }
  const targetPrimary = ordinalOf(ROLE_KEYS.targetPrimary);
  return {
    primary,
    ...(targetPrimary !== undefined && { targetPrimary }),
    ...(cm.metadata?.resourceVersion && { resourceVersion: cm.metadata.resourceVersion }),
  };
}
