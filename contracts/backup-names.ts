/**
 * Names of everything a backup run touches, derived from its inputs alone, so that a retried
 * activity, a restarted worker or a second trigger always addresses the same objects. Pure (no
 * node: imports): the workflows, the activities and the watcher share it.
 */

/** Workflow ID of one backup run (the plan's contract): `backup/<namespace>/<backupName>`. */
export function backupWorkflowId(namespace: string, backupName: string): string {
  return `backup/${namespace}/${backupName}`;
}

/** Temporal Schedule of a Database's backups: `backup-schedule/<namespace>/<db>`. */
export function backupScheduleId(namespace: string, databaseName: string): string {
  return `backup-schedule/${namespace}/${databaseName}`;
}

/** Registered name of the backup workflow (workflows/backup.ts). */
export const BACKUP_WORKFLOW_TYPE = 'backupWorkflow';
/** Registered name of the workflow the Schedule starts (workflows/backup.ts). */
export const SCHEDULED_BACKUP_WORKFLOW_TYPE = 'scheduledBackupWorkflow';

/** Kubernetes object names are at most 63 characters where they become label values (job-name). */
const MAX_NAME = 63;

/**
 * The backup of a scheduled time: `<db>-<yyyymmddhhmm>` (UTC). Two runs for the same scheduled
 * minute get the same name, hence the same workflow ID, and the second is refused.
 */
export function scheduledBackupName(databaseName: string, scheduledTime: Date): string {
  const iso = scheduledTime.toISOString(); // 2026-11-22T05:10:00.000Z
  const stamp = iso.slice(0, 16).replace(/[-T:]/g, '');
  return fitName(`${databaseName}-${stamp}`);
}

/** Backup taken by the upgrade workflow before it changes generation `generation`. */
export function preUpgradeBackupName(databaseName: string, generation: number): string {
  return fitName(`${databaseName}-pre-upgrade-g${generation}`);
}

/** Job of attempt `attempt` (1-based) of a backup: `<backupName>-<attempt>`. */
export function backupJobName(backupName: string, attempt: number): string {
  return fitName(`${backupName}-${attempt}`, `-${attempt}`);
}

/** Job that deletes the data of a backup (retention). */
export function deleteDataJobName(backupName: string): string {
  return fitName(`${backupName}-delete`, '-delete');
}

/** Job that restores a backup into a new Database, run once: `<db>-restore`. */
export function restoreJobName(databaseName: string): string {
  return fitName(`${databaseName}-restore`, '-restore');
}

/** PVC the backups of a Database go to when spec.backup.target names none. */
export function defaultBackupClaimName(databaseName: string): string {
  return fitName(`${databaseName}-backups`, '-backups');
}

/**
 * `name` when it fits in 63 characters; else its head, a hash of the whole name and `suffix`, so
 * that long names stay distinct and the meaningful suffix (attempt number) stays readable.
 */
export function fitName(name: string, suffix = ''): string {
  if (name.length <= MAX_NAME) return name;
  // The hash is of the stem only, so the Jobs of one backup share their prefix.
  const stem = suffix && name.endsWith(suffix) ? name.slice(0, -suffix.length) : name;
  const hash = fnv1a(stem).toString(16).padStart(8, '0');
  const head = stem.slice(0, MAX_NAME - suffix.length - hash.length - 1).replace(/[-.]+$/, '');
  return `${head}-${hash}${suffix}`;
}

/** FNV-1a, 32 bits: small, stable, and free of node:crypto (workflow code cannot import it). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}
