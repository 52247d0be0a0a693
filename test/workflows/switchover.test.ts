/**
 * The planned switchover in the Database workflow (issue 10), against fake activities: the order
 * of its steps, the abort that changes nothing, the requests refused before anything runs, and two
 * requests back to back. The real steps run on real nodes in test/integration/switchover.test.ts.
 */
import { switchoverSignal } from '../../workflows/switchover-names';
import { callsSince, readyAtRest, useWorkflowTestEnv, type DatabaseUnderTest } from './env';

const env = useWorkflowTestEnv();

const three = { engine: 'postgres', version: '17', replicas: 3 };

const eventsSince = (db: DatabaseUnderTest, after: number) =>
  env.fakes
    .reports(db.namespace)
    .slice(after)
    .flatMap((r) => r.events.map((e) => e.reason));
const SWITCHOVER_STEPS = [
  'checkSwitchover',
  'waitForCatchUp',
  'reserveSlots',
  'fencePrimary',
  'waitForHandover',
  'promoteMember',
  'completeFailover',
];

test.concurrent(
  'a switchover: caught up, fenced, handed over, promoted, recorded; the annotation removed',
  async () => {
    const db = await readyAtRest(env, 'db', three);
    const before = env.fakes.in(db.namespace).length;
    const reportsBefore = env.fakes.reports(db.namespace).length;
    await db.handle.signal(switchoverSignal, { uid: db.uid, to: 'db-1' });
    await env.fakes.waitFor(
      db.namespace,
      (c) => c.name === 'clearSwitchoverRequest',
      'the switchover',
      30_000,
    );
    await db.idle();
    const seen = callsSince(env, db, before);
    expect(seen.filter((n) => SWITCHOVER_STEPS.includes(n))).toEqual(SWITCHOVER_STEPS);
    const clear = env.fakes.in(db.namespace).find((c) => c.name === 'clearSwitchoverRequest')!;
    expect(clear.args[1]).toBe('db-1');
    const events = eventsSince(db, reportsBefore);
    expect(events).toEqual(expect.arrayContaining(['SwitchoverStarted', 'SwitchedOver']));
    const last = env.fakes.reports(db.namespace).at(-1)!.status;
    expect(last.currentPrimary).toBe('db-1');
    expect(last.switchover).toMatchObject({ to: 'db-1', from: 'db-0', state: 'SwitchedOver' });
  },
);

test.concurrent('a target that does not catch up in time: aborted, nothing fenced', async () => {
  const db = await readyAtRest(env, 'lag', { ...three, failover: { switchoverTimeoutSeconds: 5 } });
  env.fakes.script(db.namespace, {
    waitForCatchUp: async () => ({
      caughtUp: false,
      primaryAt: '9000',
      lagBytes: '8000',
      message: 'lag-2 replays 8000 bytes behind the primary',
    }),
  });
  const before = env.fakes.in(db.namespace).length;
  const reportsBefore = env.fakes.reports(db.namespace).length;
  await db.handle.signal(switchoverSignal, { uid: db.uid, to: 'lag-2' });
  await env.fakes.waitFor(db.namespace, (c) => c.name === 'clearSwitchoverRequest', 'the switchover', 30_000);
  await db.idle();
  const seen = callsSince(env, db, before);
  expect(seen).toContain('waitForCatchUp');
  const wait = env.fakes.in(db.namespace).find((c) => c.name === 'waitForCatchUp')!;
  expect(wait.args.slice(1)).toEqual([0, 2, 5]);
  for (const step of ['fencePrimary', 'waitForHandover', 'promoteMember', 'completeFailover'])
    expect(seen).not.toContain(step);
  expect(eventsSince(db, reportsBefore)).toContain('SwitchoverAborted');
  const last = env.fakes.reports(db.namespace).at(-1)!.status;
  expect(last.switchover).toMatchObject({ to: 'lag-2', state: 'Aborted' });
  expect(last.switchover?.reason).toMatch(/did not catch up within 5s .*lag-0 stays the primary/);
});

test.concurrent('requests that cannot be met are refused before any step runs', async () => {
  for (const [spec, to, why] of [
    [three, 'other-1', /must name a member: bad-0 … bad-2/],
    [three, 'bad-7', /must name a member/],
    [three, 'bad-01', /must name a member/],
    [{ ...three, replicas: 1 }, 'bad-0', /one member/],
    [{ engine: 'mariadb', version: '11.8', replicas: 3 }, 'bad-1', /not available for mariadb/],
  ] as const) {
    const db = await readyAtRest(env, 'bad', spec);
    const before = env.fakes.in(db.namespace).length;
    const reportsBefore = env.fakes.reports(db.namespace).length;
    await db.handle.signal(switchoverSignal, { uid: db.uid, to });
    await env.fakes.waitFor(db.namespace, (c) => c.name === 'clearSwitchoverRequest', 'the refusal');
    await db.idle();
    expect(callsSince(env, db, before)).not.toContain('checkSwitchover');
    expect(eventsSince(db, reportsBefore)).toEqual(['SwitchoverRejected']);
    expect(env.fakes.reports(db.namespace).at(-1)!.status.switchover?.reason).toMatch(why);
  }
});

test.concurrent('two requests back to back: one primary at the end, the last requested', async () => {
  const db = await readyAtRest(env, 'twice', three);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let first = true;
  env.fakes.script(db.namespace, {
    // The first switchover waits here until the second request has arrived.
    waitForCatchUp: async (t, _from, to) => {
      if (first) {
        first = false;
        await held;
      }
      return { caughtUp: true, primaryAt: '100', lagBytes: '0', message: `${t.name}-${to} caught up` };
    },
  });
  const before = env.fakes.in(db.namespace).length;
  await db.handle.signal(switchoverSignal, { uid: db.uid, to: 'twice-1' });
  await env.fakes.waitFor(db.namespace, (c) => c.name === 'waitForCatchUp', 'the first switchover');
  await db.handle.signal(switchoverSignal, { uid: db.uid, to: 'twice-2' });
  release();
  await env.fakes.waitFor(
    db.namespace,
    (c) => c.name === 'clearSwitchoverRequest' && c.args[1] === 'twice-2',
    'the second switchover',
    30_000,
  );
  await db.idle();
  const promoted = env.fakes
    .in(db.namespace)
    .slice(before)
    .filter((c) => c.name === 'promoteMember')
    .map((c) => c.args[1]);
  expect(promoted).toEqual([1, 2]);
  const fences = env.fakes
    .in(db.namespace)
    .slice(before)
    .filter((c) => c.name === 'fencePrimary')
    .map((c) => c.args.slice(1));
  expect(fences).toEqual([
    [0, 1],
    [1, 2],
  ]);
  expect(env.fakes.reports(db.namespace).at(-1)!.status.currentPrimary).toBe('twice-2');
});
