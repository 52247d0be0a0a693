import { WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Database, DatabaseBackup } from '../../crds';
import { CANCEL_UPGRADE_REJECTED } from '../../workflows/cancel-upgrade-update';
import { timeoutOption } from '../follow';
import { UserError } from '../output';
import { cancelAnswer, upgradeEnded } from './cancel-upgrade';
import { checkNewName, pitrRefusal, restoreEnded, restorePlan, restoreRefusal } from './restore';
import { retryRefusal, retryToken } from './retry-backup';

/** The pure parts of retry-backup, cancel-upgrade and restore. */

function backup(phase: string | undefined, extra: Partial<DatabaseBackup['status']> = {}): DatabaseBackup {
  return {
    apiVersion: 'durable.dev/v1alpha1',
    kind: 'DatabaseBackup',
    metadata: { name: 'orders-m1', labels: { 'app.kubernetes.io/name': 'postgres' } },
    spec: { databaseName: 'orders' },
    status: {
      ...(phase && { phase: phase as 'Failed' }),
      ...(phase === 'Succeeded' && {
        location: 'pvc://orders-backups/orders/orders-m1.sql.gz',
        finishedAt: '2026-12-03T09:00:00Z',
      }),
      ...extra,
    },
  };
}

function source(spec: Partial<Database['spec']> = {}, status: Database['status'] = {}): Database {
  return {
    apiVersion: 'durable.dev/v1alpha1',
    kind: 'Database',
    metadata: { name: 'orders', namespace: 'shop' },
    spec: {
      engine: 'postgres',
      version: '15',
      replicas: 2,
      storage: { size: '5Gi' },
      resources: { requests: { cpu: '10m', memory: '64Mi' } },
      backup: { enabled: true },
      ...spec,
    } as Database['spec'],
    status,
  };
}

describe('retry-backup', () => {
  it('retries a Failed backup only; the others are refused with the fix', () => {
    expect(retryRefusal(backup('Failed', { attempts: 3 }), 'shop')).toBeUndefined();
    const ok = retryRefusal(backup('Succeeded'), 'shop')!;
    expect(ok.message).toBe('backup orders-m1 Succeeded: only a Failed backup is retried');
    expect(ok.fix).toBe('for a newer one, take a new backup: kubectl durable backup orders -n shop');
    const running = retryRefusal(backup('Running', { attempts: 2 }), 'shop')!;
    expect(running.message).toMatch(
      /^backup orders-m1 is Running \(attempt 2\), not Failed: a backup still running is not retried/,
    );
    expect(running.fix).toBe('follow it: kubectl durable backups orders -n shop');
    expect(retryRefusal(backup(undefined), 'shop')!.message).toMatch(/is Pending, not Failed/);
  });

  it('picks an annotation value no run has had: the time in seconds, made unique', () => {
    const now = new Date('2026-12-03T09:00:00.250Z');
    expect(retryToken(now, undefined)).toBe('1796288400');
    expect(retryToken(now, '1796288400')).toBe('1796288400-250');
  });

  it('takes --timeout as whole seconds', () => {
    expect(timeoutOption(undefined, 900)).toBe(900);
    expect(timeoutOption('30', 900)).toBe(30);
    expect(() => timeoutOption('1.5', 900)).toThrow("--timeout must be a whole number of seconds, not '1.5'");
  });
});

describe('cancel-upgrade', () => {
  const accepted = {
    generation: 3,
    fromVersion: '15',
    toVersion: '15.20',
    upgradeWorkflowId: 'upgrade/shop/orders/g3',
    message: 'cancelling',
  };
  const rejected = (message: string, type?: string) =>
    new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ message, type }));

  it('tells accepted, rejected (the reason) and an Update this operator or server cannot take', () => {
    expect(cancelAnswer({ value: accepted })).toEqual({ kind: 'accepted', accepted });
    expect(cancelAnswer({ error: rejected('no upgrade is running', CANCEL_UPGRADE_REJECTED) })).toEqual({
      kind: 'rejected',
      reason: 'no upgrade is running',
    });
    expect(cancelAnswer({ error: rejected('No registered handler for update: cancelUpgrade') }).kind).toBe(
      'unsupported',
    );
    const disabled = Object.assign(
      new Error('7 PERMISSION_DENIED: Workflow Update is disabled on this namespace.'),
      {
        code: 7,
        details: '',
        metadata: {},
      },
    );
    expect(cancelAnswer({ error: disabled })).toMatchObject({ kind: 'unsupported' });
    expect(() => cancelAnswer({ error: new Error('connection reset') })).toThrow('connection reset');
  });

  it('follows status until the upgrade of that generation ended', () => {
    const at = (state: string, reason: string, observedGeneration: number) =>
      source(
        {},
        {
          upgrade: { fromVersion: '15', toVersion: '15.20', state },
          conditions: [
            {
              type: 'Upgraded',
              status: 'False',
              reason,
              message: '',
              lastTransitionTime: '',
              observedGeneration,
            },
          ],
        },
      );
    expect(upgradeEnded(at('Upgrading', 'Upgrading', 3), 3)).toBe(false);
    expect(upgradeEnded(at('RollingBack', 'UpgradeCancelled', 3), 3)).toBe(false);
    // An earlier upgrade's outcome, before this one reached the status.
    expect(upgradeEnded(at('RolledBack', 'RolledBack', 2), 3)).toBe(false);
    expect(upgradeEnded(at('RolledBack', 'UpgradeCancelled', 3), 3)).toBe(true);
  });
});

describe('restore', () => {
  it('checks the new name as the API server would', () => {
    expect(checkNewName('orders-copy')).toBe('orders-copy');
    expect(() => checkNewName(undefined)).toThrow('--to NEW-DB is missing');
    expect(() => checkNewName('a.b')).toThrow(/no dots/);
    expect(() => checkNewName('a'.repeat(53))).toThrow(/at most 52 characters/);
  });

  it('refuses --time (no point-in-time field in the API), naming the newest backup by then', () => {
    const older = { ...backup('Succeeded'), metadata: { name: 'orders-old' } };
    const newer = {
      ...backup('Succeeded'),
      metadata: { name: 'orders-new' },
      status: { ...backup('Succeeded').status, finishedAt: '2026-12-03T12:00:00Z' },
    };
    const e = pitrRefusal('2026-12-03T10:00:00Z', [newer, older], 'shop');
    expect(e.message).toMatch(/^point-in-time restore \(--time\) is not available yet/);
    expect(e.fix).toBe(
      'restore the newest backup finished by 2026-12-03T10:00:00Z instead: kubectl durable restore orders-old --to NEW-DB -n shop',
    );
    expect(pitrRefusal('yesterday', [older], 'shop').fix).toMatch(/^pick a backup finished before that time/);
  });

  it('restores only a Succeeded backup', () => {
    expect(restoreRefusal(backup('Succeeded'), 'shop')).toBeUndefined();
    expect(restoreRefusal(backup('Failed'), 'shop')).toEqual(
      new UserError('backup orders-m1 is Failed, not Succeeded: only a completed backup can be restored'),
    );
    expect(restoreRefusal(backup('Failed'), 'shop')!.fix).toBe(
      'retry it first: kubectl durable retry-backup orders-m1 -n shop',
    );
    expect(restoreRefusal(backup('Running'), 'shop')!.fix).toMatch(/^wait for it to finish/);
  });

  it('copies engine, the version that runs, members, storage and resources from the source Database', () => {
    const plan = restorePlan({
      namespace: 'shop',
      name: 'copy',
      backup: backup('Succeeded'),
      source: source(),
    });
    // Everything but the source's backup schedule (a copy takes no backups until asked to).
    const { backup: _schedule, ...copied } = source().spec;
    expect(plan.manifest).toEqual({
      apiVersion: 'durable.dev/v1alpha1',
      kind: 'Database',
      metadata: { name: 'copy', namespace: 'shop' },
      spec: { ...copied, bootstrap: { fromBackup: { name: 'orders-m1' } } },
    });
    expect(plan.from).toBe('from the Database orders: postgres 15, 2 member(s), storage 5Gi, its resources');
    // A rolled-back upgrade: spec.version is the target that did not happen; the image too.
    const rolledBack = restorePlan({
      namespace: 'shop',
      name: 'copy',
      backup: backup('Succeeded'),
      source: source({ version: '15.20', image: 'registry.example/pg:15.20-rc' }, { currentVersion: '15' }),
    });
    expect(rolledBack.manifest.spec).toMatchObject({ version: '15' });
    expect(rolledBack.manifest.spec).not.toHaveProperty('image');
  });

  it('an S3 backup gets the source S3 target (not its schedule)', () => {
    const s3 = { bucket: 'db-backups', endpoint: 'http://10.0.0.1:7070', credentialsSecret: 's3-keys' };
    const b = backup('Succeeded', { location: 's3://db-backups/orders/orders-m1.sql.gz' });
    const plan = restorePlan({
      namespace: 'shop',
      name: 'copy',
      backup: b,
      source: source({ backup: { enabled: true, target: { s3 } } as Database['spec']['backup'] }),
    });
    expect(plan.manifest.spec).toMatchObject({ backup: { enabled: false, target: { s3 } } });
  });

  it('with the source gone: the engine the backup records, --version required', () => {
    const go = (version?: string) =>
      restorePlan({ namespace: 'shop', name: 'copy', backup: backup('Succeeded'), version });
    expect(() => go()).toThrow(
      'its Database orders is gone, and backup orders-m1 records its engine (postgres) but not its version',
    );
    expect(go('16').manifest.spec).toEqual({
      engine: 'postgres',
      version: '16',
      bootstrap: { fromBackup: { name: 'orders-m1' } },
    });
    expect(go('16').from).toBe(
      'from backup orders-m1 (its Database orders is gone): engine postgres (its label), version 16 (--version), 1 member, default storage',
    );
    expect(() => go('16.x')).toThrow(/the restored Database's spec is not valid: spec\.version/);
    // A Database of that name with another engine is not this backup's.
    expect(() =>
      restorePlan({
        namespace: 'shop',
        name: 'copy',
        backup: backup('Succeeded'),
        source: source({ engine: 'mariadb' }),
      }),
    ).toThrow(/the Database orders now runs mariadb, not this backup's engine/);
  });

  it('knows when the restore has ended: Ready and Restored, or a refusal or failure', () => {
    const cond = (type: string, status: 'True' | 'False', reason: string, message = '') => ({
      type,
      status,
      reason,
      message,
      lastTransitionTime: '',
    });
    const d = (phase: string, conditions: ReturnType<typeof cond>[]) =>
      source({}, { phase: phase as 'Ready', conditions });
    expect(restoreEnded(undefined)).toBeUndefined();
    expect(restoreEnded(d('Provisioning', [cond('Restored', 'False', 'Restoring')]))).toBeUndefined();
    expect(restoreEnded(d('Ready', [cond('Restored', 'True', 'Restored', 'restored backup b')]))).toEqual({
      ok: true,
      message: 'restored backup b',
    });
    expect(restoreEnded(d('Failed', [cond('Restored', 'False', 'RestoreFailed', 'Job failed')]))).toEqual({
      ok: false,
      message: 'RestoreFailed: Job failed',
    });
  });
});
