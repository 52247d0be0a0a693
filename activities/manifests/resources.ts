import type { V1ResourceRequirements } from '@kubernetes/client-node';
import type { DatabaseSpec, SizeTier } from '../../crds';
import { prune } from './prune';

interface TierResources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

export const SIZE_TIER_RESOURCES: Readonly<Record<SizeTier, TierResources>> = {
  small: { requests: { cpu: '250m', memory: '512Mi' }, limits: { cpu: '1', memory: '1Gi' } },
  medium: { requests: { cpu: '1', memory: '2Gi' }, limits: { cpu: '2', memory: '4Gi' } },
  large: { requests: { cpu: '2', memory: '8Gi' }, limits: { cpu: '4', memory: '16Gi' } },
};

/**
 * With neither resources nor size: requests only, so the scheduler reserves something without
 * capping a database nobody sized.
 */
export const DEFAULT_RESOURCES: Readonly<V1ResourceRequirements> = {
  requests: { cpu: '100m', memory: '256Mi' },
};

/** Container resources: `spec.resources` as given, else the `spec.size` tier, else the default. */
export function resourcesFor(spec: Pick<DatabaseSpec, 'resources' | 'size'>): V1ResourceRequirements {
  if (spec.resources !== undefined) {
    // Taken as written, even `{}`: a user who sets resources chose them, so no default fills gaps.
    const { requests, limits } = spec.resources;
    return prune({ requests: quantities(requests), limits: quantities(limits) });
  }
  const tier = spec.size === undefined ? DEFAULT_RESOURCES : SIZE_TIER_RESOURCES[spec.size];
  return copy(tier);
}

function quantities(
  value: { cpu?: string | undefined; memory?: string | undefined } | undefined,
): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  const out: Record<string, string> = {};
  if (value.cpu !== undefined) out.cpu = value.cpu;
  if (value.memory !== undefined) out.memory = value.memory;
  return Object.keys(out).length === 0 ? undefined : out;
}

// Callers get their own objects: the tables are shared and must not be mutated through a manifest.
function copy(resources: Readonly<V1ResourceRequirements>): V1ResourceRequirements {
  return prune({
    requests: resources.requests && { ...resources.requests },
    limits: resources.limits && { ...resources.limits },
  });
}
