import type { V1Affinity, V1PodSpec } from '@kubernetes/client-node';
import type { DatabaseSpec } from '../../crds';
import type { DatabaseTarget } from '../types';
import { selectorLabels } from './labels';

/**
 * Where a Database's pods run, from `spec.scheduling`: typed fields copied into the pod spec
 * (never into a script or a command line), so the API server validates them like any pod's.
 */
export type PodScheduling = Pick<
  V1PodSpec,
  'nodeSelector' | 'tolerations' | 'affinity' | 'topologySpreadConstraints'
>;

/**
 * The members' default: prefer distinct nodes, so that losing a node loses one member. Preferred,
 * not required: a one-node cluster must still run several members.
 */
export function defaultMemberAntiAffinity(
  target: DatabaseTarget,
): NonNullable<V1Affinity['podAntiAffinity']> {
  return {
    preferredDuringSchedulingIgnoredDuringExecution: [
      {
        weight: 100,
        podAffinityTerm: {
          labelSelector: { matchLabels: selectorLabels(target) },
          topologyKey: 'kubernetes.io/hostname',
        },
      },
    ],
  };
}

/**
 * Scheduling of the member pods: nodeSelector, tolerations, affinity and
 * topologySpreadConstraints as given. The default anti-affinity stays unless the user's affinity
 * sets podAntiAffinity itself (a nodeAffinity alone keeps the members spread), and a spread
 * constraint without a labelSelector counts this Database's members.
 */
export function memberScheduling(target: DatabaseTarget): PodScheduling {
  const s = target.spec.scheduling;
  const given = copy(s?.affinity) ?? {};
  return {
    nodeSelector: copy(s?.nodeSelector),
    tolerations: copy(s?.tolerations),
    affinity: { ...given, podAntiAffinity: given.podAntiAffinity ?? defaultMemberAntiAffinity(target) },
    topologySpreadConstraints: s?.topologySpreadConstraints?.map((c) => ({
      ...copy(c),
      labelSelector: copy(c.labelSelector) ?? { matchLabels: selectorLabels(target) },
    })),
  };
}

/**
 * Scheduling of the backup, restore and delete Jobs: nodeSelector, tolerations and nodeAffinity
 * (a dedicated, tainted node pool applies to them too). Pod (anti-)affinity and spread
 * constraints are written about the members: a required anti-affinity against the members would
 * keep a Job off every node that runs one, so Jobs do not get those.
 */
export function jobScheduling(spec: Pick<DatabaseSpec, 'scheduling'>): PodScheduling {
  const s = spec.scheduling;
  const nodeAffinity = copy(s?.affinity?.nodeAffinity);
  return {
    nodeSelector: copy(s?.nodeSelector),
    tolerations: copy(s?.tolerations),
    affinity: nodeAffinity && { nodeAffinity },
  };
}

/** A deep copy: the rendered object never shares structure with the spec it came from. */
function copy<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}
