import type { DatabaseBackupSpecInput } from './backup';
import type { InvalidExample, ValidExample } from './examples.table';

/**
 * DatabaseBackup specs the API accepts and specs it rejects, with the message the API server
 * gives: the same table form, and the same two validators, as examples.table.ts and
 * invalid-examples.table.ts.
 */

export const validDatabaseBackupExamples: ValidExample<DatabaseBackupSpecInput>[] = [
  { name: 'manual-backup', spec: { databaseName: 'orders-db', reason: 'manual' } },
  {
    name: 'scheduled-backup',
    spec: { databaseName: 'orders-db', reason: 'scheduled', scheduledTime: '2024-01-01T03:00:00Z' },
  },
  { name: 'offset-time', spec: { databaseName: 'orders-db', scheduledTime: '2024-01-01T04:00:00+01:00' } },
];

export const invalidDatabaseBackupExamples: InvalidExample<DatabaseBackupSpecInput>[] = [
  { name: 'no-database', spec: { reason: 'manual' }, field: 'spec.databaseName', expect: 'Required value' },
  {
    name: 'unknown-reason',
    spec: { databaseName: 'orders-db', reason: 'nightly' },
    field: 'spec.reason',
    expect: 'Unsupported value: "nightly": supported values: "scheduled", "manual", "pre-upgrade"',
  },
  {
    name: 'time-in-words',
    spec: { databaseName: 'orders-db', scheduledTime: 'yesterday' },
    field: 'spec.scheduledTime',
    expect: 'must be of type date-time: "yesterday"',
  },
  {
    name: 'retarget-backup',
    from: { databaseName: 'orders-db' },
    spec: { databaseName: 'billing-db' },
    field: 'spec',
    expect: 'DatabaseBackup spec is immutable',
  },
];
