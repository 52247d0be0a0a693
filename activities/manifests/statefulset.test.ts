import type { V1Container, V1StatefulSet } from '@kubernetes/client-node';
import {
  CONFIG_HASH_ANNOTATION,
  configHash,
  labelsFor,
  POD_INDEX_LABEL,
  renderConfigMap,
  renderSecret,
  renderStatefulSet,
  selectorLabels,
} from '.';
import { ENGINE_BUILD_ANNOTATION, UPGRADING_FROM_ANNOTATION } from '../../crds';
import { target } from './test-fixtures';

type Target = ReturnType<typeof target>;

function render(t: Target): V1StatefulSet {
  return renderStatefulSet(t, { configHash: configHash(renderConfigMap(t)) });
}

function db(sts: V1StatefulSet): V1Container {
  const container = sts.spec?.template.spec?.containers[0];
  if (!container) throw new Error('no container');
  return container;
}

describe('renderStatefulSet', () => {
  it('follows replicas and storage from the spec', () => {
    const sts = render(target({ replicas: 3, storage: { size: '25Gi', storageClassName: 'fast' } }));
    expect(sts).toMatchObject({ apiVersion: 'apps/v1', kind: 'StatefulSet' });
    expect(sts.metadata?.name).toBe('orders');
    expect(sts.spec?.replicas).toBe(3);
    const [claim, ...rest] = sts.spec?.volumeClaimTemplates ?? [];
    expect(rest).toEqual([]);
    expect(claim?.metadata?.name).toBe('data');
    expect(claim?.spec?.resources?.requests).toEqual({ storage: '25Gi' });
    expect(claim?.spec?.storageClassName).toBe('fast');
    expect(claim?.spec?.accessModes).toEqual(['ReadWriteOnce']);
    // Immutable after creation: only labels that never change for a Database.
    expect(claim?.metadata?.labels).toEqual(labelsFor(target(), 'database'));
  });

  it('leaves the storage class to the cluster default when unset', () => {
    const claim = render(target()).spec?.volumeClaimTemplates?.[0];
    expect(claim?.spec?.resources?.requests).toEqual({ storage: '10Gi' });
    expect(claim?.spec && 'storageClassName' in claim.spec).toBe(false);
  });

  it('wires the headless Service, selector and rollout policy', () => {
    const t = target();
    const spec = render(t).spec;
    expect(spec?.serviceName).toBe('orders-headless');
    expect(spec?.selector.matchLabels).toEqual(selectorLabels(t));
    expect(spec?.template.metadata?.labels).toEqual(expect.objectContaining(selectorLabels(t)));
    expect(spec?.template.metadata?.labels).toEqual(expect.objectContaining(labelsFor(t, 'database')));
    expect(spec?.podManagementPolicy).toBe('OrderedReady');
    expect(spec?.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { partition: 0 } });
    expect(spec?.template.spec?.terminationGracePeriodSeconds).toBe(30);
  });

  it('holds members below the partition back, with the same template (an upgrade step)', () => {
    const t = target();
    const held = renderStatefulSet(t, { configHash: 'h', partition: 2 }).spec;
    expect(held?.updateStrategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { partition: 2 } });
    expect(held?.template).toEqual(renderStatefulSet(t, { configHash: 'h' }).spec?.template);
  });

  it('records the build an upgrade moves the members from, only while it does', () => {
    const t = target();
    const moving = renderStatefulSet(t, { configHash: 'h', partition: 1, upgradingFrom: { version: '15' } });
    const done = renderStatefulSet(t, { configHash: 'h' });
    expect(moving.metadata?.annotations?.[UPGRADING_FROM_ANNOTATION]).toBe('{"version":"15"}');
    expect(moving.metadata?.annotations?.[ENGINE_BUILD_ANNOTATION]).toBe(
      JSON.stringify({ version: t.spec.version }),
    );
    expect(done.metadata?.annotations).not.toHaveProperty(UPGRADING_FROM_ANNOTATION);
    // On the StatefulSet only: the pod template, hence the members, are the same either way.
    expect(moving.spec?.template).toEqual(done.spec?.template);
  });

  it('keeps or deletes the volumes with the Database as deletionPolicy says', () => {
    const mysql = { engine: 'mysql', version: '8.0.36' } as const;
    expect(render(target(mysql)).spec?.persistentVolumeClaimRetentionPolicy).toEqual({
      whenDeleted: 'Delete',
      whenScaled: 'Retain',
    });
    expect(
      render(target({ ...mysql, deletionPolicy: 'Retain' })).spec?.persistentVolumeClaimRetentionPolicy,
    ).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
  });

  it('deletes a PostgreSQL replica scaled away with its volume: without its slot it could not catch up', () => {
    expect(render(target()).spec?.persistentVolumeClaimRetentionPolicy).toEqual({
      whenDeleted: 'Delete',
      whenScaled: 'Delete',
    });
    expect(render(target({ deletionPolicy: 'Retain' })).spec?.persistentVolumeClaimRetentionPolicy).toEqual({
      whenDeleted: 'Retain',
      whenScaled: 'Delete',
    });
  });

  it('never contains a password', () => {
    const t = target();
    const password = 'Sup3r-s3cret-value';
    const secret = renderSecret(t, { password, replicationPassword: 'another-s3cret' });
    const text = JSON.stringify(render(t));
    expect(text).not.toContain(password);
    expect(text).not.toContain('another-s3cret');
    for (const encoded of Object.values(secret.data ?? {})) {
      if (encoded.length > 8) expect(text).not.toContain(encoded);
    }
  });

  it('takes the password from the Secret by reference', () => {
    const env = db(render(target())).env ?? [];
    expect(env).toContainEqual({
      name: 'POSTGRES_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'orders-credentials', key: 'password' } },
    });
    expect(env).toContainEqual({ name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' });
    expect(env.filter((e) => e.value !== undefined && /password/i.test(e.name))).toEqual([]);
  });

  it('runs postgres with the ConfigMap as its config file', () => {
    const sts = render(target());
    const c = db(sts);
    expect(c.name).toBe('database');
    expect(c.image).toBe('postgres:16');
    expect(c.args).toEqual([
      '-c',
      'config_file=/etc/postgresql/postgresql.conf',
      '-c',
      'cluster_name=$(POD_NAME)',
    ]);
    expect(c.ports).toEqual([{ name: 'db', containerPort: 5432, protocol: 'TCP' }]);
    expect(c.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'data', mountPath: '/var/lib/postgresql/data' },
        { name: 'config', mountPath: '/etc/postgresql', readOnly: true },
      ]),
    );
    expect(sts.spec?.template.spec?.volumes).toEqual([
      { name: 'config', configMap: { name: 'orders-config' } },
      { name: 'roles', configMap: { name: 'orders-roles', optional: true } },
    ]);
    expect(c.readinessProbe?.exec?.command).toEqual([
      'pg_isready',
      '-U',
      'postgres',
      '-h',
      '127.0.0.1',
      '-p',
      '5432',
    ]);
    expect(c.livenessProbe?.exec?.command).toBeDefined();
    expect(c.startupProbe?.exec?.command).toBeDefined();
  });

  it('runs mysql with my.cnf in conf.d and a server_id per member', () => {
    const c = db(render(target({ engine: 'mysql', version: '8.0.36' })));
    expect(c.image).toBe('mysql:8.0.36');
    expect(c.ports).toEqual([{ name: 'db', containerPort: 3306, protocol: 'TCP' }]);
    expect(c.volumeMounts).toEqual(
      expect.arrayContaining([
        { name: 'data', mountPath: '/var/lib/mysql' },
        { name: 'config', mountPath: '/etc/mysql/conf.d/my.cnf', subPath: 'my.cnf', readOnly: true },
      ]),
    );
    expect(c.env).toContainEqual({
      name: 'MYSQL_ROOT_PASSWORD',
      valueFrom: { secretKeyRef: { name: 'orders-credentials', key: 'password' } },
    });
    expect(c.env).toContainEqual({
      name: 'POD_INDEX',
      valueFrom: { fieldRef: { fieldPath: `metadata.labels['${POD_INDEX_LABEL}']` } },
    });
    expect(c.args).toEqual(['--server-id=1$(POD_INDEX)']);
    expect((c.readinessProbe?.exec?.command ?? []).join(' ')).toMatch(/mysqladmin ping .*-h 127\.0\.0\.1/);
  });

  describe('bootstrap-replica init container', () => {
    const init = (sts: V1StatefulSet) => sts.spec?.template.spec?.initContainers ?? [];

    it('clones the primary with pg_basebackup through the primary Service and the replica slot, on postgres', () => {
      const [c, ...rest] = init(render(target({ image: 'registry.local/postgres:16-ext' })));
      expect(rest).toEqual([]);
      expect(c?.name).toBe('bootstrap-replica');
      // The same image, so pg_basebackup matches the server's major version.
      expect(c?.image).toBe('registry.local/postgres:16-ext');
      expect(c?.command?.slice(0, 2)).toEqual(['sh', '-c']);
      const script = c?.command?.[2] ?? '';
      expect(script).toContain(
        'pg_basebackup -h "$PRIMARY_HOST" -p "$PRIMARY_PORT" -U "$REPLICATION_USER" -w',
      );
      expect(script).toContain('-R -X stream -c fast -S "replica_$POD_INDEX"');
      // The kubelet would expand $(…) itself.
      expect(script).not.toContain('$(');
      expect(c?.env).toEqual([
        { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
        { name: 'PRIMARY_HOST', value: 'orders-primary.shop.svc' },
        { name: 'PRIMARY_PORT', value: '5432' },
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        {
          name: 'POD_INDEX',
          valueFrom: { fieldRef: { fieldPath: `metadata.labels['${POD_INDEX_LABEL}']` } },
        },
        { name: 'ROLES_DIR', value: '/etc/durable/roles' },
        { name: 'FIRST_PRIMARY', value: 'orders-0' },
        { name: 'REPLICATION_USER', value: 'replicator' },
        { name: 'PGCONNECT_TIMEOUT', value: '5' },
        {
          name: 'PGPASSWORD',
          valueFrom: { secretKeyRef: { name: 'orders-credentials', key: 'replication-password' } },
        },
      ]);
      expect(c?.volumeMounts).toEqual([
        { name: 'data', mountPath: '/var/lib/postgresql/data' },
        { name: 'roles', mountPath: '/etc/durable/roles', readOnly: true },
      ]);
      expect(c?.securityContext).toEqual(db(render(target())).securityContext);
    });

    it('is not there for mysql, whose replicas are configured over SQL', () => {
      expect(init(render(target({ engine: 'mysql', version: '8.0.36' })))).toEqual([]);
    });
  });

  it('uses spec.image when set', () => {
    expect(db(render(target({ image: 'registry.local/postgres:16-ext' }))).image).toBe(
      'registry.local/postgres:16-ext',
    );
  });

  it('runs as the image user, not root', () => {
    const pod = render(target()).spec?.template.spec;
    expect(pod?.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 999, fsGroup: 999 });
    expect(pod?.automountServiceAccountToken).toBe(false);
  });

  it('prefers spreading members across nodes', () => {
    const t = target();
    const terms =
      render(t).spec?.template.spec?.affinity?.podAntiAffinity
        ?.preferredDuringSchedulingIgnoredDuringExecution;
    expect(terms).toEqual([
      {
        weight: 100,
        podAffinityTerm: {
          labelSelector: { matchLabels: selectorLabels(t) },
          topologyKey: 'kubernetes.io/hostname',
        },
      },
    ]);
  });

  describe('resources', () => {
    it.each([
      ['small', { cpu: '250m', memory: '512Mi' }, { cpu: '1', memory: '1Gi' }],
      ['medium', { cpu: '1', memory: '2Gi' }, { cpu: '2', memory: '4Gi' }],
      ['large', { cpu: '2', memory: '8Gi' }, { cpu: '4', memory: '16Gi' }],
    ] as const)('follow the %s tier', (size, requests, limits) => {
      expect(db(render(target({ size }))).resources).toEqual({ requests, limits });
    });

    it('take spec.resources as written', () => {
      const resources = { requests: { cpu: '500m' }, limits: { memory: '3Gi' } };
      expect(db(render(target({ resources }))).resources).toEqual(resources);
    });

    it('default to a small request without limits', () => {
      const resources = db(render(target())).resources;
      expect(resources?.requests).toEqual({ cpu: '100m', memory: '256Mi' });
      expect(resources?.limits).toBeUndefined();
    });

    it('are copies, so editing one manifest cannot change the next', () => {
      const first = db(render(target({ size: 'small' })));
      if (first.resources?.requests) first.resources.requests.cpu = '99';
      expect(db(render(target({ size: 'small' }))).resources?.requests?.cpu).toBe('250m');
    });
  });

  describe('pod template', () => {
    it('carries the config hash, and no generation', () => {
      const t = target();
      const template = render(t).spec?.template;
      expect(template?.metadata?.annotations?.[CONFIG_HASH_ANNOTATION]).toBe(configHash(renderConfigMap(t)));
      expect(JSON.stringify(template)).not.toMatch(/generation/i);
    });

    it('is identical when only replicas change', () => {
      const one = target({ replicas: 1 });
      const three = { ...target({ replicas: 3 }), generation: one.generation + 1 };
      expect(render(three).spec?.template).toEqual(render(one).spec?.template);
      expect(render(three).spec?.replicas).toBe(3);
    });

    it('changes when a parameter changes', () => {
      const a = render(target({ parameters: { work_mem: '8MB' } })).spec?.template;
      const b = render(target({ parameters: { work_mem: '16MB' } })).spec?.template;
      expect(a?.metadata?.annotations?.[CONFIG_HASH_ANNOTATION]).not.toBe(
        b?.metadata?.annotations?.[CONFIG_HASH_ANNOTATION],
      );
    });
  });

  it('renders the same object for the same input', () => {
    expect(JSON.stringify(render(target({ replicas: 2, size: 'medium' })))).toBe(
      JSON.stringify(render(target({ replicas: 2, size: 'medium' }))),
    );
  });
});
