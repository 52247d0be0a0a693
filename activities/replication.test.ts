import { toReport } from './replication';

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
      0,
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
      0,
    );
    expect(report.ready).toBe(false);
    expect(report.message).toBe(
      'orders-1 not connected; slot replica_2 is still in use by a departing member',
    );
  });

  it('names the primary the role record names', () => {
    const report = toReport(
      { name: 'orders' },
      {
        members: [
          { ordinal: 2, role: 'primary', state: 'writable', streaming: true },
          { ordinal: 0, role: 'replica', state: 'streaming', streaming: true },
          { ordinal: 1, role: 'replica', state: 'streaming', streaming: true },
        ],
        pending: [],
        changes: [],
        removed: [],
      },
      2,
    );
    expect(report.message).toBe('2 replica(s) streaming from orders-2');
    expect(report.members.map((m) => `${m.name} ${m.role}`)).toEqual([
      'orders-0 replica',
      'orders-1 replica',
      'orders-2 primary',
    ]);
  });
});
