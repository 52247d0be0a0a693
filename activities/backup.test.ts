import type { V1Pod } from '@kubernetes/client-node';
import type { DatabaseBackup } from '../crds';
import { retentionAgeMs, selectExpired } from './backup';
import { jobOutcome } from './jobs';

const b = (name: string, phase: string, finishedAt: string): DatabaseBackup => ({
  apiVersion: 'durable.dev/v1alpha1',
  kind: 'DatabaseBackup',
  metadata: { name },
  spec: { databaseName: 'orders' },
  status: { phase: phase as 'Succeeded', finishedAt },
});

describe('retention', () => {
  const now = new Date('2026-11-22T12:00:00Z');
  const all = [
    b('d1', 'Succeeded', '2026-11-18T03:00:00Z'),
    b('d2', 'Succeeded', '2026-11-19T03:00:00Z'),
    b('f', 'Failed', '2026-11-20T03:00:00Z'),
    b('d3', 'Succeeded', '2026-11-21T03:00:00Z'),
    b('d4', 'Succeeded', '2026-11-22T03:00:00Z'),
  ];
  const names = (list: DatabaseBackup[]) => list.map((x) => x.metadata.name);

  it('count: the Succeeded ones beyond the newest N, oldest first; Failed ones are not counted', () => {
    expect(names(selectExpired(all, { count: 2 }, 'd4', now))).toEqual(['d1', 'd2']);
  });
  it('maxAge: the ones finished longer ago', () => {
    expect(names(selectExpired(all, { maxAge: '2d' }, 'd4', now))).toEqual(['d1', 'd2']);
    expect(names(selectExpired(all, { maxAge: '12h' }, 'd4', now))).toEqual(['d1', 'd2', 'd3']);
  });
  it('never the backup just taken, even when it is the oldest', () => {
    expect(names(selectExpired(all, { count: 1 }, 'd1', now))).toEqual(['d2', 'd3']);
  });
  it('reads ages in minutes, hours, days and weeks', () => {
    expect(retentionAgeMs('90m')).toBe(90 * 60_000);
    expect(retentionAgeMs('2w')).toBe(14 * 86_400_000);
  });
});

describe('jobOutcome', () => {
  const pod = (terminated: Record<string, unknown>, status: Record<string, unknown> = {}): V1Pod =>
    ({
      status: { ...status, containerStatuses: [{ name: 'backup', state: { terminated } }] },
    }) as unknown as V1Pod;

  it('a completed Job: size and location from the termination message', () => {
    const p = pod({ exitCode: 0, message: '{"sizeBytes":1234,"location":"pvc://c/o/b.sql.gz"}' });
    expect(jobOutcome(true, [p], '')).toEqual({
      state: 'succeeded',
      message: 'completed',
      sizeBytes: 1234,
      location: 'pvc://c/o/b.sql.gz',
    });
  });
  it('a failed Job: the script error, else the exit code, else the pod or Job reason', () => {
    expect(
      jobOutcome(false, [pod({ exitCode: 1, message: 'dump failed (exit 1): refused' })], ''),
    ).toMatchObject({
      state: 'failed',
      message: 'dump failed (exit 1): refused',
    });
    expect(jobOutcome(false, [pod({ exitCode: 137, reason: 'OOMKilled' })], '').message).toBe(
      'container exited with code 137 (OOMKilled)',
    );
    expect(
      jobOutcome(false, [], 'DeadlineExceeded Job was active longer than specified deadline').message,
    ).toBe('DeadlineExceeded Job was active longer than specified deadline');
  });
});
