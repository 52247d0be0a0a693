import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import type { Database, DatabaseBackup } from '../crds';
import { buildStatusView } from './status-model';
import { renderStatus } from './status-text';

const now = new Date('2026-12-03T10:00:00Z');

function database(over: Partial<Database['status']> = {}): Database {
  return {
    apiVersion: 'durable.dev/v1alpha1',
    kind: 'Database',
    metadata: { name: 'orders', namespace: 'shop', generation: 2 },
    spec: { engine: 'postgres', version: '15', replicas: 2 } as Database['spec'],
    status: {
      phase: 'Ready',
      observedGeneration: 2,
      readyReplicas: 2,
      currentVersion: '15',
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'AllMembersReady',
          message: '2/2 members ready',
          lastTransitionTime: '2026-12-03T09:00:00Z',
        },
        {
          type: 'BackupScheduled',
          status: 'False',
          reason: 'BackupDisabled',
          message: 'spec.backup.enabled is false',
          lastTransitionTime: '2026-12-03T09:00:00Z',
        },
      ],
      members: [
        { name: 'orders-0', role: 'primary', state: 'Ready' },
        { name: 'orders-1', role: 'replica', state: 'Streaming' },
      ],
      workflow: {
        id: 'database/shop/orders',
        url: 'http://ui/namespaces/default/workflows/database%2Fshop%2Forders/r1/history',
      },
      lastBackup: { name: 'orders-b1', phase: 'Succeeded', finishedAt: '2026-12-03T09:50:00Z' },
      ...over,
    },
  };
}

function pod(name: string, node: string, ready: boolean, restarts = 0): V1Pod {
  return {
    metadata: { name },
    spec: { nodeName: node, containers: [] },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      containerStatuses: [{ name: 'database', restartCount: restarts, ready, image: 'x', imageID: 'x' }],
    },
  };
}

function backup(
  name: string,
  phase: string | undefined,
  extra: Partial<NonNullable<DatabaseBackup['status']>> = {},
): DatabaseBackup {
  return {
    apiVersion: 'durable.dev/v1alpha1',
    kind: 'DatabaseBackup',
    metadata: { name, namespace: 'shop' },
    spec: { databaseName: 'orders', reason: 'manual' },
    status: phase ? ({ phase, ...extra } as DatabaseBackup['status']) : undefined,
  };
}

const event = (reason: string, at: string, type = 'Normal'): CoreV1Event => ({
  metadata: { name: reason },
  involvedObject: { kind: 'Database', name: 'orders' },
  reason,
  message: `${reason}  happened\n here`,
  type,
  lastTimestamp: new Date(at),
  count: 1,
});

describe('buildStatusView', () => {
  const pods = new Map([
    ['orders-0', pod('orders-0', 'node-1', true)],
    ['orders-1', pod('orders-1', 'node-2', true, 1)],
  ]);
  const backups = [
    backup('orders-b2', 'Running', {
      attempts: 1,
      jobName: 'orders-b2-1',
      startedAt: '2026-12-03T09:59:00Z',
    }),
    backup('orders-b1', 'Succeeded', {
      sizeBytes: 48_213,
      location: 'pvc://orders-backups/orders/orders-b1.sql.gz',
      finishedAt: '2026-12-03T09:50:00Z',
    }),
  ];
  const events = ['a', 'b', 'c', 'd', 'e', 'f'].map((r, i) => event(r, `2026-12-03T09:5${i}:00Z`));

  it('takes members, roles and nodes from status and pods, the lag from the engines', () => {
    const v = buildStatusView({
      db: database(),
      pods,
      backups,
      events,
      lag: new Map([['orders-1', { seconds: 0.25, bytes: 0 }]]),
      workflowId: 'database/shop/orders',
      step: 'waiting for a change',
    });
    expect(v.members).toEqual([
      {
        name: 'orders-0',
        role: 'primary',
        state: 'Ready',
        ready: true,
        node: 'node-1',
        restarts: 0,
        lag: undefined,
      },
      {
        name: 'orders-1',
        role: 'replica',
        state: 'Streaming',
        ready: true,
        node: 'node-2',
        restarts: 1,
        lag: '0.3s / 0 B',
      },
    ]);
    expect(v.phase).toBe('Ready');
    expect(v.reason).toBe('AllMembersReady');
    expect(v.endpoints.primary).toEqual({
      service: 'orders-primary',
      host: 'orders-primary.shop.svc.cluster.local',
      port: 5432,
    });
    expect(v.endpoints.readOnly.service).toBe('orders-ro');
    expect(v.lastBackup).toEqual({
      name: 'orders-b1',
      phase: 'Succeeded',
      finishedAt: '2026-12-03T09:50:00Z',
      sizeBytes: 48_213,
      location: 'pvc://orders-backups/orders/orders-b1.sql.gz',
    });
    expect(v.operations).toEqual(['backup orders-b2 Running, attempt 1 (Job orders-b2-1)']);
    expect(v.restorable).toMatchObject({
      count: 1,
      oldest: { name: 'orders-b1' },
      newest: { name: 'orders-b1' },
    });
    // The last five, whitespace folded.
    expect(v.events.map((e) => e.reason)).toEqual(['b', 'c', 'd', 'e', 'f']);
    expect(v.events[0]!.message).toBe('b happened here');
    expect(v.workflow).toMatchObject({ id: 'database/shop/orders', step: 'waiting for a change' });
    expect(v.workflow.url).toContain('http://ui/');
  });

  it('lists a member the spec wants but the status does not know yet, and pod 0 as the primary', () => {
    const db = database({ members: undefined, phase: 'Provisioning', conditions: [], lastBackup: undefined });
    const v = buildStatusView({
      db,
      pods: new Map([['orders-0', pod('orders-0', 'node-0', false)]]),
      backups: [],
      events: [],
      workflowId: 'w',
    });
    expect(v.members.map((m) => [m.name, m.role, m.state, m.ready])).toEqual([
      ['orders-0', 'primary', 'Running', false],
      ['orders-1', 'replica', 'Absent', false],
    ]);
    expect(v.lastBackup).toBeUndefined();
    expect(v.operations).toEqual([]);
  });

  it('reports an upgrade in progress, from status and from the StatefulSet', () => {
    const db = database({
      phase: 'Upgrading',
      upgrade: { fromVersion: '15', toVersion: '15.20', state: 'Upgrading' },
    });
    expect(buildStatusView({ db, pods, backups: [], events: [], workflowId: 'w' }).operations).toEqual([
      'upgrade postgres 15 → 15.20 (Upgrading)',
    ]);
    const settled = database({ upgrade: { fromVersion: '15', toVersion: '15.20', state: 'Interrupted' } });
    const statefulSet = { metadata: { annotations: { 'durable.dev/upgrading-from': '{"version":"15"}' } } };
    expect(
      buildStatusView({ db: settled, pods, statefulSet, backups: [], events: [], workflowId: 'w' })
        .operations,
    ).toEqual(['upgrade postgres 15 → 15.20 (Interrupted)']);
  });
});

it('restorable: the Succeeded backups, oldest and newest by finish time', () => {
  const done = (name: string, at: string) => backup(name, 'Succeeded', { finishedAt: at });
  const v = buildStatusView({
    db: database(),
    pods: new Map(),
    backups: [
      done('b3', '2026-12-03T09:00:00Z'),
      backup('b4', 'Failed'),
      done('b1', '2026-12-01T03:00:00Z'),
      done('b2', '2026-12-02T03:00:00Z'),
    ],
    events: [],
    workflowId: 'w',
  });
  expect(v.restorable.count).toBe(3);
  expect([v.restorable.oldest?.name, v.restorable.newest?.name]).toEqual(['b1', 'b3']);
  expect(renderStatus(v, { tty: false, columns: 0 }, now)).toContain(
    'Restorable  3 backups, from b1 (2d7h ago) to b3 (1h ago)\n',
  );
});

describe('renderStatus', () => {
  it('prints the header block, the members table and the Events, without colour off a terminal', () => {
    const v = buildStatusView({
      db: database(),
      pods: new Map([['orders-0', pod('orders-0', 'node-1', true)]]),
      backups: [],
      events: [event('BackupFailed', '2026-12-03T09:58:00Z', 'Warning')],
      workflowId: 'database/shop/orders',
      stepNote: 'Temporal unreachable at 127.0.0.1:7233: set TEMPORAL_ADDRESS or --temporal-address',
    });
    const text = renderStatus(v, { tty: false, columns: 200 }, now);
    expect(text).not.toContain('\u001b');
    expect(text).toContain('Phase       Ready  AllMembersReady: 2/2 members ready\n');
    expect(text).toContain('Primary     orders-primary:5432  (orders-primary.shop.svc.cluster.local)\n');
    expect(text).toContain('Last backup orders-b1  Succeeded  10m ago\n');
    expect(text).toContain('Restorable  no Succeeded backup\n');
    expect(text).toContain(
      '(Temporal unreachable at 127.0.0.1:7233: set TEMPORAL_ADDRESS or --temporal-address)',
    );
    expect(text).toContain(
      'Condition   BackupScheduled=False  BackupDisabled: spec.backup.enabled is false\n',
    );
    expect(text).toMatch(/MEMBER +ROLE +STATE +READY +RESTARTS +LAG +NODE\n/);
    expect(text).toMatch(/orders-0 +primary +Ready +true +0 +- +node-1\n/);
    expect(text).toMatch(/orders-1 +replica +Streaming +false +0 +- +-\n/);
    expect(text).toMatch(/2m +Warning +BackupFailed +BackupFailed happened here\n/);
  });
});
