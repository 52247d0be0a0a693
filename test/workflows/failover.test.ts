/**
 * The failover runbook in the Database workflow (issue 10), against fake activities: when it
 * runs, in which order its steps go, and when it does not run at all. The real steps run on real
 * nodes in test/integration/failover.test.ts.
 */
import type { PrimaryAssessment } from '../../activities';
import { driftSignal } from '../../workflows/signals';
import { callsSince, readyAtRest, useWorkflowTestEnv } from './env';

const env = useWorkflowTestEnv();

const three = { engine: 'postgres', version: '17', replicas: 3, failover: { delaySeconds: 2 } };
const failed = (primary = 0): PrimaryAssessment => ({
  primary,
  healthy: false,
  reason: `pod db-${primary} is not Ready (CrashLoopBackOff)`,
});

test.concurrent(
  'a primary failed for longer than the delay: fenced, then promoted, then recorded',
  async () => {
    const db = await readyAtRest(env, 'db', three);
    let moved = false;
    env.fakes.script(db.namespace, {
      // Failed until the record names db-1, healthy from then on.
      assessPrimary: async () =>
        moved ? { primary: 1, healthy: true, reason: 'db-1 accepts writes' } : failed(0),
      completeFailover: async () => {
        moved = true;
        return { relabelled: ['db-1 primary'] };
      },
    });
    const before = env.fakes.in(db.namespace).length;
    const reportsBefore = env.fakes.reports(db.namespace).length;
    await db.handle.signal(driftSignal, { kind: 'StatefulSet', name: 'db', change: 'readiness' });
    await env.fakes.waitFor(db.namespace, (c) => c.name === 'completeFailover', 'the failover', 30_000);
    await db.idle();
    const calls = callsSince(env, db, before);
    const steps = calls.filter((n) =>
      ['chooseFailoverTarget', 'fencePrimary', 'promoteMember', 'completeFailover'].includes(n),
    );
    expect(steps).toEqual(['chooseFailoverTarget', 'fencePrimary', 'promoteMember', 'completeFailover']);
    // Confirmed by consecutive checks over the delay (2 s at one a second) before the child's own.
    const confirmations = calls
      .slice(0, calls.indexOf('chooseFailoverTarget'))
      .filter((n) => n === 'assessPrimary');
    expect(confirmations.length).toBeGreaterThanOrEqual(3);
    const events = env.fakes
      .reports(db.namespace)
      .slice(reportsBefore)
      .flatMap((r) => r.events.map((e) => e.reason));
    expect(events).toEqual(expect.arrayContaining(['PrimaryFailed', 'FailedOver']));
    expect(events.indexOf('PrimaryFailed')).toBeLessThan(events.indexOf('FailedOver'));
    const last = env.fakes.reports(db.namespace).at(-1)!.status;
    expect(last.currentPrimary).toBe('db-1');
  },
);

test.concurrent('a primary failing for less than the delay: no failover', async () => {
  const db = await readyAtRest(env, 'blip', three);
  let looks = 0;
  env.fakes.script(db.namespace, {
    assessPrimary: async () =>
      ++looks === 1 ? failed(0) : { primary: 0, healthy: true, reason: 'blip-0 accepts writes' },
  });
  const before = env.fakes.in(db.namespace).length;
  await db.handle.signal(driftSignal, { kind: 'StatefulSet', name: 'blip', change: 'readiness' });
  await env.fakes.waitFor(db.namespace, (c) => c.name === 'assessPrimary' && looks >= 2, 'the second look');
  await db.idle();
  const calls = callsSince(env, db, before);
  expect(calls.filter((n) => n === 'assessPrimary')).toHaveLength(2);
  expect(calls).not.toContain('chooseFailoverTarget');
  expect(calls).not.toContain('fencePrimary');
});

test.concurrent('one member, or failover disabled: the primary is not even looked at', async () => {
  for (const spec of [
    { ...three, replicas: 1 },
    { ...three, failover: { enabled: false } },
  ]) {
    const db = await readyAtRest(env, 'alone', spec);
    env.fakes.script(db.namespace, { assessPrimary: async () => failed(0) });
    const before = env.fakes.in(db.namespace).length;
    await db.handle.signal(driftSignal, { kind: 'StatefulSet', name: 'alone', change: 'readiness' });
    await env.fakes.waitFor(
      db.namespace,
      (c) => env.fakes.in(db.namespace).indexOf(c) >= before && c.name === 'inspectAtRest',
      'the look',
    );
    await db.idle();
    expect(callsSince(env, db, before)).not.toContain('assessPrimary');
  }
});

test.concurrent('a failover the record shows half done is finished without choosing again', async () => {
  const db = await readyAtRest(env, 'half', three);
  // A fence that ran (target db-2) in a run that stopped before the promotion.
  let finished = false;
  env.fakes.script(db.namespace, {
    assessPrimary: async () =>
      finished
        ? { primary: 2, healthy: true, reason: 'half-2 accepts writes' }
        : { primary: 0, targetPrimary: 2, healthy: false, reason: 'pod half-0 is gone' },
    completeFailover: async () => {
      finished = true;
      return { relabelled: [] };
    },
  });
  const before = env.fakes.in(db.namespace).length;
  await db.handle.signal(driftSignal, { kind: 'StatefulSet', name: 'half', change: 'readiness' });
  await env.fakes.waitFor(db.namespace, (c) => c.name === 'completeFailover', 'the failover', 30_000);
  await db.idle();
  const calls = callsSince(env, db, before);
  expect(calls).not.toContain('chooseFailoverTarget');
  const fence = env.fakes.in(db.namespace).find((c) => c.name === 'fencePrimary')!;
  expect(fence.args.slice(1)).toEqual([0, 2]);
});
