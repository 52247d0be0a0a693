import type { DatabaseSpecInput } from './database';
import { allSamples } from './parameter-samples';

/**
 * Database specs the API accepts (the specs it rejects, with the message the API server gives,
 * are in invalid-examples.table.ts; both share the types and spec fragments below).
 *
 * One table for two validators: the unit test runs it through the zod schemas, an integration
 * test applies it to a real kube-apiserver with the generated CRD installed. An example whose
 * `expect` is not in the API server's message means the schema and the CRD have drifted apart.
 * DatabaseBackup examples: backup-examples.table.ts; manifests for them: example-manifests.ts.
 */

export interface ValidExample<Spec = DatabaseSpecInput> {
  /** Doubles as `metadata.name`: a DNS label. */
  name: string;
  spec: Spec;
  /** Apply as an update of an object created with this spec (for transition rules). */
  from?: Spec;
}

export interface InvalidExample<Spec = DatabaseSpecInput> {
  /** Doubles as `metadata.name`: a DNS label. */
  name: string;
  /** Deliberately untyped: these specs do not fit DatabaseSpecInput. */
  spec: Record<string, unknown>;
  /** The field the API server reports the error on, e.g. `spec.replicas`. */
  field: string;
  /** A substring of the API server's message (and of parseDatabaseSpec's). */
  expect: string;
  /**
   * A transition rule (`oldSelf`): only the API server can check it, on an update of an object
   * created with `from`. zod accepts `spec` on its own.
   */
  from?: Spec;
}

export const pg = { engine: 'postgres', version: '15' } as const;
export const my = { engine: 'mysql', version: '8.0' } as const;
export const maria = { engine: 'mariadb', version: '11.8' } as const;

/** `count` parameters named p0, p1, … (none of them a setting). */
export function manyParameters(count: number): Record<string, string> {
  return Object.fromEntries(Array.from({ length: count }, (_, i) => [`p${i}`, String(i)]));
}

/** Every setting mysql allows (fewer than 100), each with a valid value. */
const everyMysqlSetting = Object.fromEntries(allSamples('mysql').map((s) => [s.name, s.valid[0]!]));

export const dailyBackup = { enabled: true, schedule: '0 3 * * *' } as const;

export const validDatabaseExamples: ValidExample[] = [
  { name: 'minimal-postgres', spec: { ...pg } },
  {
    name: 'postgres-ha-synchronous',
    spec: {
      ...pg,
      replicas: 3,
      failover: { delaySeconds: 10 },
      replication: { synchronous: { number: 1, dataDurability: 'required' } },
    },
  },
  { name: 'minimal-mysql', spec: { ...my } },
  { name: 'postgres-minor-version', spec: { engine: 'postgres', version: '15.4' } },
  { name: 'minimal-mariadb', spec: { ...maria } },
  { name: 'mariadb-patch-version', spec: { engine: 'mariadb', version: '10.11.9' } },
  { name: 'mariadb-replicas-small', spec: { ...maria, replicas: 3, size: 'small' } },
  {
    name: 'mariadb-parameters',
    spec: { ...maria, parameters: { innodb_buffer_pool_size: '128M', gtid_domain_id: '0' } },
  },
  {
    name: 'scheduling-node-selector-tolerations',
    spec: {
      ...maria,
      scheduling: {
        nodeSelector: { 'node-role.example.com/db': 'true', 'kubernetes.io/os': 'linux' },
        tolerations: [
          { key: 'dedicated', operator: 'Equal', value: 'db', effect: 'NoSchedule' },
          {
            key: 'node.kubernetes.io/unreachable',
            operator: 'Exists',
            effect: 'NoExecute',
            tolerationSeconds: 30,
          },
          { operator: 'Exists' },
        ],
      },
    },
  },
  {
    name: 'scheduling-affinity',
    spec: {
      ...pg,
      scheduling: {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                {
                  matchExpressions: [
                    { key: 'topology.kubernetes.io/zone', operator: 'In', values: ['a', 'b'] },
                  ],
                },
              ],
            },
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: 50, preference: { matchExpressions: [{ key: 'disk', operator: 'Exists' }] } },
            ],
          },
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [
              {
                labelSelector: { matchLabels: { 'app.kubernetes.io/instance': 'orders-db' } },
                topologyKey: 'kubernetes.io/hostname',
              },
            ],
          },
        },
        topologySpreadConstraints: [
          { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway' },
        ],
      },
    },
  },
  { name: 'image-override', spec: { ...pg, image: 'registry.example.com/postgres:15.4-alpine' } },
  {
    name: 'three-replicas',
    spec: { ...pg, replicas: 3, storage: { size: '50Gi', storageClassName: 'fast' } },
  },
  { name: 'max-replicas', spec: { ...my, replicas: 5 } },
  {
    name: 'explicit-resources',
    spec: {
      ...pg,
      resources: { requests: { cpu: '500m', memory: '1Gi' }, limits: { cpu: '2', memory: '2.5Gi' } },
    },
  },
  {
    name: 'quantity-forms',
    spec: { ...pg, storage: { size: '500M' }, resources: { limits: { memory: '1e9' } } },
  },
  { name: 'size-tier', spec: { ...my, size: 'large' } },
  {
    name: 'engine-parameters',
    spec: {
      ...pg,
      parameters: {
        max_connections: '200',
        shared_buffers: '256MB',
        log_min_duration_statement: '250ms',
        statement_timeout: '30s',
        jit: 'off',
        synchronous_commit: 'local',
        random_page_cost: '1.1',
        default_transaction_isolation: 'repeatable read',
        log_line_prefix: '%m [%p] ',
      },
    },
  },
  {
    name: 'mysql-parameters',
    spec: {
      ...my,
      parameters: {
        innodb_buffer_pool_size: '1G',
        skip_name_resolve: '',
        transaction_isolation: 'READ-COMMITTED',
        long_query_time: '0.5',
        sql_mode: 'STRICT_TRANS_TABLES,NO_ZERO_DATE',
        innodb_redo_log_capacity: '512M',
      },
    },
  },
  { name: 'every-mysql-setting', spec: { ...my, parameters: everyMysqlSetting } },
  { name: 'backup-disabled-without-schedule', spec: { ...pg, backup: { enabled: false } } },
  {
    name: 'scheduled-backup-retention',
    spec: { ...pg, backup: { ...dailyBackup, retention: { count: 7, maxAge: '30d' } } },
  },
  {
    name: 'backup-to-pvc',
    spec: {
      ...my,
      backup: { ...dailyBackup, maxAttempts: 10, backoffSeconds: 3600, target: { pvc: { size: '20Gi' } } },
    },
  },
  {
    name: 'backup-to-s3',
    spec: {
      ...pg,
      backup: {
        enabled: true,
        schedule: '*/15 0-6 1,15 JAN-DEC MON-FRI',
        target: {
          s3: { bucket: 'db-backups', endpoint: 'https://s3.example.com', credentialsSecret: 's3-creds' },
        },
      },
    },
  },
  {
    name: 'bootstrap-from-backup',
    spec: { ...pg, bootstrap: { fromBackup: { name: 'orders-db-20240101' } } },
  },
  { name: 'retain-on-delete', spec: { ...my, deletionPolicy: 'Retain' } },
  { name: 'long-upgrade-timeout', spec: { ...pg, upgrade: { timeoutSeconds: 86400 } } },
  { name: 'version-upgrade', from: { ...pg }, spec: { ...pg, version: '16.2' } },
];
