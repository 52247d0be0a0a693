import { MAX_STATUS_MESSAGE, statusText } from './status-text';

describe('statusText', () => {
  it.each([
    [
      'connect to postgres://postgres:s3cr3t@orders-0:5432/postgres failed',
      'postgres://postgres:***@orders-0:5432',
    ],
    ['mysql://root:p%40ss@10.0.0.1:3306 refused', 'mysql://root:***@10.0.0.1:3306'],
    ['bad option password=hunter2 in conninfo', 'password=***'],
    ["PWD: 'x y z', next", 'PWD: ***'],
    ["syntax error near IDENTIFIED BY 'hunter2'", 'IDENTIFIED BY ***'],
    ["CHANGE MASTER TO MASTER_PASSWORD = 'hunter2'", 'MASTER_PASSWORD = ***'],
    ['Authorization: Bearer abcdefghijklmnop', 'Bearer ***'],
    ['key AKIAABCDEFGHIJKLMNOP denied', 'key *** denied'],
  ])('blanks credentials in %j', (input, expected) => {
    const out = statusText(input);
    expect(out).toContain(expected);
    expect(out).not.toMatch(/s3cr3t|hunter2|p%40ss|abcdefghijklmnop|AKIAABCDEFGHIJKLMNOP|x y z/);
  });

  it('keeps the words that say why', () => {
    expect(statusText('member 0 unreachable: connect ECONNREFUSED 10.88.0.7:5432')).toBe(
      'member 0 unreachable: connect ECONNREFUSED 10.88.0.7:5432',
    );
    expect(statusText('orders-0: container database CrashLoopBackOff:\n back-off 10s')).toBe(
      'orders-0: container database CrashLoopBackOff: back-off 10s',
    );
  });

  it('is bounded', () => {
    const out = statusText('x'.repeat(5000));
    expect(out.length).toBe(MAX_STATUS_MESSAGE);
    expect(out.endsWith('…')).toBe(true);
    expect(statusText('y'.repeat(2000), 1024).length).toBe(1024);
  });
});
