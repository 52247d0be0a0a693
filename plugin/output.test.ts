import { humanBytes, humanDuration, paint, parseFormat, renderTable, UserError } from './output';

describe('renderTable', () => {
  const columns = [{ header: 'name' }, { header: 'phase' }, { header: 'message' }];
  const rows = [
    ['orders-db-0', 'Ready', 'all good'],
    ['orders-db-1', 'Pending', 'waiting for the volume of the member to be bound by the provisioner'],
  ];

  it('pads columns to the widest cell, three spaces apart, upper-case headers, no trailing spaces', () => {
    expect(renderTable(columns, rows.slice(0, 1))).toBe(
      'NAME          PHASE   MESSAGE\norders-db-0   Ready   all good\n',
    );
  });

  it('cuts the widest column with … to fit the width, keeping every column', () => {
    const text = renderTable(columns, rows, { width: 50 });
    const lines = text.trimEnd().split('\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(50);
    expect(lines[2]).toMatch(/^orders-db-1 {3}Pending {3}waiting for .*…$/);
    expect(lines[0]).toBe('NAME          PHASE     MESSAGE');
  });

  it('never cuts a column below its header when the terminal is very narrow', () => {
    const lines = renderTable(columns, rows, { width: 10 }).trimEnd().split('\n');
    expect(lines[0]).toBe('NAME   PHASE   MESSAGE');
    expect(lines[1]).toBe('ord…   Ready   all go…');
    expect(lines[2]).toBe('ord…   Pend…   waitin…');
  });

  it('colours cells only when asked, and pads on the plain text', () => {
    const coloured = renderTable(
      [{ header: 'phase', colour: () => 'green' }, { header: 'x' }],
      [['Ready', 'y']],
      {
        colour: true,
      },
    );
    expect(coloured.split('\n')[1]).toBe('\u001b[32mReady\u001b[0m   y');
    expect(renderTable([{ header: 'phase', colour: () => 'green' }], [['Ready']])).not.toContain('\u001b');
    expect(paint('x', 'red', false)).toBe('x');
  });
});

describe('formats', () => {
  it.each([
    [0, '0s'],
    [59_999, '59s'],
    [60_000, '1m'],
    [252_000, '4m12s'],
    [7_500_000, '2h5m'],
    [3 * 86_400_000 + 4 * 3_600_000, '3d4h'],
    [-1, '-'],
  ])('humanDuration(%d) = %s', (ms, text) => expect(humanDuration(ms)).toBe(text));

  it.each([
    [undefined, '-'],
    [512, '512 B'],
    [48_213, '48 kB'],
    [4_900_000, '4.9 MB'],
  ])('humanBytes(%p) = %s', (bytes, text) => expect(humanBytes(bytes)).toBe(text));

  it('accepts table, json and yaml; anything else names the fix', () => {
    expect(parseFormat(undefined)).toBe('table');
    expect(parseFormat('yaml')).toBe('yaml');
    expect(() => parseFormat('wide')).toThrow(UserError);
  });
});
