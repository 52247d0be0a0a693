import type { V1PodSecurityContext } from '@kubernetes/client-node';
import { unknownEngine, type Engine } from '../../crds';
import { ENGINE_PORTS } from '../../contracts/names';
import { POD_INDEX_LABEL } from './labels';

/** What differs between the engines when rendering their objects. */
export interface EngineProfile {
  engine: Engine;
  image: string;
  port: number;
  /** Where the data volume is mounted. */
  dataMountPath: string;
  /** Where the engine keeps its data, inside the data volume. */
  dataDir: string;
  /** Where the config file from the ConfigMap appears in the container. */
  configMountPath: string;
  /** Key in the ConfigMap and file name in the container. */
  configFileName: string;
  /** Arguments to the image's entrypoint. `$(VAR)` references are expanded by the kubelet from `env`. */
  args: string[];
  /** Environment variable of the image's entrypoint that takes the superuser password. */
  passwordEnv: string;
  /** Further literal environment variables of the image. */
  env: Record<string, string>;
  /** Environment variables from the downward API: name → fieldPath. */
  fieldEnv: Record<string, string>;
  /** Superuser the image creates; also `username` in the Secret. */
  superuser: string;
  /** uid and gid the image's engine runs as. */
  uid: number;
  readinessCommand: string[];
  livenessCommand: string[];
  /**
   * How a replica gets its data: `clone` (PostgreSQL: an init container copies member 0 with
   * pg_basebackup before the engine starts), `replicate` (MariaDB, MySQL: it starts empty and the
   * operator points it at member 0, which sends everything from its binlog).
   */
  replicaBootstrap: 'clone' | 'replicate';
  /**
   * How the ConfigMap appears: `directory` (PostgreSQL: its own directory, config_file points
   * there) or `file` (MariaDB, MySQL: one file in conf.d, next to the image's own files).
   */
  configMount: 'directory' | 'file';
  /** Extra files of the ConfigMap beside the config file (PostgreSQL: pg_hba.conf). */
  hbaFile: boolean;
}

export const REPLICATION_USER = 'replicator';
/** The pod's own name, from the downward API. */
export const POD_NAME_ENV = 'POD_NAME';

/**
 * Environment variable holding the pod's ordinal. mysql derives its server_id from it: the config
 * file is shared by all members, but a server_id must differ per member.
 */
export const POD_INDEX_ENV = 'POD_INDEX';

const POSTGRES_DATA_MOUNT = '/var/lib/postgresql/data';
const POSTGRES_DATA_DIR = `${POSTGRES_DATA_MOUNT}/pgdata`;
const POSTGRES_CONFIG_DIR = '/etc/postgresql';
const MYSQL_DATA_MOUNT = '/var/lib/mysql';
const MYSQL_CONFIG_DIR = '/etc/mysql/conf.d';

/**
 * Facts about the official `postgres`, `mariadb` and `mysql` images. `imageOverride` (spec.image) replaces only
 * the image: a replacement must keep the official image's entrypoint, users and paths.
 */
export function engineProfile(engine: Engine, version: string, imageOverride?: string): EngineProfile {
  switch (engine) {
    case 'postgres': {
      const port = ENGINE_PORTS.postgres;
      // pg_isready exits 0 only when the server accepts connections; it needs no password.
      const isReady = ['pg_isready', '-U', 'postgres', '-h', '127.0.0.1', '-p', String(port)];
      return {
        engine,
        image: imageOverride ?? `postgres:${version}`,
        port,
        dataMountPath: POSTGRES_DATA_MOUNT,
        // A subdirectory, because initdb refuses a non-empty directory and a fresh volume's root may
        // hold lost+found. Set explicitly: the image's default PGDATA moved in postgres 18.
        dataDir: POSTGRES_DATA_DIR,
        configMountPath: POSTGRES_CONFIG_DIR,
        configFileName: 'postgresql.conf',
        // cluster_name = the pod's name: a standby's WAL receiver reports it as its
        // application_name, which synchronous_standby_names lists.
        args: [
          '-c',
          `config_file=${POSTGRES_CONFIG_DIR}/postgresql.conf`,
          '-c',
          `cluster_name=$(${POD_NAME_ENV})`,
        ],
        passwordEnv: 'POSTGRES_PASSWORD',
        env: { PGDATA: POSTGRES_DATA_DIR },
        fieldEnv: { [POD_NAME_ENV]: 'metadata.name' },
        superuser: 'postgres',
        uid: 999,
        readinessCommand: isReady,
        livenessCommand: isReady,
        replicaBootstrap: 'clone',
        configMount: 'directory',
        hbaFile: true,
      };
    }
    case 'mariadb':
      // mariadb-admin exists under that name in 10.11 and 11.x; the 11.x images have no
      // mysqladmin. MARIADB_ROOT_PASSWORD is the image's own name (MYSQL_ROOT_PASSWORD an alias).
      // MARIADB_AUTO_UPGRADE: after a major upgrade (10.11 → 11.8) the entrypoint runs
      // mariadb-upgrade on the old data directory before serving; a no-op otherwise.
      return mysqlFamily(
        engine,
        imageOverride ?? `mariadb:${version}`,
        'mariadb-admin',
        'MARIADB_ROOT_PASSWORD',
        {
          MARIADB_AUTO_UPGRADE: '1',
        },
      );
    case 'mysql':
      return mysqlFamily(
        engine,
        imageOverride ?? `mysql:${version}`,
        'mysqladmin',
        'MYSQL_ROOT_PASSWORD',
        {},
      );
    default:
      return unknownEngine(engine);
  }
}

/** MariaDB and MySQL images share the entrypoint contract, paths and uid; names differ. */
function mysqlFamily(
  engine: 'mariadb' | 'mysql',
  image: string,
  admin: 'mariadb-admin' | 'mysqladmin',
  passwordEnv: string,
  env: Record<string, string>,
): EngineProfile {
  const port = ENGINE_PORTS[engine];
  // The admin tool reads MYSQL_PWD (both engines). It is set for the probe only: in the
  // container's own env it would break the entrypoint's first, password-less connection while
  // it initializes.
  const ping = [
    'sh',
    '-c',
    `MYSQL_PWD="$${passwordEnv}" exec ${admin} ping --silent -u root -h 127.0.0.1 -P ${port}`,
  ];
  return {
    engine,
    image,
    port,
    dataMountPath: MYSQL_DATA_MOUNT,
    // A subdirectory for the same reason as PGDATA: initializing aborts on a data directory
    // holding lost+found. The config file sets datadir, which the entrypoint reads too.
    dataDir: `${MYSQL_DATA_MOUNT}/data`,
    configMountPath: MYSQL_CONFIG_DIR,
    configFileName: 'my.cnf',
    // server_id = "1" followed by the ordinal (10, 11, …): unique per member and never 0, which
    // would make a source refuse replicas; the kubelet can concatenate but not add.
    args: [`--server-id=1$(${POD_INDEX_ENV})`],
    passwordEnv,
    env,
    fieldEnv: { [POD_INDEX_ENV]: `metadata.labels['${POD_INDEX_LABEL}']` },
    superuser: 'root',
    uid: 999,
    readinessCommand: ping,
    livenessCommand: ping,
    replicaBootstrap: 'replicate',
    configMount: 'file',
    hbaFile: false,
  };
}

/**
 * Pod security context of every pod running an engine image (members, backup, restore Jobs).
 * The official images run their engine as uid/gid 999 and support starting as it directly;
 * fsGroup makes a fresh volume writable for it.
 */
export function podSecurityContext(profile: EngineProfile): V1PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: profile.uid,
    runAsGroup: profile.uid,
    fsGroup: profile.uid,
    // Skips the recursive chown of a large data volume on every start once ownership is right.
    fsGroupChangePolicy: 'OnRootMismatch',
    seccompProfile: { type: 'RuntimeDefault' },
  };
}
