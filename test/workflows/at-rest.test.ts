/**
 * A Database at rest (issue 13): the periodic look costs one timer and one activity and writes
 * nothing when all is in line; what the look finds is reconciled and said in an Event. The
 * resync period is the run's `resyncSeconds` bound (RESYNC_SECONDS; hours by default), set to a
 * couple of seconds here.
 */
import { driftSignal } from '../../workflows/signals';
import { DatabaseUnderTest, useWorkflowTestEnv } from './env';

const env = useWorkflowTestEnv();

const postgres = { engine: 'postgres', version: '16', replicas: 1 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Activity types and timers scheduled in the current run after the `after`-th event. */
async function commandsSince(db: DatabaseUnderTest, after: number) {
  const history = await db.handle.fetchHistory();
  const events = (history.events ?? []).slice(after);
  return {
    activities: events
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter((n): n is string => !!n),
    timers: events.filter((e) => e.timerStartedEventAttributes).length,
    length: history.events?.length ?? 0,
  };
}

test.concurrent('a look that finds nothing: one activity per period, nothing written', async () => {
  const db = new DatabaseUnderTest(env, 'quiet', postgres, { resyncSeconds: 2 });
  await db.apply();
  await db.ready(1);
  await db.idle();
  const before = await commandsSince(db, 0);
  const reportsBefore = env.fakes.reports(db.namespace).length;
  await sleep(7_000); // about three periods of 2 s ± 10%
  await db.idle();
  const since = await commandsSince(db, before.length);
  expect(since.activities.length).toBeGreaterThanOrEqual(2);
  expect(new Set(since.activities)).toEqual(new Set(['inspectAtRest']));
  // One timer per look, plus the one running now.
  expect(since.timers).toBeLessThanOrEqual(since.activities.length + 1);
  expect(env.fakes.reports(db.namespace).length).toBe(reportsBefore);
});

test.concurrent('a look that finds something: reconciled, and the Event says what was found', async () => {
  const db = new DatabaseUnderTest(env, 'drifted', postgres, { resyncSeconds: 2 });
  let looks = 0;
  env.fakes.script(db.namespace, {
    inspectAtRest: async () => ({
      findings: ++looks === 1 ? ['Secret drifted-credentials is missing'] : [],
    }),
  });
  await db.apply();
  await db.ready(1);
  await db.idle();
  const reportsBefore = env.fakes.reports(db.namespace).length;
  const callsBefore = env.fakes.in(db.namespace).length;
  await sleep(5_000);
  await db.idle();
  const calls = env.fakes
    .in(db.namespace)
    .slice(callsBefore)
    .map((c) => c.name);
  // The first look finds the Secret missing: the full pass runs (ensureSecret among it).
  expect(calls[0]).toBe('inspectAtRest');
  expect(calls).toContain('ensureSecret');
  const events = env.fakes
    .reports(db.namespace)
    .slice(reportsBefore)
    .flatMap((r) => (r.event ? [r.event] : []));
  expect(events).toEqual([
    expect.objectContaining({
      reason: 'DriftCorrected',
      message: expect.stringContaining('Secret drifted-credentials is missing'),
    }),
  ]);
});

test.concurrent('a readiness notice from the watcher: looked over at once, not a full pass', async () => {
  // Hours between periodic looks: only the notice can wake it within the test.
  const db = new DatabaseUnderTest(env, 'notified', postgres, { resyncSeconds: 3600 });
  await db.apply();
  await db.ready(1);
  await db.idle();
  const callsBefore = env.fakes.in(db.namespace).length;
  await db.handle.signal(driftSignal, { kind: 'StatefulSet', name: 'notified', change: 'readiness' });
  await env.fakes.waitFor(db.namespace, (c) => c.name === 'inspectAtRest', 'the look');
  await db.idle();
  expect(
    env.fakes
      .in(db.namespace)
      .slice(callsBefore)
      .map((c) => c.name),
  ).toEqual(['inspectAtRest']);
});
