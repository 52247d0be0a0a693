import type { DatabaseTarget } from '../../activities';
import type { DatabaseSpec } from '../../crds';
import type { EngineBuild } from '../signals';

/** The spec asks for exactly this build (version and image). */
export function sameBuild(spec: Pick<DatabaseSpec, 'version' | 'image'>, build: EngineBuild): boolean {
  return spec.version === build.version && (spec.image ?? '') === (build.image ?? '');
}

/** The target with another version and image (what runs, while a failed upgrade is held back). */
export function withBuild(target: DatabaseTarget, build: EngineBuild): DatabaseTarget {
  return { ...target, spec: { ...target.spec, version: build.version, image: build.image } };
}

export function buildText(engine: string, build: EngineBuild): string {
  return `${engine} ${build.version}${build.image ? ` (${build.image})` : ''}`;
}

/**
 * The target without spec.parameters, for every activity but the ConfigMap's: the parameters
 * (up to the CRD's bound) reach the pods only through the ConfigMap and its hash, and sending
 * them with each activity would multiply the largest part of the spec in the history.
 */
export function lean(target: DatabaseTarget): DatabaseTarget {
  if (target.spec.parameters === undefined) return target;
  const { parameters: _parameters, ...spec } = target.spec;
  return { ...target, spec };
}
