/**
 * The watcher: Kubernetes changes in, Temporal signals out. cmd/ builds a `Watcher` (see
 * `watcherOptionsFromConfig`) and serves `status()` on its health endpoints.
 */
export { Watcher, watcherOptionsFromConfig } from './watcher';
export type {
  LeaderElectionConfig,
  SignalKind,
  SignalResult,
  WatcherObserver,
  WatcherOptions,
  WatcherStatus,
} from './watcher';
export {
  defaultIdentity,
  DEFAULT_LEASE_DURATION_SECONDS,
  DEFAULT_LEASE_NAME,
  LeaderElector,
} from './leader-election';
export type { LeaderElectorOptions } from './leader-election';
export { ResilientInformer, DEFAULT_WATCHDOG_MS } from './resilient-informer';
export type { InformerEvent, InformerHandlers, ResilientInformerOptions } from './resilient-informer';
export { SpecSignaler } from './signaler';
export { AnnotationRequestSignaler } from './annotation-requests';
export { cancelUpgradeSignaler, cancelRequested } from './cancel-upgrade';
export { switchoverSignaler } from './switchover-request';
export type { DatabaseObservation, SpecSignalerOptions } from './signaler';
export { createDatabaseInformer, databasePath, observationOf } from './database-informer';
export type { DatabaseObject } from './signaler';
export {
  createDriftInformers,
  driftOnUpdate,
  DriftSignaler,
  FIELD_MANAGER,
  isOwnWrite,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  OWNED_SELECTOR,
  ownedView,
  ownerOf,
} from './drift';
export type { OwnedView, Writer } from './drift';
export type { BackoffOptions } from './timing';
export { BackupStarter, backupPath, backupStartFor, createBackupInformer } from './backup-informer';
export type { BackupObject, BackupStart } from './backup-informer';
