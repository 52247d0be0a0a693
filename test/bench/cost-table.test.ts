import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AuditLog, belongsTo, countWrites, percentile } from './cost-measure';
import { badFigures, renderTable, type CostReport } from './cost-table';

const report = (figures: CostReport['figures']): CostReport => ({ setup: { run: 'x' }, figures, notes: [] });

describe('cost table', () => {
  it('prints both columns and their ratio, a dash where the peer has no such figure', () => {
    const text = renderTable(
      report([
        { label: 'apply → created', unit: 'ms', operator: 437, peer: 20, positive: 'both' },
        { label: 'actions', unit: 'count', operator: 22, positive: 'operator' },
        { label: 'writes at rest', unit: 'count', operator: 8, peer: 0, positive: 'none' },
      ]),
    );
    expect(text).toMatch(/\| apply → created +\| 437 ms +\| 20 ms +\| 22× +\|/);
    expect(text).toMatch(/\| actions +\| 22 +\| — +\| — +\|/);
    expect(text).toMatch(/\| writes at rest +\| 8 +\| 0 +\| ∞ +\|/);
  });

  it('names the figures that are not finite, negative, or zero where they must be above zero', () => {
    expect(
      badFigures(
        report([
          { label: 'a', unit: 'ms', operator: NaN, peer: 1, positive: 'both' },
          { label: 'b', unit: 'ms', operator: 1, peer: 0, positive: 'both' },
          { label: 'c', unit: 's', operator: 1, peer: 0, positive: 'operator' },
          { label: 'd', unit: 'count', operator: 0, positive: 'none' },
          { label: 'e', unit: 'count', operator: -1, positive: 'none' },
        ]),
      ),
    ).toEqual(['a (operator): NaN', 'b (peer): 0', 'e (operator): -1']);
  });
});

describe('cost measurements', () => {
  it('attributes objects to their Database by name', () => {
    for (const name of ['db-001', 'db-001-config', 'db-001-0', 'data-db-001-0', 'db-001.18c2a'])
      expect(belongsTo(name, 'db-001')).toBe(true);
    for (const name of ['db-0011', 'db-002-config', 'data-db-0010-0'])
      expect(belongsTo(name, 'db-001')).toBe(false);
  });

  it('takes nearest-rank percentiles of the finite values', () => {
    expect(percentile([5, 1, 4, 2, 3], 50)).toBe(3);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(percentile([NaN], 50)).toBeNaN();
  });

  it('reads the completed writes appended to the audit log since it was opened', () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'audit-')), 'audit.log');
    const entry = (ns: string, resource: string, name: string, ts: string) =>
      JSON.stringify({
        stage: 'ResponseComplete',
        verb: 'create',
        stageTimestamp: ts,
        objectRef: { resource, namespace: ns, name },
      }) + '\n';
    fs.writeFileSync(file, entry('bench-a-op', 'configmaps', 'db-001-config', '2026-12-02T01:00:00.000001Z'));
    const log = AuditLog.open(file);
    fs.appendFileSync(
      file,
      entry('bench-a-op', 'configmaps', 'db-001-config', '2026-12-02T01:00:01.000250Z'),
    );
    fs.appendFileSync(file, entry('bench-a-op', 'events', 'db-001.18c2a', '2026-12-02T01:00:02.5Z'));
    fs.appendFileSync(file, entry('other', 'secrets', 'db-001-credentials', '2026-12-02T01:00:03Z'));
    const writes = log.writes('bench-a-');
    expect(writes.map((w) => [w.resource, w.at])).toEqual([
      ['configmaps', Date.parse('2026-12-02T01:00:01Z') + 0.25],
      ['events', Date.parse('2026-12-02T01:00:02.5Z')],
    ]);
    expect(countWrites(writes, (w) => belongsTo(w.name, 'db-001'))).toEqual({ all: 2, withoutEvents: 1 });
  });
});
