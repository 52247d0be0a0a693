import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inspect } from 'node:util';
import { ApplicationFailure } from '@temporalio/activity';
import { toReport } from '../activities/replication';
import { EngineCredentials, redact } from './credentials';
import { classifyEngineError, EngineFailureTypes } from './errors';
import { checkedDialect, dialectFor, nativePasswordHash, replicaState } from './mysql';
import { scramVerifier, scramVerifierMatches, slotName } from './postgres';
import { addressMapResolver, clusterResolver, memberHost, parseAddressMap } from './resolver';

const member = (ordinal: number, engine: 'postgres' | 'mysql' = 'postgres') => ({
  namespace: 'shop',
  database: 'orders',
  ordinal,
  engine,
});

describe('resolver', () => {
  it('names a member through the headless Service', () => {
    expect(memberHost(member(2))).toBe('orders-2.orders-headless.shop.svc');
  });

  it('reaches members by DNS name and engine port in a cluster', () => {
    const resolve = clusterResolver();
    expect(resolve(member(0))).toEqual({ host: 'orders-0.orders-headless.shop.svc', port: 5432 });
    expect(resolve(member(1, 'mysql'))).toEqual({ host: 'orders-1.orders-headless.shop.svc', port: 3306 });
  });

  it('reads an address map, follows its changes, and falls back to DNS for absent members', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'resolver-'));
    const file = path.join(dir, 'engine-addresses.json');
    const resolve = addressMapResolver(file);
    // No file yet: as in a cluster.
    expect(resolve(member(0))).toEqual(clusterResolver()(member(0)));
    fs.writeFileSync(file, JSON.stringify({ [memberHost(member(0))]: '127.0.0.1:40001' }));
    expect(resolve(member(0))).toEqual({ host: '127.0.0.1', port: 40001 });
    expect(resolve(member(1))).toEqual(clusterResolver()(member(1)));
    fs.writeFileSync(
      file,
      JSON.stringify({
        [memberHost(member(0))]: '127.0.0.1:40002',
        [memberHost(member(1))]: '127.0.0.1:40003',
      }),
    );
    // A rewrite within the same mtime tick would go unseen: move the mtime on explicitly.
    const later = new Date(Date.now() + 5_000);
    fs.utimesSync(file, later, later);
    expect(resolve(member(0))).toEqual({ host: '127.0.0.1', port: 40002 });
    expect(resolve(member(1))).toEqual({ host: '127.0.0.1', port: 40003 });
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('rejects a malformed address map', () => {
    expect(() => parseAddressMap('[]')).toThrow(/JSON object/);
    expect(() => parseAddressMap('{"a": "no-port"}')).toThrow(/a: expected/);
  });
});

describe('credentials', () => {
  const creds = new EngineCredentials('postgres', 'pw-super-1', 'replicator', 'pw-repl-2');

  it('never print or serialise the passwords', () => {
    expect(JSON.stringify({ creds })).not.toMatch(/pw-/);
    expect(inspect(creds)).not.toMatch(/pw-/);
    expect(`${JSON.stringify(creds)}`).toContain('postgres/replicator');
  });

  it('are blanked out of messages', () => {
    expect(redact("near 'pw-repl-2' at line 1; pw-super-1", creds.secrets())).toBe(
      "near '***' at line 1; ***",
    );
  });
});

describe('classifyEngineError', () => {
  const secrets = ['s3cret'];
  const classify = (err: object) => classifyEngineError(err, 'do it', secrets);

  it.each([
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 127.0.0.1:5432' }],
    [{ code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND orders-0.orders-headless.shop.svc' }],
    [{ message: 'timeout expired' }],
    [{ code: '57P03', message: 'the database system is starting up' }],
    [{ code: 'PROTOCOL_CONNECTION_LOST', message: 'Connection lost' }],
  ])('retries what may pass: %j', (err) => {
    const f = classify(err);
    expect(f.nonRetryable).toBe(false);
    expect(f.type).toBe(EngineFailureTypes.Unavailable);
  });

  it('retries an authentication failure, saying the engine may still be initialising', () => {
    for (const code of ['28P01', 'ER_ACCESS_DENIED_ERROR']) {
      const f = classify({ code, message: 'password authentication failed for user "postgres"' });
      expect(f.nonRetryable).toBe(false);
      expect(f.type).toBe(EngineFailureTypes.AuthFailed);
      expect(f.message).toMatch(/may still be initialising/);
    }
  });

  it('gives up on what the engine rejects, without the secret the statement held', () => {
    for (const code of ['42601', '42501', 'ER_PARSE_ERROR', 'ER_SPECIFIC_ACCESS_DENIED_ERROR']) {
      const f = classify({ code, message: "syntax error at or near 's3cret'" });
      expect(f.nonRetryable).toBe(true);
      expect(f.type).toBe(EngineFailureTypes.Rejected);
      expect(f.message).not.toContain('s3cret');
    }
  });

  it('passes an ApplicationFailure through', () => {
    const f = ApplicationFailure.nonRetryable('x', 'Y');
    expect(classifyEngineError(f, 'do it', secrets)).toBe(f);
  });
});

describe('SCRAM-SHA-256 verifier', () => {
  it('has the format PostgreSQL stores and matches only its password', () => {
    const v = scramVerifier('correct horse');
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(v).not.toContain('correct horse');
    expect(scramVerifierMatches(v, 'correct horse')).toBe(true);
    expect(scramVerifierMatches(v, 'battery staple')).toBe(false);
    expect(scramVerifierMatches('md5abcdef', 'correct horse')).toBe(false);
    expect(scramVerifierMatches(null, 'correct horse')).toBe(false);
  });

  it('is deterministic for a given salt (RFC 7677 construction)', () => {
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    expect(scramVerifier('pencil', salt)).toBe(scramVerifier('pencil', salt));
    expect(scramVerifier('pencil', salt)).not.toBe(scramVerifier('pencil', salt, 8192));
  });

  it('names slots after the ordinal, as the init container does', () => {
    expect(slotName(2)).toBe('replica_2');
  });
});

describe('MySQL dialects', () => {
  it('tells MariaDB, modern MySQL and older MySQL 8 apart', () => {
    expect(dialectFor('mariadb', '10.11.6-MariaDB-0+deb12u1')).toMatchObject({
      flavor: 'mariadb',
      showStatus: 'SHOW SLAVE STATUS',
      start: 'START SLAVE',
    });
    expect(dialectFor('mariadb', '10.11.6-MariaDB').change).toContain('MASTER_USE_GTID = slave_pos');
    const modern = dialectFor('mysql', '8.0.36');
    expect(modern).toMatchObject({
      flavor: 'mysql',
      showStatus: 'SHOW REPLICA STATUS',
      start: 'START REPLICA',
    });
    expect(modern.change).toContain('CHANGE REPLICATION SOURCE TO');
    expect(modern.change).toContain('SOURCE_AUTO_POSITION = 1');
    expect(modern.readOnly).toEqual(['SET PERSIST read_only = ON', 'SET PERSIST super_read_only = ON']);
    expect(dialectFor('mysql', '8.4.2').start).toBe('START REPLICA');
    const old = dialectFor('mysql', '8.0.20');
    expect(old.change).toContain('CHANGE MASTER TO');
    expect(old.change).toContain('MASTER_AUTO_POSITION = 1');
  });

  it('speaks MariaDB for engine: mariadb (10.11 and 11.8), whatever MySQL-like version it sees', () => {
    for (const version of ['10.11.19-MariaDB-0+deb12u1', '11.8.3-MariaDB-0+deb13u1']) {
      const d = checkedDialect('mariadb', version);
      expect(d.flavor).toBe('mariadb');
      expect(d.change).toContain('MASTER_USE_GTID = slave_pos');
      expect(d.readOnly).toEqual(['SET GLOBAL read_only = ON']);
    }
    // By construction: the engine decides the dialect, the version only MySQL's wording.
    expect(dialectFor('mariadb', '8.0.36').flavor).toBe('mariadb');
    expect(dialectFor('mysql', '8.4.2').change).toContain('SOURCE_AUTO_POSITION = 1');
  });

  it('refuses, in words and for good, a server of the other engine', () => {
    expect(() => checkedDialect('mariadb', '8.4.2')).toThrow(
      /engine: mariadb, but the server is not MariaDB/,
    );
    expect(() => checkedDialect('mysql', '11.8.3-MariaDB')).toThrow(
      /server is MariaDB 11\.8\.3-MariaDB: use engine: mariadb/,
    );
    try {
      checkedDialect('mysql', '10.11.19-MariaDB');
    } catch (err) {
      expect(err).toMatchObject({ nonRetryable: true, type: 'EngineMismatch' });
    }
    expect.assertions(3);
  });

  it('hands MariaDB a password hash, MySQL (which hashes binlogged passwords itself) the password', () => {
    // The well-known PASSWORD('password') of mysql_native_password.
    expect(nativePasswordHash('password')).toBe('*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19');
    expect(dialectFor('mariadb', '10.11.6-MariaDB').identifiedBy('password')).toEqual({
      clause: 'IDENTIFIED BY PASSWORD ?',
      value: '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19',
    });
    expect(dialectFor('mysql', '8.0.36').identifiedBy('pw')).toEqual({
      clause: 'IDENTIFIED BY ?',
      value: 'pw',
    });
  });

  it('reads replica state from a status row', () => {
    const maria = dialectFor('mariadb', '10.11.6-MariaDB');
    expect(replicaState(maria, undefined)).toEqual({ state: 'not configured', streaming: false });
    expect(replicaState(maria, { Slave_IO_Running: 'Yes', Slave_SQL_Running: 'Yes' } as never)).toEqual({
      state: 'streaming',
      streaming: true,
    });
    const broken = replicaState(dialectFor('mysql', '8.0.36'), {
      Replica_IO_Running: 'Connecting',
      Replica_SQL_Running: 'Yes',
      Last_IO_Error: "error connecting to source 'replicator@orders-0:3306'",
    } as never);
    expect(broken.streaming).toBe(false);
    expect(broken.state).toMatch(/^io Connecting, sql Yes: error connecting/);
  });
});

describe('toReport', () => {
  it('is ready when every replica streams and nothing is pending', () => {
    const report = toReport(
      { name: 'orders' },
      {
        members: [
          { ordinal: 1, role: 'replica', state: 'streaming', streaming: true },
          { ordinal: 0, role: 'primary', state: 'writable', streaming: true },
        ],
        pending: [],
        changes: ['created slot replica_1'],
        removed: [],
      },
    );
    expect(report).toEqual({
      ready: true,
      message: '1 replica(s) streaming from orders-0',
      members: [
        { name: 'orders-0', role: 'primary', state: 'writable' },
        { name: 'orders-1', role: 'replica', state: 'streaming' },
      ],
      changes: ['created slot replica_1'],
      removed: [],
    });
  });

  it('says what is in the way otherwise', () => {
    const report = toReport(
      { name: 'orders' },
      {
        members: [
          { ordinal: 0, role: 'primary', state: 'writable', streaming: true },
          { ordinal: 1, role: 'replica', state: 'not connected', streaming: false },
        ],
        pending: ['slot replica_2 is still in use by a departing member'],
        changes: [],
        removed: [],
      },
    );
    expect(report.ready).toBe(false);
    expect(report.message).toBe(
      'orders-1 not connected; slot replica_2 is still in use by a departing member',
    );
  });
});
