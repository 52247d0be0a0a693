import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { stableJson } from '../common/stable-json';
import { FINALIZER } from '../crds';
import { scheduleInLine, type TemporalDeps } from './backup-schedule';
import { isAdopted, parametersOf } from './database-objects';
import { databaseGone, readDatabase } from './database-ref';
import { kubeCall, kubeRead } from './errors';
import { FIELD_MANAGER, type KubeClients } from './kube-clients';
import { primaryOrdinal } from './roles';
import { configHash, objectNames, renderConfigMap, renderServices, renderStatefulSet } from './manifests';
import { readStatefulSet } from './readiness';
import { checkMemberHealth, type EngineDependencies } from './replication';
import type { DatabaseTarget } from './types';

/**
 * The periodic look at a Database at rest (issue 13: a resync that finds nothing to do writes
 * nothing and costs one activity). It asks, without changing anything, what a reconcile would
 * change: the finalizer, the ConfigMap, StatefulSet and Services as the operator would apply
 * them (a server-side dry-run apply, compared with what is stored), the credentials Secret
 * present and owned, every pod ready at the current revision, every replica streaming, the
 * backup Schedule as the spec wants it. Each difference is a finding, in words; none means the
 * Database is in line and the workflow goes back to sleep. Reads and dry runs only.
 */
export interface AtRestReport {
  findings: string[];
}

export async function inspectAtRest(
  deps: EngineDependencies & { temporal: TemporalDeps },
  target: DatabaseTarget,
): Promise<AtRestReport> {
  const { clients } = deps;
  const findings: string[] = [];
  const db = await readDatabase(clients, target);
  if (!db) throw databaseGone(target);
  if (!(db.metadata.finalizers ?? []).includes(FINALIZER)) findings.push('the finalizer is missing');

  const parameters = await parametersOf(clients, target);
  const configMap = renderConfigMap({ ...target, spec: { ...target.spec, parameters } });
  const objects: KubernetesObject[] = [
    configMap,
    renderStatefulSet(target, { configHash: configHash(configMap) }),
    ...renderServices(target, { primary: await primaryOrdinal(clients, target) }),
  ];
  for (const object of objects) {
    const finding = await wouldChange(clients, object);
    if (finding) findings.push(finding);
  }

  const secretName = objectNames(target.name).secret;
  const secret = await kubeRead(`Secret ${target.namespace}/${secretName}`, () =>
    clients.core.readNamespacedSecret({ name: secretName, namespace: target.namespace }),
  );
  if (!secret) findings.push(`Secret ${secretName} is missing`);
  else if (!isAdopted(secret, target)) {
    findings.push(`Secret ${secretName} is not owned by the Database`);
  }

  // Pods: read from the StatefulSet's status (its spec was compared above).
  const sts = await readStatefulSet(clients, target);
  const status = sts?.status;
  const want = target.spec.replicas;
  if (
    sts &&
    ((status?.readyReplicas ?? 0) !== want ||
      (status?.replicas ?? 0) !== want ||
      status?.currentRevision !== status?.updateRevision)
  ) {
    findings.push(`${status?.readyReplicas ?? 0}/${want} pods ready at the current revision`);
  } else if (sts && want > 1 && secret) {
    // Every member answers with the role its ordinal gives it; every replica receives. (Without
    // the credentials Secret there is no asking: its absence is the finding.)
    for (let ordinal = 0; ordinal < want; ordinal++) {
      try {
        const health = await checkMemberHealth(deps, target, ordinal);
        if (!health.healthy) findings.push(health.message);
      } catch (err) {
        findings.push(
          `member ${ordinal} cannot be asked: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }

  if (!(await scheduleInLine(deps.temporal, target)))
    findings.push('the backup Schedule differs from spec.backup');
  return { findings };
}

/** Metadata the API server keeps for itself, which a dry run may report differently. */
const SERVER_FIELDS = ['managedFields', 'resourceVersion', 'generation', 'creationTimestamp', 'uid'];

/**
 * What a server-side apply of `object` would change, by a dry run compared with what is stored:
 * undefined when nothing, else the finding. The dry run is not stored (and not a write).
 */
async function wouldChange(clients: KubeClients, object: KubernetesObject): Promise<string | undefined> {
  const what = `${object.kind} ${object.metadata!.name!}`;
  const ref = {
    apiVersion: object.apiVersion!,
    kind: object.kind!,
    metadata: { name: object.metadata!.name!, namespace: object.metadata!.namespace! },
  };
  const stored = await kubeRead(what, () => clients.objects.read(ref));
  if (!stored) return `${what} is missing`;
  const applied = await kubeCall(`dry-run apply ${what}`, () =>
    clients.objects.patch(object, undefined, 'All', FIELD_MANAGER, true, PatchStrategy.ServerSideApply),
  );
  return comparable(applied) === comparable(stored)
    ? undefined
    : `${what} differs from what the operator applies`;
}

/** The object as JSON with sorted keys, without the fields the API server keeps for itself. */
function comparable(object: KubernetesObject): string {
  const copy = JSON.parse(JSON.stringify(object)) as KubernetesObject & { status?: unknown };
  for (const field of SERVER_FIELDS) delete (copy.metadata as Record<string, unknown> | undefined)?.[field];
  delete copy.status;
  return stableJson(copy);
}
