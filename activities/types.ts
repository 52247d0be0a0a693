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
  spec: DatabaseSpec;
}
