import type { V1ContainerStatus } from '@kubernetes/client-node';
import { parseDatabaseSpec, type DatabaseSpecInput } from '../../crds';
import type { DatabaseTarget } from '../types';

/** A target whose spec went through the real schema, defaults and all. */
export function target(spec: Partial<DatabaseSpecInput> = {}, name = 'orders'): DatabaseTarget {
  const parsed = parseDatabaseSpec({ engine: 'postgres', version: '16', ...spec });
  if (!parsed.ok) throw new Error(parsed.message);
  return {
    namespace: 'shop',
    name,
    uid: '6f1c2a7e-0000-4000-8000-000000000001',
    generation: 3,
    spec: parsed.spec,
  };
}

/**
 * A target whose spec passed the schema except for `parameters`, which are set as given: what the
 * renderer sees when a spec got past the API server's rules (an older CRD, one edited by hand).
 */
export function unvalidatedTarget(
  parameters: Record<string, string>,
  spec: Partial<DatabaseSpecInput> = {},
): DatabaseTarget {
  const t = target(spec);
  return { ...t, spec: { ...t.spec, parameters } };
}

/** Every path in `value` whose value is undefined. */
export function undefinedPaths(value: unknown, path = '$'): string[] {
  if (value === undefined) return [path];
  if (Array.isArray(value)) return value.flatMap((item, i) => undefinedPaths(item, `${path}[${i}]`));
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).flatMap(([key, item]) => undefinedPaths(item, `${path}.${key}`));
  }
  return [];
}

/** The kubelet's status of the `database` container while it runs without being Ready. */
export function runningContainer(started: boolean): V1ContainerStatus {
  return {
    name: 'database',
    ready: false,
    started,
    restartCount: 0,
    image: 'x',
    imageID: '',
    state: { running: {} },
  };
}
