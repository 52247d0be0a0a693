import { dailyBackup, manyParameters, maria, my, pg, type InvalidExample } from './examples.table';

/**
 * Database specs the API rejects, each with the field the API server reports and a substring of
 * its message (and of parseDatabaseSpec's): the same table runs through the zod schemas in the
 * unit test and against a real kube-apiserver in test/integration/database-validation.test.ts.
 * The specs it accepts: examples.table.ts.
 */
export const invalidDatabaseExamples: InvalidExample[] = [
  { name: 'missing-engine', spec: { version: '15' }, field: 'spec.engine', expect: 'Required value' },
  {
    name: 'unknown-engine',
    spec: { engine: 'oracle', version: '19' },
    field: 'spec.engine',
    expect: 'Unsupported value: "oracle": supported values: "postgres", "mariadb", "mysql"',
  },
  { name: 'missing-version', spec: { engine: 'postgres' }, field: 'spec.version', expect: 'Required value' },
  {
    name: 'version-latest',
    spec: { ...pg, version: 'latest' },
    field: 'spec.version',
    expect: "should match '^\\d+(\\.\\d+){0,2}$'",
  },
  {
    name: 'version-four-parts',
    spec: { ...pg, version: '15.4.1.2' },
    field: 'spec.version',
    expect: 'should match',
  },
  {
    name: 'zero-replicas',
    spec: { ...pg, replicas: 0 },
    field: 'spec.replicas',
    expect: 'should be greater than or equal to 1',
  },
  {
    name: 'seven-replicas',
    spec: { ...pg, replicas: 7 },
    field: 'spec.replicas',
    expect: 'should be less than or equal to 5',
  },
  {
    name: 'fractional-replicas',
    spec: { ...pg, replicas: 2.5 },
    field: 'spec.replicas',
    expect: 'must be of type integer: "number"',
  },
  {
    name: 'string-replicas',
    spec: { ...pg, replicas: '3' },
    field: 'spec.replicas',
    expect: 'must be of type integer: "string"',
  },
  {
    name: 'storage-size-gigabytes-typo',
    spec: { ...pg, storage: { size: '10GB' } },
    field: 'spec.storage.size',
    expect: 'should match',
  },
  {
    name: 'negative-storage-size',
    spec: { ...pg, storage: { size: '-5Gi' } },
    field: 'spec.storage.size',
    expect: 'should match',
  },
  {
    name: 'unquoted-cpu',
    spec: { ...pg, resources: { limits: { cpu: 2 } } },
    field: 'spec.resources.limits.cpu',
    expect: 'must be of type string: "integer"',
  },
  {
    name: 'cpu-in-words',
    spec: { ...pg, resources: { requests: { cpu: 'two' } } },
    field: 'spec.resources.requests.cpu',
    expect: 'should match',
  },
  {
    name: 'resources-and-size',
    spec: { ...pg, size: 'small', resources: { limits: { memory: '1Gi' } } },
    field: 'spec',
    expect: 'resources and size are mutually exclusive',
  },
  {
    name: 'synchronous-standbys-as-many-as-members',
    spec: { ...pg, replicas: 2, replication: { synchronous: { number: 2 } } },
    field: 'spec',
    expect: 'replication.synchronous.number must be less than replicas',
  },
  {
    name: 'synchronous-on-mariadb',
    spec: { ...maria, replicas: 3, replication: { synchronous: { number: 1 } } },
    field: 'spec',
    expect: 'replication.synchronous is available for engine postgres only',
  },
  {
    name: 'failover-delay-zero',
    spec: { ...pg, failover: { delaySeconds: 0 } },
    field: 'spec.failover.delaySeconds',
    expect: 'should be greater than or equal to 1',
  },
  {
    name: 'unknown-size-tier',
    spec: { ...pg, size: 'huge' },
    field: 'spec.size',
    expect: 'Unsupported value: "huge": supported values: "small", "medium", "large"',
  },
  {
    name: 'parameter-name-with-dash',
    spec: { ...pg, parameters: { 'max-connections': '100' } },
    field: 'spec.parameters',
    expect: "parameter names are written as the engine's documentation writes them: lowercase",
  },
  {
    name: 'parameter-name-leading-digit',
    spec: { ...my, parameters: { '1st_param': 'x' } },
    field: 'spec.parameters',
    expect: "starting with a letter or '_'",
  },
  {
    name: 'parameter-name-capitals',
    spec: { ...pg, parameters: { Max_Connections: '100' } },
    field: 'spec.parameters',
    expect: '(max_connections, not Max_Connections or max-connections)',
  },
  {
    name: 'parameter-runs-a-program',
    spec: { ...pg, parameters: { archive_command: 'sh -c id', work_mem: '8MB' } },
    field: 'spec.parameters',
    expect:
      'archive_command is not a setting users may set for postgres; allowed: kubectl explain databases.spec.parameters, or the README (Engine parameters)',
  },
  {
    name: 'parameters-loose-prefix',
    spec: { ...maria, parameters: { loose_skip_grant_tables: '', loose_bind_address: '127.0.0.1' } },
    field: 'spec.parameters',
    // Which of the two the API server names depends on its map iteration.
    expect: 'and 1 other key are not settings users may set for mariadb',
  },
  {
    name: 'parameter-of-another-engine',
    spec: { ...my, parameters: { work_mem: '8MB', init_file: '/tmp/x.sql' } },
    field: 'spec.parameters',
    expect: 'and 1 other key are not settings users may set for mysql',
  },
  {
    name: 'parameter-out-of-range',
    spec: { ...pg, parameters: { max_connections: '5' } },
    field: 'spec.parameters[max_connections]',
    expect: 'max_connections must be an integer from 10 to 10000',
  },
  {
    name: 'parameter-size-unit-case',
    spec: { ...pg, parameters: { shared_buffers: '1gb' } },
    field: 'spec.parameters[shared_buffers]',
    expect:
      'shared_buffers must be a size from 128kB to 1TB, a whole number with unit kB, MB, GB or TB (a bare number counts 8kB)',
  },
  {
    name: 'parameter-size-too-big',
    spec: { ...maria, parameters: { max_allowed_packet: '2G' } },
    field: 'spec.parameters[max_allowed_packet]',
    expect: 'max_allowed_packet must be a size from 1K to 1G',
  },
  {
    name: 'parameter-not-a-boolean',
    spec: { ...maria, parameters: { slow_query_log: 'sometimes' } },
    field: 'spec.parameters[slow_query_log]',
    expect: 'slow_query_log must be ON or OFF',
  },
  {
    name: 'parameter-value-line-break',
    spec: { ...pg, parameters: { log_line_prefix: "%m'\nfsync = off" } },
    field: 'spec.parameters[log_line_prefix]',
    expect: 'log_line_prefix must be printable ASCII',
  },
  {
    name: 'parameter-value-not-string',
    spec: { ...pg, parameters: { max_connections: 200 } },
    field: 'spec.parameters.max_connections',
    expect: 'must be of type string: "integer"',
  },
  {
    name: 'too-many-parameters',
    spec: { ...pg, parameters: manyParameters(101) },
    field: 'spec.parameters',
    expect: 'must have at most 100 items',
  },
  {
    name: 'backup-enabled-without-schedule',
    spec: { ...pg, backup: { enabled: true } },
    field: 'spec.backup.schedule',
    expect: 'backup.schedule is required when backup.enabled is true',
  },
  {
    name: 'backup-schedule-four-fields',
    spec: { ...pg, backup: { enabled: true, schedule: '0 3 * *' } },
    field: 'spec.backup.schedule',
    expect: 'should match',
  },
  {
    name: 'backup-schedule-macro',
    spec: { ...pg, backup: { enabled: true, schedule: '@daily' } },
    field: 'spec.backup.schedule',
    expect: 'should match',
  },
  {
    name: 'backup-enabled-not-boolean',
    spec: { ...pg, backup: { enabled: 'yes', schedule: '0 3 * * *' } },
    field: 'spec.backup.enabled',
    expect: 'must be of type boolean: "string"',
  },
  {
    name: 'zero-retention-count',
    spec: { ...pg, backup: { ...dailyBackup, retention: { count: 0 } } },
    field: 'spec.backup.retention.count',
    expect: 'should be greater than or equal to 1',
  },
  {
    name: 'retention-age-in-words',
    spec: { ...pg, backup: { ...dailyBackup, retention: { maxAge: '30 days' } } },
    field: 'spec.backup.retention.maxAge',
    expect: 'should match',
  },
  {
    name: 'too-many-backup-attempts',
    spec: { ...pg, backup: { ...dailyBackup, maxAttempts: 11 } },
    field: 'spec.backup.maxAttempts',
    expect: 'should be less than or equal to 10',
  },
  {
    name: 'zero-backoff',
    spec: { ...pg, backup: { ...dailyBackup, backoffSeconds: 0 } },
    field: 'spec.backup.backoffSeconds',
    expect: 'should be greater than or equal to 1',
  },
  {
    name: 'backup-to-pvc-and-s3',
    spec: {
      ...pg,
      backup: {
        ...dailyBackup,
        target: { pvc: {}, s3: { bucket: 'db-backups', credentialsSecret: 's3-creds' } },
      },
    },
    field: 'spec.backup.target',
    expect: 'backup.target must set at most one of pvc and s3',
  },
  {
    name: 's3-without-credentials',
    spec: { ...pg, backup: { ...dailyBackup, target: { s3: { bucket: 'db-backups' } } } },
    field: 'spec.backup.target.s3.credentialsSecret',
    expect: 'Required value',
  },
  {
    name: 'bootstrap-without-name',
    spec: { ...pg, bootstrap: { fromBackup: {} } },
    field: 'spec.bootstrap.fromBackup.name',
    expect: 'Required value',
  },
  {
    name: 'bootstrap-bad-name',
    spec: { ...pg, bootstrap: { fromBackup: { name: 'Nightly_Backup' } } },
    field: 'spec.bootstrap.fromBackup.name',
    expect: 'should match',
  },
  {
    name: 'unknown-deletion-policy',
    spec: { ...pg, deletionPolicy: 'Orphan' },
    field: 'spec.deletionPolicy',
    expect: 'Unsupported value: "Orphan": supported values: "Delete", "Retain"',
  },
  {
    name: 'short-upgrade-timeout',
    spec: { ...pg, upgrade: { timeoutSeconds: 30 } },
    field: 'spec.upgrade.timeoutSeconds',
    expect: 'should be greater than or equal to 60',
  },
  {
    name: 'image-too-long',
    spec: { ...pg, image: `registry.example.com/${'x'.repeat(500)}:15` },
    field: 'spec.image',
    expect: 'Too long: may not be more than 512 bytes',
  },
  {
    name: 'engine-change',
    from: { ...pg },
    spec: { ...my },
    field: 'spec.engine',
    expect: 'engine is immutable',
  },
  {
    name: 'engine-change-mysql-to-mariadb',
    from: { ...my },
    spec: { ...maria },
    field: 'spec.engine',
    expect: 'engine is immutable',
  },
  {
    name: 'mariadb-version-in-words',
    spec: { ...maria, version: '11.8-lts' },
    field: 'spec.version',
    expect: 'should match',
  },
  {
    name: 'node-selector-value-with-space',
    spec: { ...maria, scheduling: { nodeSelector: { disk: 'fast ssd' } } },
    field: 'spec.scheduling.nodeSelector.disk',
    expect: 'should match',
  },
  {
    name: 'toleration-unknown-operator',
    spec: { ...pg, scheduling: { tolerations: [{ key: 'dedicated', operator: 'NotEqual', value: 'db' }] } },
    field: 'spec.scheduling.tolerations[0].operator',
    expect: 'Unsupported value: "NotEqual": supported values: "Exists", "Equal"',
  },
  {
    name: 'toleration-unknown-effect',
    spec: { ...pg, scheduling: { tolerations: [{ key: 'dedicated', value: 'db', effect: 'NoRun' }] } },
    field: 'spec.scheduling.tolerations[0].effect',
    expect: 'Unsupported value: "NoRun"',
  },
  {
    name: 'toleration-exists-with-value',
    spec: { ...pg, scheduling: { tolerations: [{ key: 'dedicated', operator: 'Exists', value: 'db' }] } },
    field: 'spec.scheduling.tolerations[0]',
    expect: 'a toleration with operator Exists must not set a value',
  },
  {
    name: 'toleration-seconds-without-noexecute',
    spec: {
      ...pg,
      scheduling: {
        tolerations: [{ key: 'dedicated', value: 'db', effect: 'NoSchedule', tolerationSeconds: 10 }],
      },
    },
    field: 'spec.scheduling.tolerations[0]',
    expect: 'tolerationSeconds is only valid with effect NoExecute',
  },
  {
    name: 'toleration-seconds-in-words',
    spec: {
      ...pg,
      scheduling: {
        tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: '30s' }],
      },
    },
    field: 'spec.scheduling.tolerations[0].tolerationSeconds',
    expect: 'must be of type integer: "string"',
  },
  {
    name: 'affinity-weight-too-high',
    spec: {
      ...pg,
      scheduling: {
        affinity: {
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [
              { weight: 101, preference: { matchExpressions: [{ key: 'disk', operator: 'Exists' }] } },
            ],
          },
        },
      },
    },
    field: 'spec.scheduling.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight',
    expect: 'should be less than or equal to 100',
  },
  {
    name: 'affinity-term-without-topology-key',
    spec: {
      ...pg,
      scheduling: {
        affinity: {
          podAntiAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchLabels: { a: 'b' } } }],
          },
        },
      },
    },
    field:
      'spec.scheduling.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey',
    expect: 'Required value',
  },
  {
    name: 'too-many-tolerations',
    spec: {
      ...pg,
      scheduling: {
        tolerations: Array.from({ length: 17 }, (_, i) => ({ key: `k${i}`, operator: 'Exists' })),
      },
    },
    field: 'spec.scheduling.tolerations',
    expect: 'must have at most 16 items',
  },
];
