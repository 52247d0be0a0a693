/** Entry point of the workflow bundle: every workflow the worker registers. */
export { databaseWorkflow } from './database';
export { upgradeWorkflow } from './upgrade';
export { failoverWorkflow } from './failover';
export { switchoverWorkflow } from './switchover';
export { backupWorkflow, scheduledBackupWorkflow } from './backup';
