import { ENGINES, parseDatabaseSpec } from './database';
import { describeValue, parameterProblem, parameterRules, valueAllowed } from './parameter-rules';
import { allSamples } from './parameter-samples';
import { ALLOWED_PARAMETERS, OPERATOR_OWNED, PARAMETER_NAME_PATTERN } from './parameters';
import { BEGIN_MARKER, END_MARKER, parametersMarkdown } from './parameters-doc';
import * as fs from 'node:fs';
import { README } from './generate';

describe('the allow-list', () => {
  it.each(ENGINES)('%s: canonical names only, none of them the operator’s', (engine) => {
    const names = Object.keys(ALLOWED_PARAMETERS[engine]);
    expect(names.length).toBeGreaterThan(40);
    for (const name of names) expect(name).toMatch(PARAMETER_NAME_PATTERN);
    for (const owned of OPERATOR_OWNED[engine]) expect(names).not.toContain(owned);
  });

  it.each([
    [
      'postgres',
      [
        'archive_command',
        'restore_command',
        'archive_cleanup_command',
        'shared_preload_libraries',
        'session_preload_libraries',
        'local_preload_libraries',
        'ssl_passphrase_command',
        'dynamic_library_path',
        'jit_provider',
        'search_path',
        'log_statement',
        'password_encryption',
        'data_directory',
        'hba_file',
        'include',
        'include_dir',
        'log_directory',
        'fsync',
        'full_page_writes',
        'listen_addresses',
        'port',
      ],
    ],
    [
      'mariadb',
      [
        'init_file',
        'init_connect',
        'plugin_load_add',
        'plugin_load',
        'plugin_dir',
        'skip_grant_tables',
        'loose_skip_grant_tables',
        'loose_port',
        'skip_log_bin',
        'secure_file_priv',
        'local_infile',
        'general_log_file',
        'slow_query_log_file',
        'bind_address',
        'server_id',
        'datadir',
      ],
    ],
    [
      'mysql',
      [
        'init_file',
        'plugin_load_add',
        'skip_grant_tables',
        'loose_bind_address',
        'maximum_max_connections',
        'enable_named_pipe',
        'disable_log_bin',
        'gtid_mode',
        'log_bin',
      ],
    ],
  ] as const)('%s: refuses settings that run programs, read files or weaken security', (engine, names) => {
    for (const name of names) {
      expect([name, parameterProblem(engine, name, 'x')]).toEqual([
        name,
        `not a setting users may set for ${engine}`,
      ]);
    }
  });
});

describe.each(ENGINES)('values of every %s setting', (engine) => {
  it.each(allSamples(engine).map((s) => [s.name, s] as const))('%s', (name, samples) => {
    const type = ALLOWED_PARAMETERS[engine][name]!;
    for (const value of samples.valid)
      expect([value, valueAllowed(engine, type, value)]).toEqual([value, true]);
    for (const value of samples.invalid)
      expect([value, valueAllowed(engine, type, value)]).toEqual([value, false]);
  });
});

describe('units and bounds', () => {
  const pg = (name: string, value: string) => parameterProblem('postgres', name, value);
  const maria = (name: string, value: string) => parameterProblem('mariadb', name, value);

  it('reads postgres sizes in the setting’s base unit, with case-sensitive units', () => {
    // shared_buffers counts 8kB blocks: 16 of them are the 128kB minimum.
    expect(pg('shared_buffers', '16')).toBeUndefined();
    expect(pg('shared_buffers', '15')).toMatch(/^must be a size from 128kB to 1TB/);
    expect(pg('shared_buffers', '1TB')).toBeUndefined();
    expect(pg('shared_buffers', '1025GB')).toBeDefined();
    expect(pg('work_mem', '8MB')).toBeUndefined();
    expect(pg('work_mem', '8mb')).toBeDefined();
    expect(pg('work_mem', '63kB')).toBeDefined();
    expect(pg('max_wal_size', '1GB')).toBeUndefined();
    expect(pg('temp_file_limit', '-1')).toBeUndefined();
    expect(pg('work_mem', '-1')).toBeDefined();
  });

  it('reads postgres durations, microseconds truncated to milliseconds as postgres rounds them', () => {
    expect(pg('checkpoint_timeout', '30')).toBeUndefined();
    expect(pg('checkpoint_timeout', '29s')).toBeDefined();
    expect(pg('checkpoint_timeout', '1d')).toBeUndefined();
    expect(pg('checkpoint_timeout', '25h')).toBeDefined();
    expect(pg('statement_timeout', '5min')).toBeUndefined();
    expect(pg('bgwriter_delay', '10999us')).toBeUndefined();
    expect(pg('bgwriter_delay', '9999us')).toBeDefined();
    expect(pg('log_min_duration_statement', '-1')).toBeUndefined();
  });

  it('reads mysql sizes in bytes, with K, M or G in either case', () => {
    expect(maria('innodb_buffer_pool_size', '128M')).toBeUndefined();
    expect(maria('innodb_buffer_pool_size', '1g')).toBeUndefined();
    expect(maria('innodb_buffer_pool_size', '4M')).toMatch(/^must be a size from 5M to 1024G/);
    expect(maria('max_allowed_packet', '1073741824')).toBeUndefined();
    expect(maria('max_allowed_packet', '1073741825')).toBeDefined();
    expect(maria('max_allowed_packet', '2G')).toBeDefined();
  });

  it('takes booleans and enums in any case, as the engines do', () => {
    expect(pg('jit', 'Off')).toBeUndefined();
    expect(pg('synchronous_commit', 'REMOTE_APPLY')).toBeUndefined();
    expect(pg('default_transaction_isolation', 'repeatable read')).toBeUndefined();
    expect(maria('transaction_isolation', 'read-committed')).toBeUndefined();
    expect(maria('skip_name_resolve', '')).toBeUndefined();
    expect(pg('jit', '')).toBeDefined();
  });

  it('describes each type in words', () => {
    expect(describeValue('postgres', ALLOWED_PARAMETERS.postgres.max_connections!)).toBe(
      'an integer from 10 to 10000',
    );
    expect(describeValue('postgres', ALLOWED_PARAMETERS.postgres.work_mem!)).toBe(
      'a size from 64kB to 2147483647kB, a whole number with unit kB, MB, GB or TB (a bare number counts 1kB)',
    );
    expect(describeValue('mysql', ALLOWED_PARAMETERS.mysql.max_allowed_packet!)).toBe(
      'a size from 1K to 1G, a whole number of bytes or with suffix K, M or G',
    );
  });
});

describe('the spec rules', () => {
  it('name the settings that are not allowed, for the engine of the spec', () => {
    const result = parseDatabaseSpec({
      engine: 'postgres',
      version: '17',
      parameters: { archive_command: 'sh -c id', work_mem: '8MB' },
    });
    expect(result).toEqual({
      ok: false,
      message:
        'spec.parameters: archive_command is not a setting users may set for postgres; allowed: kubectl explain databases.spec.parameters, or the README (Engine parameters)',
    });
    const two = parseDatabaseSpec({
      engine: 'mariadb',
      version: '11.8',
      parameters: { loose_skip_grant_tables: '', init_file: '/tmp/x', max_connections: '50' },
    });
    expect(two.ok ? '' : two.message).toContain(
      'spec.parameters: init_file and 1 other key are not settings users may set for mariadb',
    );
    // A postgres setting on a mysql Database.
    const other = parseDatabaseSpec({ engine: 'mysql', version: '8.4', parameters: { work_mem: '8MB' } });
    expect(other.ok ? '' : other.message).toContain('work_mem is not a setting users may set for mysql');
  });

  it('report a value on its own field', () => {
    const result = parseDatabaseSpec({
      engine: 'postgres',
      version: '17',
      parameters: { max_connections: '5' },
    });
    expect(result).toEqual({
      ok: false,
      message: 'spec.parameters[max_connections]: max_connections must be an integer from 10 to 10000',
    });
  });

  it('accept allowed settings with good values on every engine', () => {
    for (const engine of ENGINES) {
      const params = Object.fromEntries(
        allSamples(engine)
          .map((s) => [s.name, s.valid[0]!])
          .slice(0, 100),
      );
      expect([
        engine,
        parseDatabaseSpec({ engine, version: engine === 'postgres' ? '17' : '8.4', parameters: params }).ok,
      ]).toEqual([engine, true]);
    }
  });

  it('are one CEL rule per engine for names and one per setting for values', () => {
    const rules = parameterRules();
    const shared = Object.keys(ALLOWED_PARAMETERS.mysql).filter((n) => n in ALLOWED_PARAMETERS.mariadb);
    const distinct = new Set([
      ...Object.keys(ALLOWED_PARAMETERS.postgres).map((n) => `pg ${n}`),
      ...[...Object.keys(ALLOWED_PARAMETERS.mariadb), ...Object.keys(ALLOWED_PARAMETERS.mysql)].map(
        (n) => `my ${n}`,
      ),
    ]);
    expect(rules).toHaveLength(ENGINES.length + distinct.size);
    expect(shared.length).toBeGreaterThan(40);
    for (const rule of rules) {
      expect(rule.rule).not.toMatch(/\n/);
      expect(rule.message.length).toBeLessThan(300);
    }
  });
});

describe('the README', () => {
  it('lists the allowed settings as generated from the list (regenerate: npx tsx crds/generate.ts)', () => {
    const readme = fs.readFileSync(README, 'utf8');
    const block = readme.slice(
      readme.indexOf(BEGIN_MARKER) + BEGIN_MARKER.length,
      readme.indexOf(END_MARKER),
    );
    expect(block.trim()).toBe(parametersMarkdown().trim());
    for (const engine of ENGINES) {
      for (const name of Object.keys(ALLOWED_PARAMETERS[engine])) expect(block).toContain(`- \`${name}\``);
    }
  });
});
