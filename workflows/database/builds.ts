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
