import { z } from 'zod';
import { withCel } from './cel';
import { parseWith } from './errors';
import type { ObjectMeta } from './meta';
import { conditions, count, dateTime, objectName } from './primitives';

/**
 * The `DatabaseBackup` kind: one backup of one Database, created by the backup schedule, by a
 * user (`kubectl create`), or by the upgrade workflow before it changes the version.
 * The CRD (crds/generated/durable.dev_databasebackups.yaml) is generated from these schemas.
 */

export const BACKUP_REASONS = ['scheduled', 'manual', 'pre-upgrade'] as const;
export type BackupReason = (typeof BACKUP_REASONS)[number];

export const BACKUP_PHASES = ['Pending', 'Running', 'Succeeded', 'Failed'] as const;
export type BackupPhase = (typeof BACKUP_PHASES)[number];

export const databaseBackupSpecSchema = withCel(
  z.object({
    databaseName: objectName().describe('The Database to back up, in the same namespace.'),
    reason: z.enum(BACKUP_REASONS).optional(),
    scheduledTime: dateTime().optional().describe('The schedule time this backup was taken for.'),
  }),
  [
    // A backup is a record of something that happened (or is happening): re-pointing it at
    // another Database would make its status lie.
    { rule: 'self == oldSelf', message: 'DatabaseBackup spec is immutable' },
  ],
);
export type DatabaseBackupSpec = z.output<typeof databaseBackupSpecSchema>;
export type DatabaseBackupSpecInput = z.input<typeof databaseBackupSpecSchema>;

export const databaseBackupStatusSchema = z.object({
  observedGeneration: count().optional(),
  phase: z.enum(BACKUP_PHASES).optional(),
  conditions: conditions().optional(),
  startedAt: dateTime().optional(),
  finishedAt: dateTime().optional(),
  sizeBytes: count().optional(),
  location: z.string().max(2048).optional().describe('Where the dump was written (PVC path or S3 key).'),
  attempts: count().optional(),
  error: z.string().max(32768).optional(),
  jobName: z.string().max(253).optional(),
});
export type DatabaseBackupStatus = z.output<typeof databaseBackupStatusSchema>;

/** A DatabaseBackup object as read from the API server. */
export interface DatabaseBackup {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: DatabaseBackupSpec;
  status?: DatabaseBackupStatus;
}

export function parseDatabaseBackupSpec(
  obj: unknown,
): { ok: true; spec: DatabaseBackupSpec } | { ok: false; message: string } {
  const result = parseWith(databaseBackupSpecSchema, obj, 'spec');
  return result.ok ? { ok: true, spec: result.value } : result;
}
