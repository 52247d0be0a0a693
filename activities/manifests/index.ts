/**
 * Pure renderers of the Kubernetes objects a Database owns: no I/O, no clock, no randomness, so an
 * activity that renders twice applies the same bodies (server-side apply then changes nothing).
 */
export * from './config';
export * from './engines';
export * from './labels';
export * from '../../contracts/names';
export * from './prune';
export * from './resources';
export * from './scheduling';
export * from './secret';
export * from './services';
export * from './statefulset';
export * from './backup-jobs';
export * from './backup-scripts';
