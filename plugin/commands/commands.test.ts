import type { Database } from '../../crds';
import { runPlugin } from '../main';
import { UserError, type Io } from '../output';
import { backupManifest, manualBackupName } from './backup';
import { backupRow, renderBackups } from './backups';
import { clientPlan } from './client';
import { historyQuery } from './history';
import { settledFor } from './switchover';

function db(engine: Database['spec']['engine'], replicas = 2): Database {
  return {
    apiVersion: 'durable.dev/v1alpha1',
    kind: 'Database',
    metadata: { name: 'orders', namespace: 'shop' },
    spec: { engine, version: engine === 'postgres' ? '15' : '11.8', replicas } as Database['spec'],
    status: {
      members: [
        { name: 'orders-0', role: 'primary' },
        ...(replicas > 1 ? [{ name: 'orders-1', role: 'replica' as const }] : []),
      ],
    },
  };
}

describe('psql / mysql', () => {
  it('execs psql in the primary with the password expanded inside the container, never on a command line', () => {
    const plan = clientPlan('psql', db('postgres'), new Set(['orders-0', 'orders-1']), {
      replica: false,
      tty: true,
      passthrough: ['-c', 'select 42'],
    });
    expect(plan.pod).toBe('orders-0');
    expect(plan.args).toEqual([
      'exec',
      '-i',
      '-t',
      'orders-0',
      '-c',
      'database',
      '--',
      'sh',
      '-c',
      'PGPASSWORD="$POSTGRES_PASSWORD" exec psql -h 127.0.0.1 -p 5432 -U postgres "$@"',
      'psql',
      '-c',
      'select 42',
    ]);
  });

  it('picks a Ready replica with --replica, and the mariadb client for MariaDB', () => {
    const plan = clientPlan('mysql', db('mariadb'), new Set(['orders-0', 'orders-1']), {
      replica: true,
      tty: false,
      passthrough: [],
    });
    expect(plan.pod).toBe('orders-1');
    expect(plan.args).not.toContain('-t');
    expect(plan.args).toContain(
      'MYSQL_PWD="$MARIADB_ROOT_PASSWORD" exec mariadb -h 127.0.0.1 -P 3306 -u root "$@"',
    );
  });

  it('refuses the wrong client, a missing replica and a primary not Ready, naming the fix', () => {
    const go =
      (c: 'psql' | 'mysql', d: Database, ready: string[], replica = false) =>
      () =>
        clientPlan(c, d, new Set(ready), { replica, tty: false, passthrough: [] });
    expect(go('mysql', db('postgres'), ['orders-0'])).toThrow(new UserError('orders is a postgres Database'));
    expect(go('psql', db('postgres', 1), ['orders-0'], true)).toThrow('orders has no replica');
    expect(go('psql', db('postgres'), ['orders-0'], true)).toThrow(
      'no replica of orders is Ready (orders-1)',
    );
    expect(go('psql', db('postgres'), [])).toThrow('the primary orders-0 is not Ready');
  });
});

describe('history', () => {
  it('finds the runs by search attributes, the schedule and the exact backup workflow ids', () => {
    expect(historyQuery('shop', 'orders', ['orders-m1', 'orders-202612030300'])).toBe(
      "(DatabaseNamespace = 'shop' AND DatabaseName = 'orders') OR " +
        "RootWorkflowId = 'database/shop/orders' OR " +
        "TemporalScheduledById = 'backup-schedule/shop/orders' OR " +
        "WorkflowId IN ('backup/shop/orders-m1', 'backup/shop/orders-202612030300')",
    );
    expect(historyQuery('shop', 'orders', [])).not.toContain('WorkflowId IN');
  });
});

describe('backup and backups', () => {
  it('names an on-demand backup after its second, and labels it with its Database', () => {
    expect(manualBackupName('orders', new Date('2026-12-03T09:12:44.123Z'))).toBe(
      'orders-manual-20261203091244',
    );
    expect(manualBackupName('a'.repeat(60), new Date()).length).toBeLessThanOrEqual(63);
    expect(backupManifest('shop', 'orders-x', 'orders')).toEqual({
      apiVersion: 'durable.dev/v1alpha1',
      kind: 'DatabaseBackup',
      metadata: { name: 'orders-x', namespace: 'shop', labels: { 'durable.dev/database': 'orders' } },
      spec: { databaseName: 'orders', reason: 'manual' },
    });
  });

  it('tabulates phase, duration, size and destination; a failed one shows its error', () => {
    const rows = [
      backupRow({
        apiVersion: 'v',
        kind: 'DatabaseBackup',
        metadata: { name: 'orders-m1' },
        spec: { databaseName: 'orders', reason: 'manual' },
        status: {
          phase: 'Succeeded',
          startedAt: '2026-12-03T09:00:00Z',
          finishedAt: '2026-12-03T09:00:07Z',
          sizeBytes: 48_213,
          attempts: 1,
          location: 'pvc://orders-backups/orders/orders-m1.sql.gz',
        },
      }),
      backupRow({
        apiVersion: 'v',
        kind: 'DatabaseBackup',
        metadata: { name: 'orders-m2' },
        spec: { databaseName: 'orders' },
        status: { phase: 'Failed', attempts: 3, error: 'attempt 3: password authentication failed\nmore' },
      }),
    ];
    expect(rows[0]!.durationSeconds).toBe(7);
    const text = renderBackups(rows, { tty: false, columns: 200 }, new Date('2026-12-03T09:10:00Z'));
    expect(text.split('\n')[0]).toMatch(
      /^NAME +PHASE +REASON +STARTED +DURATION +SIZE +ATTEMPTS +DESTINATION$/,
    );
    expect(text).toMatch(
      /orders-m1 +Succeeded +manual +10m ago +7s +48 kB +1 +pvc:\/\/orders-backups\/orders\/orders-m1\.sql\.gz\n/,
    );
    expect(text).toMatch(/orders-m2 +Failed +- +- +- +- +3 +attempt 3: password authentication failed\n/);
  });
});

describe('runPlugin', () => {
  function io() {
    const out: string[] = [];
    const err: string[] = [];
    const sink: Io = { out: (t) => out.push(t), err: (t) => err.push(t), tty: false, columns: 100 };
    return { sink, out, err };
  }

  it('has --help on every command and exits 2 on a usage error', async () => {
    for (const command of ['status', 'backups', 'backup', 'psql', 'mysql', 'history', 'switchover']) {
      const { sink, out } = io();
      expect(await runPlugin([command, '--help'], sink)).toBe(0);
      expect(out.join('')).toContain(`Usage: kubectl durable ${command} <db>`);
    }
    for (const command of ['retry-backup', 'restore']) {
      const { sink, out } = io();
      expect(await runPlugin([command, '--help'], sink)).toBe(0);
      expect(out.join('')).toContain(`Usage: kubectl durable ${command} <backup>`);
    }
    const help = io();
    expect(await runPlugin(['cancel-upgrade', '-h'], help.sink)).toBe(0);
    expect(help.out.join('')).toContain('Usage: kubectl durable cancel-upgrade <db>');
    const { sink, err } = io();
    expect(await runPlugin(['status'], sink)).toBe(2);
    expect(err.join('')).toContain('the Database name is missing');
    expect(await runPlugin(['retry-backup'], sink)).toBe(2);
    expect(err.join('')).toContain('the DatabaseBackup name is missing');
    expect(await runPlugin(['frobnicate'], sink)).toBe(2);
    expect(await runPlugin(['status', 'a', '--bogus'], sink)).toBe(2);
  });

  it('names the fix when the kubeconfig cannot be read or a name is invalid', async () => {
    const { sink, err } = io();
    expect(await runPlugin(['backups', 'orders', '--kubeconfig', '/nonexistent/kubeconfig'], sink)).toBe(1);
    expect(err.join('')).toContain('fix: pass --kubeconfig FILE or set KUBECONFIG');
  });
});

describe('switchover', () => {
  const asked = Date.parse('2026-12-03T10:00:00Z');
  const withSwitchover = (s: NonNullable<Database['status']>['switchover']) => ({
    ...db('postgres', 3),
    status: { switchover: s },
  });
  it('follows only the outcome of this request: the member asked for, reached after it was asked', () => {
    const done = { to: 'orders-1', state: 'SwitchedOver' as const, time: '2026-12-03T10:00:04Z' };
    expect(settledFor(withSwitchover(done), 'orders-1', asked)).toEqual(done);
    // An older switchover to the same member, or one to another member, is not this one.
    expect(
      settledFor(withSwitchover({ ...done, time: '2026-12-03T09:50:00Z' }), 'orders-1', asked),
    ).toBeUndefined();
    expect(settledFor(withSwitchover({ ...done, to: 'orders-2' }), 'orders-1', asked)).toBeUndefined();
    expect(settledFor(db('postgres', 3), 'orders-1', asked)).toBeUndefined();
  });

  it('refuses a member the Database does not have before annotating anything', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const sink: Io = { out: (t) => out.push(t), err: (t) => err.push(t), tty: false, columns: 100 };
    expect(await runPlugin(['switchover', 'orders'], sink)).toBe(2);
    expect(err.join('')).toContain('an argument is missing');
  });
});
