import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import {
  API_VERSION,
  DATABASE,
  LABEL_COMPONENT,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  LABEL_NAME,
  OPERATOR_NAME,
} from '../../crds';
import type { DatabaseTarget } from '../types';

export { LABEL_COMPONENT, LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_NAME };
export const MANAGED_BY = OPERATOR_NAME;

/** Set by the StatefulSet controller on each pod; the primary Service selects member 0 with it. */
export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
/** Set by the StatefulSet controller on each pod (Kubernetes ≥ 1.28); the pod reads its ordinal from it. */
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';

export const COMPONENTS = ['database', 'config', 'credentials', 'service'] as const;
export type Component = (typeof COMPONENTS)[number];

type Target = Pick<DatabaseTarget, 'name' | 'spec'>;

export function labelsFor(target: Target, component: Component): Record<string, string> {
  return {
    [LABEL_NAME]: target.spec.engine,
    [LABEL_INSTANCE]: target.name,
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_COMPONENT]: component,
  };
}

/**
 * The labels selectors match on. A StatefulSet's selector is immutable, so this holds only what
 * never changes for a Database (its engine is immutable too): never the version or the image.
 */
export function selectorLabels(target: Target): Record<string, string> {
  return {
    [LABEL_NAME]: target.spec.engine,
    [LABEL_INSTANCE]: target.name,
    [LABEL_COMPONENT]: 'database',
  };
}

/**
 * Makes the Database the controller of an object: garbage collection removes the object with the
 * Database, and the watcher maps an owned object's events back to its Database. The uid pins the
 * incarnation, so objects of a deleted and re-created Database are never adopted by mistake.
 */
export function ownerReference(target: Pick<DatabaseTarget, 'name' | 'uid'>): V1OwnerReference {
  return {
    apiVersion: API_VERSION,
    kind: DATABASE.kind,
    name: target.name,
    uid: target.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** The metadata every owned object carries. */
export function objectMeta(target: DatabaseTarget, name: string, component: Component): V1ObjectMeta {
  return {
    name,
    namespace: target.namespace,
    labels: labelsFor(target, component),
    ownerReferences: [ownerReference(target)],
  };
}
