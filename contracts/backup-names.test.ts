import {
  backupJobName,
  backupScheduleId,
  backupWorkflowId,
  defaultBackupClaimName,
  fitName,
  scheduledBackupName,
} from './backup-names';

describe('backup names', () => {
  it('names a scheduled backup after its scheduled minute (UTC)', () => {
    expect(scheduledBackupName('orders', new Date('2026-11-22T03:00:41.123Z'))).toBe('orders-202611220300');
    // The same minute, the same name: a second run for it is refused by its workflow ID.
    expect(scheduledBackupName('orders', new Date('2026-11-22T03:00:59Z'))).toBe('orders-202611220300');
  });

  it('gives the contract IDs', () => {
    expect(backupWorkflowId('shop', 'orders-1')).toBe('backup/shop/orders-1');
    expect(backupScheduleId('shop', 'orders')).toBe('backup-schedule/shop/orders');
    expect(backupJobName('orders-202611220300', 3)).toBe('orders-202611220300-3');
    expect(defaultBackupClaimName('orders')).toBe('orders-backups');
  });

  it('keeps long names within 63 characters, distinct, with the attempt still at the end', () => {
    const long = `${'a'.repeat(60)}-202611220300`;
    const one = backupJobName(long, 1);
    const two = backupJobName(long, 2);
    expect(one.length).toBeLessThanOrEqual(63);
    expect(one).toMatch(/-1$/);
    expect(two).toMatch(/-2$/);
    expect(one.slice(0, -2)).toBe(two.slice(0, -2));
    expect(fitName(`${'b'.repeat(70)}x`)).not.toBe(fitName(`${'b'.repeat(70)}y`));
    expect(fitName('short')).toBe('short');
  });
});
