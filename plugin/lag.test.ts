import { parseMysqlLag, parsePostgresLag } from './lag';

describe('replication lag parsers', () => {
  it('maps PostgreSQL slots replica_<n> to members', () => {
    const lags = parsePostgresLag('orders', 'replica_1|0.002|0\nreplica_2|12.5|4096\n\n');
    expect([...lags]).toEqual([
      ['orders-1', { seconds: 0.002, bytes: 0 }],
      ['orders-2', { seconds: 12.5, bytes: 4096 }],
    ]);
  });

  it('reads Seconds_Behind_Master / _Source, and says when replication is stopped', () => {
    expect(parseMysqlLag('*** 1. row ***\n  Seconds_Behind_Master: 3\n')).toEqual({ seconds: 3 });
    expect(parseMysqlLag('Seconds_Behind_Source: 0')).toEqual({ seconds: 0 });
    expect(parseMysqlLag('Seconds_Behind_Master: NULL')).toEqual({ error: 'replication stopped' });
    expect(parseMysqlLag('')).toEqual({ error: 'not a replica' });
  });
});
