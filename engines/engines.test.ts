import dgram from 'node:dgram';
import { inspect } from 'node:util';
import { ApplicationFailure } from '@temporalio/activity';
import { EngineCredentials, redact } from './credentials';
import { classifyEngineError, EngineFailureTypes } from './errors';
import { checkedDialect, dialectFor, nativePasswordHash, replicaState } from './mysql';
import {
  conninfoWithHost,
  scramVerifier,
  scramVerifierMatches,
  slotName,
  synchronousStandbyNames,
} from './postgres';
import { clusterDnsResolver, clusterResolver, memberHost } from './resolver';

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

  it('reaches members by DNS name and engine port in a cluster', async () => {
    const resolve = clusterResolver();
    await expect(resolve(member(0))).resolves.toEqual({
      host: 'orders-0.orders-headless.shop.svc',
      port: 5432,
    });
    await expect(resolve(member(1, 'mysql'))).resolves.toEqual({
      host: 'orders-1.orders-headless.shop.svc',
      port: 3306,
    });
  });

  it('resolves members at the cluster DNS server, fully qualified, and names the member when it cannot', async () => {
    const dns = await tinyDnsServer({ 'orders-0.orders-headless.shop.svc.cluster.local': '10.88.1.7' });
    try {
      const resolve = clusterDnsResolver(`127.0.0.1:${dns.port}`);
      await expect(resolve(member(0))).resolves.toEqual({ host: '10.88.1.7', port: 5432 });
      expect(dns.asked).toContain('orders-0.orders-headless.shop.svc.cluster.local');
      await expect(resolve(member(1))).rejects.toThrow(
        /cannot resolve orders-1\.orders-headless\.shop\.svc at the cluster DNS 127\.0\.0\.1:\d+: ENOTFOUND/,
      );
    } finally {
      dns.close();
    }
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

/**
 * A DNS server on loopback that answers A queries for `records` and NXDOMAIN for every other name
 * (RFC 1035 wire format, one question per query, as node's resolver sends them).
 */
async function tinyDnsServer(records: Record<string, string>) {
  const socket = dgram.createSocket('udp4');
  const asked: string[] = [];
  socket.on('message', (msg, peer) => {
    const labels: string[] = [];
    let at = 12;
    while (msg[at]! > 0) {
      labels.push(msg.subarray(at + 1, at + 1 + msg[at]!).toString('ascii'));
      at += msg[at]! + 1;
    }
    const questionEnd = at + 5;
    const name = labels.join('.').toLowerCase();
    asked.push(name);
    const address = msg.readUInt16BE(at + 1) === 1 ? records[name] : undefined;
    const header = Buffer.from(msg.subarray(0, 12));
    header.writeUInt16BE(0x8180 | (address ? 0 : 3), 2); // response, recursion available, NXDOMAIN
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(address ? 1 : 0, 6);
    header.writeUInt32BE(0, 8);
    const parts = [header, msg.subarray(12, questionEnd)];
    if (address) {
      const answer = Buffer.alloc(16);
      answer.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
      answer.writeUInt16BE(1, 2);
      answer.writeUInt16BE(1, 4);
      answer.writeUInt32BE(5, 6);
      answer.writeUInt16BE(4, 10);
      address.split('.').forEach((octet, k) => answer.writeUInt8(Number(octet), 12 + k));
      parts.push(answer);
    }
    socket.send(Buffer.concat(parts), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, asked, close: () => socket.close() };
}

describe('synchronousStandbyNames', () => {
  const standbys = [
    { ordinal: 0, name: 'orders-0' },
    { ordinal: 2, name: 'orders-2' },
  ];
  it('is empty without synchronous replication', () => {
    expect(synchronousStandbyNames(undefined, new Set([0, 2]))).toBe('');
  });
  it('required: every wanted standby, streaming or not', () => {
    expect(synchronousStandbyNames({ number: 1, dataDurability: 'required', standbys }, new Set())).toBe(
      'ANY 1 ("orders-0", "orders-2")',
    );
  });
  it('preferred: only the standbys that stream, the number capped at their count, none when none streams', () => {
    const sync = { number: 2, dataDurability: 'preferred' as const, standbys };
    expect(synchronousStandbyNames(sync, new Set([0, 2]))).toBe('ANY 2 ("orders-0", "orders-2")');
    expect(synchronousStandbyNames(sync, new Set([2]))).toBe('ANY 1 ("orders-2")');
    expect(synchronousStandbyNames(sync, new Set())).toBe('');
  });
  it('refuses a name that is not a member name rather than quoting it', () => {
    expect(() =>
      synchronousStandbyNames(
        { number: 1, dataDurability: 'required', standbys: [{ ordinal: 1, name: 'x", "y' }] },
        new Set(),
      ),
    ).toThrow(/not a member name/);
  });
});

describe('conninfoWithHost', () => {
  const written =
    "user=replicator password='pa ss\\'w\\\\d' channel_binding=prefer connect_timeout=5 " +
    "host='pg-primary.ns.svc' port=5432 sslmode=prefer target_session_attrs=any";

  it('sets the host and keeps every other keyword, the password with its quotes and escapes', () => {
    const next = conninfoWithHost(written, 'pg-0.pg-headless.ns.svc');
    expect(next).toBe(
      "host='pg-0.pg-headless.ns.svc' user='replicator' password='pa ss\\'w\\\\d' channel_binding='prefer' " +
        "connect_timeout='5' port='5432' sslmode='prefer' target_session_attrs='any'",
    );
    // Rewriting again (back to the Service) gives back the same keywords.
    expect(conninfoWithHost(next, 'pg-primary.ns.svc')).toBe(conninfoWithHost(written, 'pg-primary.ns.svc'));
  });

  it('drops hostaddr, which libpq would dial instead of the name', () => {
    expect(conninfoWithHost('hostaddr=10.0.0.1 host=a port=5432', 'b')).toBe("host='b' port='5432'");
  });

  it('refuses what is not keyword=value pairs rather than guess', () => {
    expect(() => conninfoWithHost("host='unterminated", 'b')).toThrow(/not keyword=value/);
    expect(() => conninfoWithHost('postgresql://u@h/db', 'b')).toThrow(/not keyword=value/);
  });
});
