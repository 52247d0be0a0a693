import { backupStartFor, type BackupObject } from './backup-informer';

const backup = (
  extra: Partial<BackupObject> & { phase?: string; annotations?: Record<string, string> } = {},
): BackupObject => ({
  apiVersion: 'durable.dev/v1alpha1',
  kind: 'DatabaseBackup',
  metadata: { name: 'orders-now', namespace: 'shop', uid: 'u1', annotations: extra.annotations },
  spec: { databaseName: 'orders', ...extra.spec },
  status: extra.phase ? { phase: extra.phase } : undefined,
});

describe('backupStartFor', () => {
  it('starts backup/<ns>/<name> for a new DatabaseBackup (kubectl create), reason manual by default', () => {
    expect(backupStartFor(backup())).toEqual({
      kind: 'run',
      workflowId: 'backup/shop/orders-now',
      input: { namespace: 'shop', databaseName: 'orders', backupName: 'orders-now', reason: 'manual' },
    });
    expect(backupStartFor(backup({ phase: 'Running', spec: { reason: 'scheduled' } }))).toMatchObject({
      kind: 'run',
      input: { reason: 'scheduled' },
    });
  });

  it('starts nothing for a finished backup, unless a Failed one carries a retry token', () => {
    expect(backupStartFor(backup({ phase: 'Succeeded' }))).toBeUndefined();
    expect(backupStartFor(backup({ phase: 'Failed' }))).toBeUndefined();
    expect(
      backupStartFor(backup({ phase: 'Succeeded', annotations: { 'durable.dev/retry': '1' } })),
    ).toBeUndefined();
    expect(
      backupStartFor(backup({ phase: 'Failed', annotations: { 'durable.dev/retry': '17' } })),
    ).toMatchObject({
      kind: 'retry',
      token: '17',
      input: { retryToken: '17' },
    });
  });

  it('ignores objects without a Database name', () => {
    expect(backupStartFor({ ...backup(), spec: {} })).toBeUndefined();
  });
});
