import type { DatabaseSpec } from '../crds';

/** Identifies one incarnation of a Database: a deleted and re-created one has a new uid. */
export interface DatabaseRef {
  namespace: string;
  name: string;
  uid: string;
}

/** What an activity needs to render and apply the objects of one generation of a Database. */
export interface DatabaseTarget extends DatabaseRef {
  generation: number;
  /** Without `parameters` (see parametersDigest), except in runs started before that. */
  spec: DatabaseSpec;
  /**
   * Digest of this generation's `spec.parameters`: the ConfigMap's activity reads them from the
   * Database and renders them only if they still have this digest.
   */
  parametersDigest?: string;
}
