import crypto from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { serverSideApply } from './apply';
import { readStatefulSet } from './readiness';
import { ApplicationFailure } from '@temporalio/activity';
import { parametersDigest } from '../contracts/parameters-digest';
import { databaseGone, readDatabase } from './database-ref';
import { FailureTypes, isConflict, kubeCall, kubeRead } from './errors';
import type { KubeClients } from './kube-clients';
import { ensureRoles } from './roles';
import { ENGINE_BUILD_ANNOTATION, UPGRADING_FROM_ANNOTATION, type Engine } from '../crds';
import {
  configHash,
  CONTAINER_NAME,
  endpointsFor,
  engineProfile,
  objectMeta,
  objectNames,
  renderConfigMap,
  renderSecret,
  renderServices,
  renderStatefulSet,
  type Endpoints,
} from './manifests';
import type { DatabaseRef, DatabaseTarget } from './types';

export type Outcome = 'created' | 'updated' | 'unchanged';

const label = (kind: string, target: DatabaseTarget, name: string) => `${kind} ${target.namespace}/${name}`;

export async function applyConfigMap(
  clients: KubeClients,
  target: DatabaseTarget,
): Promise<{ outcome: Outcome; configHash: string }> {
  const parameters = await parametersOf(clients, target);
  const configMap = renderConfigMap({ ...target, spec: { ...target.spec, parameters } });
  const { outcome } = await serverSideApply(
    clients,
    configMap,
    label('ConfigMap', target, configMap.metadata!.name!),
  );
  return { outcome, configHash: configHash(configMap) };
}

/**
 * The generation's `spec.parameters`, read from the Database by reference (the workflow carries
 * only their digest, see contracts/parameters-digest.ts). A Database edited since has newer
 * parameters, and its newer generation is on its way to the workflow (which then abandons this
 * one): until it arrives this fails, retryably, rather than render parameters of another
 * generation. Runs started before the watcher sent digests carry the parameters themselves.
 */
export async function parametersOf(
  clients: KubeClients,
  target: DatabaseTarget,
): Promise<Record<string, string> | undefined> {
  if (target.spec.parameters !== undefined || target.parametersDigest === undefined) {
    return target.spec.parameters;
  }
  const db = await readDatabase(clients, target);
  if (!db) throw databaseGone(target);
  const parameters = db.spec.parameters ?? {};
  if (parametersDigest(parameters) !== target.parametersDigest) {
    throw ApplicationFailure.retryable(
      `the parameters of Database ${target.namespace}/${target.name} changed after generation ` +
        `${target.generation} (it is at generation ${db.metadata.generation ?? '?'} now); ` +
        'waiting for the newer generation',
      FailureTypes.SpecChanged,
    );
  }
  return parameters;
}

/**
 * Creates the credentials Secret if it is absent, with passwords generated right here: they never
 * leave this function except to the API server. An existing Secret is kept as it is (its
 * passwords are the ones the data on disk was initialised with, also after a Retain and
 * re-create); only its owner reference and labels are (re)applied.
 */
export async function ensureSecret(
  clients: KubeClients,
  target: DatabaseTarget,
): Promise<{ outcome: Outcome; secretName: string }> {
  const name = objectNames(target.name).secret;
  const what = label('Secret', target, name);
  const existing = await kubeRead(what, () =>
    clients.core.readNamespacedSecret({ name, namespace: target.namespace }),
  );
  if (!existing) {
    const secret = renderSecret(target, { password: newPassword(), replicationPassword: newPassword() });
    const created = await kubeCall(`create ${what}`, async () => {
      try {
        await clients.core.createNamespacedSecret({ namespace: target.namespace, body: secret });
        return true;
      } catch (err) {
        if (isConflict(err)) return false; // created concurrently by an earlier attempt: keep that one
        throw err;
      }
    });
    if (created) return { outcome: 'created', secretName: name };
  }
  const adopted = existing ? isAdopted(existing, target) : false;
  if (!adopted) {
    // Metadata only: applying without `data` leaves the passwords alone.
    const meta: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: objectMeta(target, name, 'credentials'),
    };
    await serverSideApply(clients, meta, what);
    return { outcome: 'updated', secretName: name };
  }
  return { outcome: 'unchanged', secretName: name };
}

/** The Secret names this incarnation of the Database as its owner. */
export function isAdopted(secret: V1Secret, target: DatabaseRef): boolean {
  return (secret.metadata?.ownerReferences ?? []).some((o) => o.uid === target.uid);
}

function newPassword(): string {
  return crypto.randomBytes(24).toString('base64url');
}

export async function applyStatefulSet(
  clients: KubeClients,
  target: DatabaseTarget,
  configHashValue: string,
): Promise<{ outcome: Outcome }> {
  const sts = renderStatefulSet(target, { configHash: configHashValue });
  const { outcome } = await serverSideApply(clients, sts, label('StatefulSet', target, sts.metadata!.name!));
  return { outcome };
}

export async function applyServices(
  clients: KubeClients,
  target: DatabaseTarget,
): Promise<{ outcome: Outcome; endpoints: Endpoints }> {
  const outcomes: Outcome[] = [];
  const { primary } = await ensureRoles(clients, target);
  for (const service of renderServices(target, { primary })) {
    const { outcome } = await serverSideApply(
      clients,
      service,
      label('Service', target, service.metadata!.name!),
    );
    outcomes.push(outcome);
  }
  const outcome = outcomes.includes('created')
    ? 'created'
    : outcomes.includes('updated')
      ? 'updated'
      : 'unchanged';
  return { outcome, endpoints: endpointsFor(target.namespace, target.name) };
}

/**
 * The engine build the Database's StatefulSet runs, read from the cluster (the build an upgrade
 * not yet confirmed done started from, UPGRADING_FROM_ANNOTATION; else the StatefulSet's
 * ENGINE_BUILD_ANNOTATION, or for one made before it existed, the official image's tag), for a
 * workflow run that does not know it. Undefined when there is no StatefulSet of this incarnation
 * yet, or its build cannot be told.
 */
export async function observeRunningBuild(
  clients: KubeClients,
  target: DatabaseRef,
  engine: Engine,
): Promise<{ version: string; image?: string } | undefined> {
  const sts = await readStatefulSet(clients, target);
  if (!sts || !(sts.metadata?.ownerReferences ?? []).some((o) => o.uid === target.uid)) return undefined;
  // An upgrade not confirmed done: members may still run the build it started from, which is
  // what runs as far as a downgrade check or a rollback is concerned; the upgrade runs again.
  const from = parseEngineBuild(sts.metadata?.annotations?.[UPGRADING_FROM_ANNOTATION]);
  if (from) return from;
  const recorded = parseEngineBuild(sts.metadata?.annotations?.[ENGINE_BUILD_ANNOTATION]);
  if (recorded) return recorded;
  const image = sts.spec?.template.spec?.containers.find((c) => c.name === CONTAINER_NAME)?.image;
  const tag = image?.match(/:([0-9][0-9A-Za-z._-]*)$/)?.[1];
  return tag && engineProfile(engine, tag).image === image ? { version: tag } : undefined;
}

export function parseEngineBuild(value: string | undefined): { version: string; image?: string } | undefined {
  if (!value) return undefined;
  try {
    const b = JSON.parse(value) as { version?: unknown; image?: unknown };
    if (typeof b.version !== 'string' || !b.version) return undefined;
    return { version: b.version, ...(typeof b.image === 'string' && b.image && { image: b.image }) };
  } catch {
    return undefined;
  }
}
