import {
  applyConfigMap,
  applyServices,
  applyStatefulSet,
  ensureSecret,
  type Outcome,
} from './database-objects';
import { addFinalizer } from './finalizer';
import type { KubeClients } from './kube-clients';
import type { Endpoints } from './manifests';
import { checkPrerequisites } from './prerequisites';
import { ensureRoles } from './roles';
import type { DatabaseTarget } from './types';

export type EnsuredKind = 'ConfigMap' | 'Secret' | 'StatefulSet' | 'Services';

export interface EnsuredObjects {
  /** Hash of the ConfigMap's content: the pod template carries it, so a new config rolls the pods. */
  configHash: string;
  secretName: string;
  endpoints: Endpoints;
  /** What each object's apply did, in the order applied. */
  outcomes: { kind: EnsuredKind; name: string; outcome: Outcome }[];
}

/**
 * Everything a generation needs before its pods, in one activity (issue 13: fewer round trips to
 * Ready): the finalizer (so that a deletion reaches the workflow), the prerequisites, the
 * ConfigMap, the credentials Secret, the role record (activities/roles.ts), the StatefulSet (unless an upgrade rolls it: `statefulSet`
 * false) and the primary, read-only and headless Services. Each part is the idempotent step it
 * was as an activity of its own, so a retry of the whole redoes nothing.
 */
export async function ensureObjects(
  clients: KubeClients,
  target: DatabaseTarget,
  opts: { statefulSet: boolean },
): Promise<EnsuredObjects> {
  const { name } = target;
  await addFinalizer(clients, target);
  await checkPrerequisites(clients, target);
  const outcomes: EnsuredObjects['outcomes'] = [];
  const config = await applyConfigMap(clients, target);
  outcomes.push({ kind: 'ConfigMap', name: `${name}-config`, outcome: config.outcome });
  const secret = await ensureSecret(clients, target);
  outcomes.push({ kind: 'Secret', name: secret.secretName, outcome: secret.outcome });
  // Before the pods, which read it when they start.
  await ensureRoles(clients, target);
  if (opts.statefulSet) {
    const sts = await applyStatefulSet(clients, target, config.configHash);
    outcomes.push({ kind: 'StatefulSet', name, outcome: sts.outcome });
  }
  const services = await applyServices(clients, target);
  outcomes.push({
    kind: 'Services',
    name: `${name}-primary, ${name}-ro, ${name}-headless`,
    outcome: services.outcome,
  });
  return {
    configHash: config.configHash,
    secretName: secret.secretName,
    endpoints: services.endpoints,
    outcomes,
  };
}
