import { createHash } from 'node:crypto';
import type { V1ConfigMap } from '@kubernetes/client-node';
import {
  PARAMETER_NAME_PATTERN,
  parameterProblem,
  unknownEngine,
  type DatabaseSpec,
  type SizeTier,
} from '../../crds';
import type { DatabaseTarget } from '../types';
import { engineProfile, REPLICATION_USER } from './engines';
import { objectMeta } from './labels';
import { objectNames } from '../../contracts/names';

interface TierTuning {
  maxConnections: number;
  /** postgres shared_buffers: a quarter of the tier's memory limit. */
  sharedBuffers: string;
  /**
   * mysql innodb_buffer_pool_size: half the memory limit, less on `small`, where mysqld's own
   * baseline (performance_schema and friends) takes a large share of 1Gi.
   */
  innodbBufferPoolSize: string;
}

export const SIZE_TIER_TUNING: Readonly<Record<SizeTier, TierTuning>> = {
  small: { maxConnections: 100, sharedBuffers: '256MB', innodbBufferPoolSize: '256M' },
  medium: { maxConnections: 200, sharedBuffers: '1GB', innodbBufferPoolSize: '2G' },
  large: { maxConnections: 400, sharedBuffers: '4GB', innodbBufferPoolSize: '8G' },
};

/**
 * Entries of `spec.parameters` the rendered config leaves out, with why: names that are not
 * settings users may set for the engine (crds/parameters.ts; the operator's own settings are
 * among them), and values the setting does not take. The API server rejects both at apply; this
 * is the second line, for a spec that got past the schema (a CRD older than the operator, one
 * edited by hand). Sorted by name.
 */
export function ignoredParameters(
  spec: Pick<DatabaseSpec, 'engine' | 'parameters'>,
): { name: string; problem: string }[] {
  const params = spec.parameters ?? {};
  return Object.keys(params)
    .sort()
    .flatMap((name) => {
      const problem = parameterProblem(spec.engine, name, params[name] ?? '');
      return problem === undefined ? [] : [{ name, problem }];
    });
}

export function renderConfigMap(target: DatabaseTarget): V1ConfigMap {
  const profile = engineProfile(target.spec.engine, target.spec.version);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: objectMeta(target, objectNames(target.name).configMap, 'config'),
    data: {
      [profile.configFileName]: renderConfigFile(target),
      ...(profile.hbaFile && { [PG_HBA_FILE_NAME]: renderPgHba() }),
    },
  };
}

/** Key in the ConfigMap and file name, next to postgresql.conf, of the client authentication file. */
export const PG_HBA_FILE_NAME = 'pg_hba.conf';

/**
 * pg_hba.conf: passwords (SCRAM) over the network, for clients and for the replicas' streaming
 * connections as the replication role; trust on the pod's own Unix socket only, as the official
 * image has it, so its entrypoint and in-pod tools work before any password exists.
 * `replication` must be named: `all` in the database column does not match replication
 * connections.
 */
export function renderPgHba(): string {
  return [
    '# Rendered by durable-db-operator; edits here are overwritten.',
    '# TYPE  DATABASE     USER                 ADDRESS  METHOD',
    'local   all          all                           trust',
    'host    all          all                  all      scram-sha-256',
    `host    replication  ${REPLICATION_USER.padEnd(20)} all      scram-sha-256`,
    '',
  ].join('\n');
}

/** The engine's config file: base settings, then `spec.parameters` on top, in name order. */
export function renderConfigFile(target: DatabaseTarget): string {
  const { spec } = target;
  const settings = new Map<string, string>(Object.entries(baseSettings(spec)));
  const ignored = ignoredParameters(spec);
  const skip = new Set(ignored.map((i) => i.name));
  const params = spec.parameters ?? {};
  // Only allowed names remain, each in its one spelling: a key can neither repeat a setting nor
  // replace one the operator owns (those are not on the list).
  for (const [name, value] of Object.entries(params)) if (!skip.has(name)) settings.set(name, value);
  const names = [...settings.keys()].sort();

  // No generation or timestamp in here: the file's hash rolls the pods, so it may only change when a
  // setting does.
  const lines = [
    `# Rendered by durable-db-operator for Database ${target.namespace}/${target.name}.`,
    '# Edits here are overwritten: set spec.parameters on the Database instead.',
  ];
  for (const { name, problem } of ignored) {
    // Only valid names are echoed (and the problem, which is ours): anything else could smuggle
    // a line break into the file.
    if (PARAMETER_NAME_PATTERN.test(name)) lines.push(`# spec.parameters.${name} is ignored: ${problem}.`);
    else lines.push('# a spec.parameters entry with an invalid name is ignored.');
  }

  switch (spec.engine) {
    case 'postgres':
      for (const name of names) lines.push(`${name} = ${postgresValue(settings.get(name) ?? '')}`);
      break;
    case 'mariadb':
    case 'mysql':
      lines.push(
        '# server_id is not here: it must differ per member, so each pod passes',
        '# --server-id=1<ordinal> on the command line (see the StatefulSet).',
        // Both servers read [mysqld]; MariaDB also reads [mariadb].
        '[mysqld]',
      );
      for (const name of names) lines.push(mysqlLine(name, settings.get(name) ?? ''));
      break;
    default:
      return unknownEngine(spec.engine);
  }
  return `${lines.join('\n')}\n`;
}

function baseSettings(spec: DatabaseSpec): Record<string, string> {
  const profile = engineProfile(spec.engine, spec.version);
  const port = String(profile.port);
  const tuning = spec.size === undefined ? undefined : SIZE_TIER_TUNING[spec.size];
  switch (spec.engine) {
    case 'postgres':
      return {
        listen_addresses: '*',
        port,
        max_connections: String(tuning?.maxConnections ?? 100),
        ...(tuning && { shared_buffers: tuning.sharedBuffers }),
        // The ConfigMap's pg_hba.conf, not the one initdb wrote into PGDATA (which a replica's
        // clone would copy from the primary anyway).
        hba_file: `${profile.configMountPath}/${PG_HBA_FILE_NAME}`,
        // These need a restart to change: set from the start so adding a replica never restarts
        // the primary.
        wal_level: 'replica',
        max_wal_senders: '10',
        max_replication_slots: '10',
        hot_standby: 'on',
      };
    case 'mariadb':
      // MariaDB refuses to start on an option it does not know, and it has no gtid_mode or
      // enforce_gtid_consistency: its GTIDs are always on. Only options 10.11 and 11.x accept.
      return {
        ...mysqlFamilyCommon(port, profile.dataDir, tuning),
        // A replica logs what it applies, so that any member can serve as a source later.
        log_slave_updates: 'ON',
        // A GTID out of order (a write on a replica) stops replication instead of diverging.
        gtid_strict_mode: 'ON',
      };
    case 'mysql':
      return {
        ...mysqlFamilyCommon(port, profile.dataDir, tuning),
        // GTIDs from the first start, so a replica can be added without a restart of the primary
        // or a rewrite of its binlogs.
        gtid_mode: 'ON',
        enforce_gtid_consistency: 'ON',
      };
    default:
      return unknownEngine(spec.engine);
  }
}

/** What MariaDB and MySQL both accept: the wiring, the tier, row-based binlogs from the start. */
function mysqlFamilyCommon(
  port: string,
  dataDir: string,
  tuning: TierTuning | undefined,
): Record<string, string> {
  return {
    bind_address: '0.0.0.0',
    port,
    datadir: dataDir,
    ...(tuning && {
      max_connections: String(tuning.maxConnections),
      innodb_buffer_pool_size: tuning.innodbBufferPoolSize,
    }),
    // A fixed basename: the default derives from the host name in older versions.
    log_bin: 'binlog',
    binlog_format: 'ROW',
  };
}

/**
 * postgresql.conf value: plain numbers (with an optional unit, `128MB`) and identifiers (`on`,
 * `replica`) as they are, everything else single-quoted. Inside quotes a quote is doubled and a
 * backslash starts an escape, and a raw line break would end the line, so those are escaped.
 */
export function postgresValue(value: string): string {
  if (/^-?\d+(\.\d+)?[A-Za-z]*$/.test(value) || /^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) return value;
  const escaped = value
    .replace(/\\/g, '\\\\')
    .replace(/'/g, "''")
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r');
  return `'${escaped}'`;
}

/**
 * my.cnf line. An empty value gives a bare name, the option-file way to switch a flag on
 * (`skip_name_resolve`). A value with anything beyond a safe set of characters is double-quoted, so
 * `#` cannot start a comment and outer spaces survive; mysql strips only the outer pair of quotes,
 * so inner quotes need no escape, but backslashes and line breaks do.
 */
export function mysqlLine(name: string, value: string): string {
  if (value === '') return name;
  if (/^[A-Za-z0-9_.+\-/:,@%]+$/.test(value)) return `${name} = ${value}`;
  const escaped = value
    .replace(/\\/g, '\\\\')
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t');
  return `${name} = "${escaped}"`;
}

/**
 * sha256 of a ConfigMap's data, for the pod-template annotation that rolls the pods when the config
 * changes: neither engine applies every setting without a restart, and mysql's file is mounted by
 * subPath, which never sees an update at all.
 */
export function configHash(configMap: Pick<V1ConfigMap, 'data' | 'binaryData'>): string {
  const sorted = (map: Record<string, string> | undefined) =>
    Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash('sha256')
    .update(JSON.stringify({ data: sorted(configMap.data), binaryData: sorted(configMap.binaryData) }))
    .digest('hex');
}
