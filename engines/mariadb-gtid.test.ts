import {
  gtidCovers,
  gtidRank,
  gtidsMissingFrom,
  mariadbDivergedFrom,
  parseGtidList,
  replayServerId,
} from './mariadb-gtid';

describe('MariaDB GTID positions', () => {
  it('reads a list as the highest sequence number of each domain', () => {
    expect(parseGtidList('0-1-42, 1-3-7,0-2-40')).toEqual(
      new Map([
        [0, 42n],
        [1, 7n],
      ]),
    );
    expect(parseGtidList('')).toEqual(new Map());
    expect(() => parseGtidList('0-1-x')).toThrow('not a MariaDB GTID');
  });

  it('ranks positions by how far they reached, whichever server wrote the last GTID', () => {
    expect(gtidRank('0-1-100')).toBe(100n);
    expect(gtidRank('0-2-101') > gtidRank('0-1-100')).toBe(true);
    expect(gtidRank('0-1-100,1-1-5')).toBe(105n);
    expect(gtidRank('')).toBe(0n);
    // Beyond a double's exact range.
    expect(gtidRank('0-1-18446744073709551615')).toBe(18446744073709551615n);
  });

  it('says whether one position has everything another has, domain by domain', () => {
    expect(gtidCovers('0-1-100', '0-1-99')).toBe(true);
    expect(gtidCovers('0-2-100', '0-1-100')).toBe(true);
    expect(gtidCovers('0-1-99', '0-1-100')).toBe(false);
    expect(gtidCovers('0-1-100', '0-1-5,1-1-1')).toBe(false);
    expect(gtidCovers('', '')).toBe(true);
    expect(gtidCovers('0-1-1', '')).toBe(true);
    expect(gtidCovers('', '0-1-1')).toBe(false);
  });
});

describe('GTIDs a binary log never held', () => {
  it('are told by domain and server, not by sequence number alone', () => {
    // After a failover the new primary (server 12) wrote 0-12-150; the old one's 0-10-99 is
    // another transaction, and the new primary only ever had the old one's GTIDs up to 0-10-31.
    expect(gtidsMissingFrom('0-10-99', '0-10-31,0-12-150')).toEqual(['0-10-99']);
    expect(gtidsMissingFrom('0-10-31', '0-10-31,0-12-150')).toEqual([]);
    expect(gtidsMissingFrom('0-12-149', '0-10-31,0-12-150')).toEqual([]);
    expect(gtidsMissingFrom('0-10-5,1-10-3', '0-10-31')).toEqual(['1-10-3']);
    expect(gtidsMissingFrom('', '0-10-31')).toEqual([]);
  });
});

describe('a MariaDB replica that can never follow the primary', () => {
  const refused = {
    ioRunning: false,
    ioErrno: 1236,
    ioError: 'Got fatal error 1236 from master',
    applied: '0-1-120',
  };
  it('is one refused by its source (1236) holding GTIDs the primary never had', () => {
    expect(mariadbDivergedFrom(refused, '0-1-100,0-2-118')).toMatch(
      /transactions the primary never had \(0-1-120; the primary's binary log holds 0-1-100,0-2-118\)/,
    );
  });
  it('or one whose binary logs the primary purged', () => {
    expect(
      mariadbDivergedFrom(
        {
          ...refused,
          applied: '0-1-5',
          ioError: 'the master has purged binary logs containing GTIDs that the slave requires',
        },
        '0-1-100,0-2-118',
      ),
    ).toBe('the primary purged the binary logs it needs');
  });
  it('never one that streams, stopped on another error, or has nothing the primary lacks', () => {
    expect(mariadbDivergedFrom({ ...refused, ioRunning: true }, '0-2-118')).toBeUndefined();
    expect(mariadbDivergedFrom({ ...refused, ioErrno: 2003 }, '0-2-118')).toBeUndefined();
    expect(mariadbDivergedFrom({ ...refused, applied: '0-1-100' }, '0-1-100,0-2-118')).toBeUndefined();
    // An empty member asks for the log from its start: another empty volume would ask the same.
    expect(
      mariadbDivergedFrom({ ...refused, applied: '', ioError: 'purged binary logs' }, '0-2-118'),
    ).toBeUndefined();
  });
});

describe('the server_id a replica replays its source under', () => {
  it('is another one when the source holds transactions of its own id that it has not applied', () => {
    // Member 0 (server 10) given an empty volume: its predecessor wrote 0-10-1…31.
    expect(replayServerId(10, '', '0-10-31,0-12-150', 0)).toBe(1000);
    expect(replayServerId(10, '0-12-3', '0-10-31,0-12-150', 0)).toBe(1000);
    // An id of the range that the log has seen already is passed over.
    expect(replayServerId(10, '', '0-10-31,0-1000-7', 0)).toBe(1001);
    expect(replayServerId(12, '', '0-12-9', 2)).toBe(3000);
  });
  it('is its own when it has logged all of its own id the source has, or the source has none', () => {
    expect(replayServerId(10, '0-10-31,0-12-150', '0-10-31,0-12-150', 0)).toBeUndefined();
    expect(replayServerId(11, '', '0-10-31,0-12-150', 1)).toBeUndefined();
    expect(replayServerId(10, '', '', 0)).toBeUndefined();
  });
});
