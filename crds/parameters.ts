import type { Engine } from './engines';

/**
 * The engine settings users may set in `spec.parameters`, per engine: the one source of truth.
 * The CRD's CEL rules (parameter-rules.ts), the zod mirror of those rules, the renderer of
 * postgresql.conf / my.cnf and the README's list are all derived from the tables below.
 *
 * An allow-list, not a deny-list (DESIGN.md, rule 9): a setting is here because it tunes the
 * engine and nothing else. Left out on purpose, among others:
 * - settings that run programs or load code: archive_command, restore_command,
 *   archive_cleanup_command, ssl_passphrase_command, *_preload_libraries, dynamic_library_path,
 *   jit_provider (postgres); init_file, init_connect, plugin_load(_add), plugin_dir (mysql);
 * - settings that read or write files the operator does not manage: include*, data_directory,
 *   hba_file, log_directory, ssl_*, secure_file_priv, general_log_file, slow_query_log_file;
 * - settings that weaken security or the operator's own sessions (which run as the superuser):
 *   search_path (would resolve the operator's unqualified function calls in a user schema first),
 *   password_encryption, log_statement (would log the operator's password statements),
 *   local_infile, skip_grant_tables, skip_networking, default_transaction_read_only;
 * - settings that lose data silently: fsync, full_page_writes, innodb_doublewrite;
 * - the settings the operator owns (OPERATOR_OWNED): the wiring of ports, paths, replication.
 *
 * Names are written exactly as the engines' documentation and `SHOW`/`@@` print them: lowercase,
 * words joined by `_`. Both engines would also take other spellings (`Max_Connections`, mysql's
 * `max-connections`, `loose_`/`skip_`/`enable_`/`maximum_` prefixes), but a second spelling could
 * override the first or slip a prefixed variant past the list, so the CRD accepts the canonical
 * name only and says so.
 *
 * Every setting here must be known to every supported major of its engine (postgres 13–17,
 * MariaDB 10.11–11.8, MySQL 8.0–8.4): MariaDB refuses to start on an option it does not know,
 * and postgres on a setting it does not know.
 */

/** A setting's value type. Bounds of sizes are in bytes, of durations in milliseconds. */
export type SettingType =
  | { kind: 'integer'; min: number; max: number; special?: readonly string[] }
  | { kind: 'real'; min: number; max: number }
  | { kind: 'boolean' }
  | { kind: 'enum'; values: readonly string[] }
  /** `base`: what a number without a unit counts, in bytes (postgres only; mysql counts bytes). */
  | { kind: 'size'; min: number; max: number; base?: number; special?: readonly string[] }
  /** postgres only. `base`: what a number without a unit counts, in ms. */
  | { kind: 'duration'; min: number; max: number; base: number; special?: readonly string[] }
  | { kind: 'text'; pattern: RegExp; maxLength: number; describe: string; example: string };

export type Settings = Readonly<Record<string, SettingType>>;

/** Longest value any setting takes: bounds the CEL cost of the rules on values. */
export const MAX_PARAMETER_VALUE_LENGTH = 256;

const KB = 1024;
const MB = 1024 * KB;
const GB = 1024 * MB;
const TB = 1024 * GB;
const INT_MAX = 2147483647;
const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

const int = (min: number, max: number, special?: readonly string[]): SettingType => ({
  kind: 'integer',
  min,
  max,
  ...(special && { special }),
});
const real = (min: number, max: number): SettingType => ({ kind: 'real', min, max });
const bool: SettingType = { kind: 'boolean' };
const oneOf = (...values: string[]): SettingType => ({ kind: 'enum', values });
const size = (min: number, max: number, base?: number, special?: readonly string[]): SettingType => ({
  kind: 'size',
  min,
  max,
  ...(base !== undefined && { base }),
  ...(special && { special }),
});
const ms = (min: number, max: number, base = 1, special?: readonly string[]): SettingType => ({
  kind: 'duration',
  min,
  max,
  base,
  ...(special && { special }),
});
const DISABLED = ['-1'] as const;
/** postgres' largest kB-counted size, INT_MAX kB. */
const PG_MAX_KB = INT_MAX * KB;
const PG_MAX_MB = INT_MAX * MB;
const PG_LOG_LEVELS = [
  'debug5',
  'debug4',
  'debug3',
  'debug2',
  'debug1',
  'info',
  'notice',
  'warning',
  'error',
  'log',
  'fatal',
  'panic',
];
const TIME_ZONE: SettingType = {
  kind: 'text',
  pattern: /^[A-Za-z][A-Za-z0-9_+\-/]{0,63}$/,
  maxLength: 64,
  describe: 'a time zone name, such as UTC or Europe/Paris',
  example: 'Europe/Paris',
};

const POSTGRES: Settings = {
  // Memory. Base units as postgres counts them: 8kB blocks, kB or MB.
  shared_buffers: size(128 * KB, TB, 8 * KB),
  effective_cache_size: size(8 * KB, 16 * TB, 8 * KB),
  temp_buffers: size(800 * KB, TB, 8 * KB),
  work_mem: size(64 * KB, PG_MAX_KB, KB),
  maintenance_work_mem: size(MB, PG_MAX_KB, KB),
  autovacuum_work_mem: size(MB, PG_MAX_KB, KB, DISABLED),
  logical_decoding_work_mem: size(64 * KB, PG_MAX_KB, KB),
  hash_mem_multiplier: real(1, 1000),
  huge_pages: oneOf('off', 'on', 'try'),
  temp_file_limit: size(0, PG_MAX_KB, KB, DISABLED),
  // Connections and workers.
  max_connections: int(10, 10000),
  max_worker_processes: int(0, 1024),
  max_parallel_workers: int(0, 1024),
  max_parallel_workers_per_gather: int(0, 1024),
  max_parallel_maintenance_workers: int(0, 1024),
  parallel_leader_participation: bool,
  max_locks_per_transaction: int(10, 100000),
  max_pred_locks_per_transaction: int(10, 100000),
  max_prepared_transactions: int(0, 10000),
  tcp_keepalives_idle: ms(0, INT_MAX * SECOND, SECOND),
  tcp_keepalives_interval: ms(0, INT_MAX * SECOND, SECOND),
  tcp_keepalives_count: int(0, INT_MAX),
  // WAL and checkpoints (wal_level, max_wal_senders, max_replication_slots: the operator's).
  max_wal_size: size(32 * MB, PG_MAX_MB, MB),
  min_wal_size: size(32 * MB, PG_MAX_MB, MB),
  wal_keep_size: size(0, PG_MAX_MB, MB),
  max_slot_wal_keep_size: size(0, PG_MAX_MB, MB, DISABLED),
  wal_buffers: size(32 * KB, GB, 8 * KB, DISABLED),
  wal_compression: bool,
  wal_log_hints: bool,
  wal_writer_delay: ms(1, 10 * SECOND),
  checkpoint_timeout: ms(30 * SECOND, DAY, SECOND),
  checkpoint_completion_target: real(0, 1),
  commit_delay: int(0, 100000),
  commit_siblings: int(0, 1000),
  synchronous_commit: oneOf('on', 'off', 'local', 'remote_write', 'remote_apply'),
  hot_standby_feedback: bool,
  max_standby_streaming_delay: ms(0, INT_MAX, 1, DISABLED),
  max_standby_archive_delay: ms(0, INT_MAX, 1, DISABLED),
  wal_receiver_timeout: ms(0, INT_MAX),
  wal_sender_timeout: ms(0, INT_MAX),
  bgwriter_delay: ms(10, 10 * SECOND),
  bgwriter_lru_maxpages: int(0, 1073741823),
  bgwriter_lru_multiplier: real(0, 10),
  // Planner.
  random_page_cost: real(0, 1000000),
  seq_page_cost: real(0, 1000000),
  cpu_tuple_cost: real(0, 1000000),
  cpu_index_tuple_cost: real(0, 1000000),
  cpu_operator_cost: real(0, 1000000),
  parallel_setup_cost: real(0, 1000000000),
  parallel_tuple_cost: real(0, 1000000000),
  effective_io_concurrency: int(0, 1000),
  default_statistics_target: int(1, 10000),
  from_collapse_limit: int(1, 1000),
  join_collapse_limit: int(1, 1000),
  geqo: bool,
  geqo_threshold: int(2, 1000),
  jit: bool,
  constraint_exclusion: oneOf('on', 'off', 'partition'),
  plan_cache_mode: oneOf('auto', 'force_generic_plan', 'force_custom_plan'),
  enable_bitmapscan: bool,
  enable_hashagg: bool,
  enable_hashjoin: bool,
  enable_incremental_sort: bool,
  enable_indexonlyscan: bool,
  enable_indexscan: bool,
  enable_material: bool,
  enable_mergejoin: bool,
  enable_nestloop: bool,
  enable_parallel_append: bool,
  enable_parallel_hash: bool,
  enable_partition_pruning: bool,
  enable_partitionwise_aggregate: bool,
  enable_partitionwise_join: bool,
  enable_seqscan: bool,
  enable_sort: bool,
  enable_tidscan: bool,
  // Vacuum.
  autovacuum: bool,
  autovacuum_max_workers: int(1, 100),
  autovacuum_naptime: ms(SECOND, 2147483 * SECOND, SECOND),
  autovacuum_vacuum_threshold: int(0, INT_MAX),
  autovacuum_vacuum_insert_threshold: int(0, INT_MAX, DISABLED),
  autovacuum_analyze_threshold: int(0, INT_MAX),
  autovacuum_vacuum_scale_factor: real(0, 100),
  autovacuum_vacuum_insert_scale_factor: real(0, 100),
  autovacuum_analyze_scale_factor: real(0, 100),
  autovacuum_freeze_max_age: int(100000, 2000000000),
  autovacuum_vacuum_cost_delay: ms(0, 100, 1, DISABLED),
  autovacuum_vacuum_cost_limit: int(1, 10000, DISABLED),
  vacuum_cost_delay: ms(0, 100),
  vacuum_cost_limit: int(1, 10000),
  vacuum_freeze_min_age: int(0, 1000000000),
  vacuum_freeze_table_age: int(0, 2000000000),
  // Timeouts of client sessions.
  statement_timeout: ms(0, INT_MAX),
  lock_timeout: ms(0, INT_MAX),
  idle_in_transaction_session_timeout: ms(0, INT_MAX),
  deadlock_timeout: ms(1, INT_MAX),
  // Logging, to the container's output (no log files: logging_collector stays off).
  log_min_duration_statement: ms(0, INT_MAX, 1, DISABLED),
  log_autovacuum_min_duration: ms(0, INT_MAX, 1, DISABLED),
  log_checkpoints: bool,
  log_connections: bool,
  log_disconnections: bool,
  log_lock_waits: bool,
  log_temp_files: size(0, PG_MAX_KB, KB, DISABLED),
  log_min_messages: oneOf(...PG_LOG_LEVELS),
  log_min_error_statement: oneOf(...PG_LOG_LEVELS),
  log_error_verbosity: oneOf('terse', 'default', 'verbose'),
  log_line_prefix: {
    kind: 'text',
    pattern: /^[ -~]*$/,
    maxLength: 256,
    describe: 'printable ASCII, such as %m [%p] %u@%d',
    example: "%m [%p] %u@%d it's ",
  },
  log_timezone: TIME_ZONE,
  track_activities: bool,
  track_counts: bool,
  track_io_timing: bool,
  track_commit_timestamp: bool,
  track_functions: oneOf('none', 'pl', 'all'),
  // Client defaults.
  timezone: TIME_ZONE,
  datestyle: {
    kind: 'text',
    pattern: /^[A-Za-z]+(, ?[A-Za-z]+)?$/,
    maxLength: 32,
    describe: 'an output format and an order, such as ISO, MDY',
    example: 'ISO, MDY',
  },
  intervalstyle: oneOf('postgres', 'postgres_verbose', 'sql_standard', 'iso_8601'),
  bytea_output: oneOf('hex', 'escape'),
  default_transaction_isolation: oneOf(
    'serializable',
    'repeatable read',
    'read committed',
    'read uncommitted',
  ),
  default_text_search_config: {
    kind: 'text',
    pattern: /^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$/,
    maxLength: 128,
    describe: 'a schema-qualified configuration, such as pg_catalog.english',
    example: 'pg_catalog.english',
  },
};

/** What MariaDB (10.11–11.8) and MySQL (8.0, 8.4) both know, with the same meaning. */
const MYSQL_FAMILY: Settings = {
  // Memory. Sizes count bytes, with an optional suffix K, M or G.
  innodb_buffer_pool_size: size(5 * MB, TB),
  innodb_log_file_size: size(4 * MB, 512 * GB),
  innodb_log_buffer_size: size(MB, 4 * GB),
  max_allowed_packet: size(KB, GB),
  tmp_table_size: size(KB, 64 * GB),
  max_heap_table_size: size(16 * KB, 64 * GB),
  sort_buffer_size: size(32 * KB, 4 * GB),
  join_buffer_size: size(128, 4 * GB),
  read_buffer_size: size(8 * KB, 2147479552),
  read_rnd_buffer_size: size(8200, INT_MAX),
  // Connections.
  max_connections: int(10, 100000),
  max_connect_errors: int(1, 4294967295),
  max_prepared_stmt_count: int(0, 1048576),
  thread_cache_size: int(0, 16384),
  table_open_cache: int(1, 1048576),
  table_definition_cache: int(400, 2097152),
  skip_name_resolve: bool,
  connect_timeout: int(2, 31536000),
  wait_timeout: int(1, 31536000),
  interactive_timeout: int(1, 31536000),
  net_read_timeout: int(1, 31536000),
  net_write_timeout: int(1, 31536000),
  lock_wait_timeout: int(1, 31536000),
  // InnoDB.
  innodb_flush_log_at_trx_commit: oneOf('0', '1', '2'),
  innodb_lock_wait_timeout: int(1, 1073741824),
  innodb_io_capacity: int(100, 2000000),
  innodb_io_capacity_max: int(100, 4000000),
  innodb_read_io_threads: int(1, 64),
  innodb_write_io_threads: int(1, 64),
  innodb_purge_threads: int(1, 32),
  innodb_file_per_table: bool,
  innodb_adaptive_hash_index: bool,
  innodb_print_all_deadlocks: bool,
  innodb_autoinc_lock_mode: oneOf('0', '1', '2'),
  // Binary log (log_bin, binlog_format and the GTID settings are the operator's).
  sync_binlog: int(0, 4294967295),
  binlog_expire_logs_seconds: int(0, 8553600),
  // Diagnostics (to the data directory's default files: no file names).
  slow_query_log: bool,
  long_query_time: real(0, 31536000),
  log_queries_not_using_indexes: bool,
  performance_schema: bool,
  // Session defaults.
  autocommit: bool,
  transaction_isolation: oneOf('READ-UNCOMMITTED', 'READ-COMMITTED', 'REPEATABLE-READ', 'SERIALIZABLE'),
  sql_mode: {
    kind: 'text',
    pattern: /^([A-Za-z_]+(,[A-Za-z_]+)*)?$/,
    maxLength: 256,
    describe: 'mode names separated by commas, such as STRICT_TRANS_TABLES,NO_ZERO_DATE',
    example: 'STRICT_TRANS_TABLES,NO_ZERO_DATE',
  },
  character_set_server: {
    kind: 'text',
    pattern: /^[a-z0-9_]{1,32}$/,
    maxLength: 32,
    describe: 'a character set name, such as utf8mb4',
    example: 'utf8mb4',
  },
  collation_server: {
    kind: 'text',
    pattern: /^[a-z0-9_]{1,64}$/,
    maxLength: 64,
    describe: 'a collation name, such as utf8mb4_unicode_ci',
    example: 'utf8mb4_unicode_ci',
  },
  default_time_zone: {
    kind: 'text',
    pattern: /^(SYSTEM|[+-][0-9]{1,2}:[0-9]{2})$/,
    maxLength: 6,
    describe: 'SYSTEM or an offset such as +00:00 (named zones need time zone tables)',
    example: '+00:00',
  },
};

export const ALLOWED_PARAMETERS: Readonly<Record<Engine, Settings>> = {
  postgres: POSTGRES,
  mariadb: {
    ...MYSQL_FAMILY,
    gtid_domain_id: int(0, 4294967295),
    query_cache_type: oneOf('OFF', 'ON', 'DEMAND'),
    query_cache_size: size(0, 4 * GB),
  },
  mysql: {
    ...MYSQL_FAMILY,
    innodb_redo_log_capacity: size(8 * MB, 128 * GB),
  },
};

/**
 * Settings the operator renders itself, whatever `spec.parameters` says: the Services, probes,
 * volumes, entrypoint and replication depend on them. None of them is in ALLOWED_PARAMETERS (a
 * test checks), so a user's value is dropped and the operator's kept.
 */
const MYSQL_FAMILY_OWNED = ['bind_address', 'port', 'datadir', 'server_id', 'log_bin', 'binlog_format'];
export const OPERATOR_OWNED: Readonly<Record<Engine, readonly string[]>> = {
  postgres: [
    'listen_addresses',
    'port',
    'hba_file',
    'wal_level',
    'max_wal_senders',
    'max_replication_slots',
    'hot_standby',
    'synchronous_standby_names',
    'cluster_name',
  ],
  mariadb: [...MYSQL_FAMILY_OWNED, 'log_slave_updates', 'gtid_strict_mode'],
  mysql: [...MYSQL_FAMILY_OWNED, 'gtid_mode', 'enforce_gtid_consistency'],
};

/** A name as the CRD accepts it: lowercase words joined by `_` (no dots, dashes or capitals). */
export const PARAMETER_NAME_PATTERN = /^[a-z_][a-z0-9_]*$/;

export function allowedSetting(engine: Engine, name: string): SettingType | undefined {
  return Object.hasOwn(ALLOWED_PARAMETERS[engine], name) ? ALLOWED_PARAMETERS[engine][name] : undefined;
}

/** Names in `parameters` that are not settings users may set for `engine`, sorted. */
export function disallowedParameterNames(
  engine: Engine,
  parameters: Readonly<Record<string, string>>,
): string[] {
  return Object.keys(parameters)
    .filter((name) => allowedSetting(engine, name) === undefined)
    .sort();
}
