/** Entry point of the workflow bundle: every workflow the worker registers. */
export { databaseWorkflow } from './database';
export { backupWorkflow, scheduledBackupWorkflow } from './backup';
