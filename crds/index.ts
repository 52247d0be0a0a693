/**
 * The durable.dev API: names, zod schemas, inferred types and parsers.
 *
 * Safe to import from workflow code (no I/O, no Kubernetes client). The CRD generator
 * (generate.ts) and the example table are deliberately not re-exported here.
 */
export * from './backup';
export * from './database';
export type { Condition, ConditionStatus } from './primitives';
export { CONDITION_STATUSES } from './primitives';
export type { ParseResult } from './errors';
export type { ObjectMeta } from './meta';
export * from './names';
export * from './parameters';
export { describeValue, parameterProblem, valueAllowed } from './parameter-rules';
export * from './database-name';
