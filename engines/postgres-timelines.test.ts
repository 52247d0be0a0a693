import { divergedFrom, divergenceInLog, lsnBytes, lsnText, parseTimelineHistory } from './postgres-timelines';

describe('a standby diverged from the primary’s timeline', () => {
  it('finds PostgreSQL’s own words in a standby’s log, the last claim winning', () => {
    const log = [
      '2026-12-03 18:52:01.120 UTC [41] LOG:  started streaming WAL from primary at 0/6000000 on timeline 2',
      '2026-12-03 18:53:10.001 UTC [29] LOG:  new timeline 3 forked off current database system timeline 2 before current recovery point 0/601B350',
    ].join('\n');
    expect(divergenceInLog(log)).toEqual({
      standbyTimeline: 2,
      line: expect.stringContaining('new timeline 3 forked off current database system timeline 2'),
    });
    expect(
      divergenceInLog('LOG:  highest timeline 1 of the primary is behind recovery timeline 2\n')
        ?.standbyTimeline,
    ).toBe(2);
    expect(
      divergenceInLog(
        "FATAL:  could not start WAL streaming: ERROR:  requested starting point 0/5000000 on timeline 4 is not in this server's history",
      )?.standbyTimeline,
    ).toBe(4);
    expect(
      divergenceInLog('LOG:  started streaming WAL from primary at 0/3000000 on timeline 1'),
    ).toBeUndefined();
  });

  it('reads LSNs and timeline history files', () => {
    expect(lsnBytes('0/601B2A0')).toBe(0x601b2a0n);
    expect(lsnBytes('1/0')).toBe(1n << 32n);
    expect(lsnText(0x601b2a0n)).toBe('0/601B2A0');
    expect(lsnText(lsnBytes('1A/0'))).toBe('1A/0');
    expect(() => lsnBytes('0/601B2A0; DROP')).toThrow('not an LSN');
    expect(
      parseTimelineHistory(
        '1\t0/3000148\tno recovery target specified\n\n2\t0/601b2a0\tno recovery target specified\n',
      ),
    ).toEqual(
      new Map([
        [1, '0/3000148'],
        [2, '0/601B2A0'],
      ]),
    );
    expect(() => parseTimelineHistory('garbage')).toThrow('not a timeline history line');
  });

  const history = new Map([
    [1, '0/3000148'],
    [2, '0/601B2A0'],
  ]);

  it('calls a standby diverged only when its WAL goes past the fork the primary took', () => {
    // The partition of CI: the third member took the fenced primary's shutdown checkpoint.
    expect(
      divergedFrom({
        primaryTimeline: 3,
        primaryHistory: history,
        standbyTimeline: 2,
        standbyReplayed: '0/601B350',
      }),
    ).toBe(
      "it replayed timeline 2 to 0/601B350, past 0/601B2A0, where the primary's timeline 3 forked off it",
    );
    // Behind the fork: it follows the switch by itself.
    expect(
      divergedFrom({
        primaryTimeline: 3,
        primaryHistory: history,
        standbyTimeline: 2,
        standbyReplayed: '0/601B2A0',
      }),
    ).toBeUndefined();
    // On the primary's own timeline: nothing to say from the timelines.
    expect(
      divergedFrom({
        primaryTimeline: 3,
        primaryHistory: history,
        standbyTimeline: 3,
        standbyReplayed: '0/9000000',
      }),
    ).toBeUndefined();
    // Promoted by hand (timeline 2) while the primary stays on timeline 1.
    expect(
      divergedFrom({
        primaryTimeline: 1,
        primaryHistory: new Map(),
        standbyTimeline: 2,
        standbyReplayed: '0/3000200',
      }),
    ).toBe("it is on timeline 2, which is not in the history of the primary's timeline 1");
  });
});
