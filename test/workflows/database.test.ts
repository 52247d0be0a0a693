/**
 * databaseWorkflow on a real Temporal dev server, with FakeActivities instead of Kubernetes: the
 * provision, supersede, retry, permanent failure, deletion and continue-as-new branches, through
 * the workflow's external surface only (signals, the state query, activity calls, its result).
 * The scenarios are independent (a namespace each) and run concurrently: the slowest one sets
 * the file's duration.
 */
import { ApplicationFailure } from '@temporalio/common';
import { driftSignal } from '../../workflows/signals';
import { DatabaseUnderTest, useWorkflowTestEnv } from './env';
import type { DatabaseStatus } from '../../crds';
import {
  conditionOf,
  ENSURE_OBJECTS_PARTS,
  heartbeatUntilCancelled,
  type ActivityName,
  type Call,
} from './fake-activities';

/** The provision steps as the fakes record them: ensureObjects, its parts, the wait for the pods. */
const PROVISION_STEPS: ActivityName[] = ['ensureObjects', ...ENSURE_OBJECTS_PARTS, 'waitForStatefulSetReady'];

const env = useWorkflowTestEnv();

const postgres = { engine: 'postgres', version: '16', replicas: 1 };

/**
 * Every new generation starts with the spec check in an activity (assessSpec), which for a run
 * that does not know what the StatefulSet runs reads it from the cluster first.
 */
const FRESH = ['assessSpec', ...PROVISION_STEPS];
const steps = (calls: Call[]) => calls.filter((c) => c.name !== 'reportStatus').map((c) => c.name);
const readyCondition = (status: DatabaseStatus) => conditionOf(status, 'Ready');

test.concurrent('first provision: the steps in order, reported, to Ready', async () => {
  const db = new DatabaseUnderTest(env, 'orders', postgres);
  await db.apply();
  const state = await db.ready(1);
  expect(state).toMatchObject({ uid: db.uid, observedGeneration: 1, phase: 'Ready' });
  await db.idle();

  const calls = env.fakes.in(db.namespace);
  expect(steps(calls)).toEqual([...FRESH, 'ensureBackupSchedule']);
  expect(calls.filter((c) => c.generation !== undefined).every((c) => c.generation === 1)).toBe(true);
  expect(calls.every((c) => c.attempt === 1 && c.outcome === 'completed')).toBe(true);
  const reports = env.fakes.reports(db.namespace);
  // The objects in one activity, then one report: Provisioning with the objects' Events.
  const objects = calls.find((c) => c.name === 'ensureObjects')!;
  expect(reports[0]!.call.seq).toBeGreaterThan(objects.endSeq!);
  expect(reports[0]!.events.map((e) => e.reason)).toEqual([
    'Provisioning',
    'ConfigMapCreated',
    // (the fake Secret exists already)
    'StatefulSetCreated',
    'ServiceCreated',
  ]);
  const ready = reports.find((r) => r.event?.reason === 'Ready')!;
  expect(ready.call.seq).toBeGreaterThan(calls.find((c) => c.name === 'waitForStatefulSetReady')!.seq);
  expect(ready.status).toMatchObject({ phase: 'Ready', observedGeneration: 1, currentVersion: '16' });
  expect(readyCondition(ready.status)).toMatchObject({ status: 'True', reason: 'Ready' });
  // Every Event of the run is distinct (the activity derives the Event's name from the key).
  const keys = reports.flatMap((r) => (r.event ? [r.event.key] : []));
  expect(new Set(keys).size).toBe(keys.length);
});

test.concurrent('a newer generation during the StatefulSet wait: the old wait is abandoned', async () => {
  const db = new DatabaseUnderTest(env, 'orders', postgres);
  env.fakes.script(db.namespace, {
    // Generation 1's pods never get ready: only a cancellation ends its wait.
    waitForStatefulSetReady: async (t) =>
      t.generation === 1
        ? heartbeatUntilCancelled()
        : { ready: true, replicas: 1, readyReplicas: 1, message: '1/1 pods ready' },
  });
  await db.apply();
  const oldWait = await env.fakes.waitFor(
    db.namespace,
    (c) => c.name === 'waitForStatefulSetReady' && c.generation === 1,
    'wait of generation 1',
  );
  const signalled = env.fakes.mark();
  await db.apply({ parameters: { max_connections: '200' } });
  await db.ready(2);
  await db.idle();
  expect(oldWait.outcome).toBe('cancelled');

  const calls = env.fakes.in(db.namespace);
  const before = calls.filter((c) => c.seq <= signalled);
  const after = calls.filter((c) => c.seq > signalled);
  // Generation 2 runs every step; nothing of generation 1 starts once it was signalled.
  expect(steps(after)).toEqual([...FRESH, 'ensureBackupSchedule']);
  expect(after.filter((c) => c.generation !== undefined && c.generation !== 2)).toEqual([]);
  // Nothing of generation 1 completes after generation 2's apply started.
  const newApply = after.find((c) => c.name === 'applyStatefulSet')!;
  expect(before.filter((c) => c.outcome === 'completed' && c.endSeq! > newApply.seq)).toEqual([]);
  // Generation 1 got no further than its wait, and was never reported Ready.
  expect(steps(before)).toEqual(FRESH);
  const readyReports = env.fakes.reports(db.namespace).filter((r) => r.status.phase === 'Ready');
  expect(readyReports.map((r) => r.status.observedGeneration)).toEqual(readyReports.map(() => 2));
});

/** No late writes (issue 12): a superseded step is awaited before the next one applies. */
test.concurrent(
  'a newer generation during the StatefulSet apply: the old apply ends before the new one starts',
  async () => {
    const db = new DatabaseUnderTest(env, 'orders', postgres);
    env.fakes.script(db.namespace, {
      // A slow API server: generation 1's apply (which does not heartbeat, so cannot learn of its
      // cancellation) returns only once generation 2's has started, or after 6 s (its
      // start-to-close timeout is 10 s), should the workflow wait for it as it must.
      applyStatefulSet: async (t) => {
        if (t.generation === 1) {
          await env.fakes
            .waitFor(
              db.namespace,
              (c) => c.name === 'applyStatefulSet' && c.generation === 2,
              'new apply',
              6_000,
            )
            .catch(() => undefined);
        }
        return { outcome: 'updated' };
      },
    });
    await db.apply();
    const oldApply = await env.fakes.waitFor(
      db.namespace,
      (c) => c.name === 'applyStatefulSet' && c.generation === 1,
      'apply of generation 1',
    );
    await db.apply({ parameters: { max_connections: '200' } });
    await db.ready(2);
    await db.idle();
    const newApply = env.fakes
      .in(db.namespace)
      .find((c) => c.name === 'applyStatefulSet' && c.generation === 2)!;
    expect(oldApply.endSeq).toBeLessThan(newApply.seq);
  },
);

/** Fails applyServices as a flaky API server would (503), until the workflow reported Degraded. */
function servicesUnavailableUntilDegraded(db: DatabaseUnderTest) {
  const degraded = () => env.fakes.reports(db.namespace).some((r) => r.status.phase === 'Degraded');
  env.fakes.script(db.namespace, {
    applyServices: async (t) => {
      if (!degraded()) {
        throw ApplicationFailure.create({
          message: `apply Service ${t.namespace}/${t.name}-primary: 503 ServiceUnavailable: etcd leader changed`,
          type: 'Http503',
          // The workflow's retry policy backs off for about 90 s; the fake asks for the next
          // attempt at once, so the test sees every attempt fail within a second.
          nextRetryDelay: '10 ms',
        });
      }
      return {
        outcome: 'created',
        endpoints: { primary: `${t.name}-primary`, readOnly: `${t.name}-ro` },
      };
    },
  });
  return degraded;
}

test.concurrent(
  'a transient failure that outlives the activity retries: Degraded with the reason, then retried to Ready',
  async () => {
    const db = new DatabaseUnderTest(env, 'orders', postgres);
    servicesUnavailableUntilDegraded(db);
    await db.apply();
    // Read from the status the workflow wrote, not from the state query: Degraded may last only
    // a moment (see the next test) and a poll could miss it.
    await env.fakes.waitFor(
      db.namespace,
      (c) => c.name === 'reportStatus' && !!c.outcome && (c.args[1] as DatabaseStatus).phase === 'Degraded',
      'report of Degraded',
      90_000,
    );
    const report = env.fakes.reports(db.namespace).find((r) => r.status.phase === 'Degraded')!;
    expect(report.status.observedGeneration).toBe(1);
    expect(readyCondition(report.status)).toMatchObject({ status: 'False', reason: 'ReconcileFailed' });
    expect(readyCondition(report.status)!.message).toMatch(/503 ServiceUnavailable.*will retry/);
    expect(report.event).toMatchObject({ type: 'Warning', reason: 'ReconcileFailed' });
    const failed = env.fakes
      .in(db.namespace)
      .filter((c) => c.name === 'applyServices' && c.seq < report.call.seq);
    // Retried by the activity's policy first: several attempts, all failed.
    expect(failed.length).toBeGreaterThan(1);
    expect(failed.map((c) => c.attempt)).toEqual(failed.map((_, i) => i + 1));
    expect(failed.every((c) => c.outcome === 'failed')).toBe(true);

    // RETRY_AFTER is a minute of workflow time; the dev server cannot skip time.
    await db.ready(1, 100_000);
    await db.idle();
    const after = env.fakes.in(db.namespace).filter((c) => c.seq > report.call.seq);
    // The retry of the same generation reuses its recorded spec verdict: no second assessSpec.
    expect(steps(after).slice(0, PROVISION_STEPS.length)).toEqual(PROVISION_STEPS);
  },
  120_000,
);

/**
 * After a transient failure the generation is retried after RETRY_AFTER, as the status says, not
 * in a tight loop (this was a bug: the loop's wait returned at once while retryPending was set).
 */
test.concurrent(
  'a transient failure that outlives the activity retries: the generation is retried only after RETRY_AFTER',
  async () => {
    const db = new DatabaseUnderTest(env, 'orders', postgres);
    servicesUnavailableUntilDegraded(db);
    await db.apply();
    await db.ready(1, 100_000);
    const report = env.fakes.reports(db.namespace).find((r) => r.status.phase === 'Degraded')!;
    const retry = env.fakes
      .in(db.namespace)
      .find((c) => c.seq > report.call.seq && c.name !== 'reportStatus')!;
    expect(retry.name).toBe('ensureObjects');
    expect(retry.startedAt - report.call.endedAt!).toBeGreaterThanOrEqual(55_000);
  },
  120_000,
);

test.concurrent(
  'a permanent failure: Failed with the reason, not retried until a new generation',
  async () => {
    const db = new DatabaseUnderTest(env, 'orders', postgres);
    env.fakes.script(db.namespace, {
      applyStatefulSet: async (t) => {
        if (t.generation === 2) {
          throw ApplicationFailure.nonRetryable(
            `apply StatefulSet ${t.namespace}/${t.name}: 422 Invalid: spec.template.spec.containers[0].resources.requests: Invalid value: "500m": must be less than or equal to cpu limit`,
            'Invalid',
          );
        }
        return { outcome: 'updated' };
      },
    });
    // A generation that reconciled first: its repairs (drift, resync) run, a Failed one's must not.
    await db.apply();
    await db.ready(1);
    await db.idle();
    // The API server refuses what generation 2 renders (the fake says so, whatever the spec).
    await db.apply({ resources: { requests: { cpu: '500m' } } });
    const state = await db.until((s) => s.phase === 'Failed', 'Failed');
    expect(state.observedGeneration).toBe(2);
    expect(readyCondition(state.status)).toMatchObject({ status: 'False', reason: 'Invalid' });
    expect(readyCondition(state.status)!.message).toContain('422 Invalid');
    await db.idle();
    const failedReport = env.fakes.reports(db.namespace).find((r) => r.status.phase === 'Failed')!;
    expect(failedReport.event).toMatchObject({ type: 'Warning', reason: 'Invalid' });
    // Not retried by the activity's policy either: one attempt.
    const applies = env.fakes.in(db.namespace).filter((c) => c.name === 'applyStatefulSet');
    expect(applies.map((c) => [c.generation, c.attempt])).toEqual([
      [1, 1],
      [2, 1],
    ]);

    // A drift notice does not make the workflow try the failed generation again.
    await db.handle.signal(driftSignal, { kind: 'StatefulSet', name: db.name, change: 'modified' });
    await db.idle();
    expect(env.fakes.in(db.namespace).filter((c) => c.seq > failedReport.call.seq)).toEqual([]);

    await db.apply({ resources: { requests: { cpu: '250m' } } });
    await db.ready(3);
    await db.idle();
    const after = env.fakes.in(db.namespace).filter((c) => c.seq > failedReport.call.seq);
    expect(after.filter((c) => c.generation !== undefined && c.generation !== 3)).toEqual([]);
    // (The backup Schedule, disabled, was settled by generation 1.)
    expect(steps(after)).toEqual(FRESH);
  },
);

const DELETION: ActivityName[] = ['deleteBackupSchedule', 'releaseDatabase', 'removeFinalizer'];

test.concurrent(
  'deletion of a Ready Database: data released per policy, finalizer removed, workflow completes',
  async () => {
    const db = new DatabaseUnderTest(env, 'orders', { ...postgres, deletionPolicy: 'Retain' });
    await db.apply();
    await db.ready(1);
    await db.idle();
    const before = env.fakes.in(db.namespace).length;
    await db.delete();
    await expect(db.result()).resolves.toBeUndefined();
    expect((await db.handle.describe()).status.name).toBe('COMPLETED');

    const deletion = env.fakes.in(db.namespace).slice(before);
    expect(deletion[0]!.name).toBe('reportStatus');
    expect(deletion[0]!.args[1]).toMatchObject({ phase: 'Deleting' });
    expect(steps(deletion)).toEqual(DELETION);
    expect(deletion.find((c) => c.name === 'releaseDatabase')!.args[1]).toBe('Retain');
    expect(deletion.at(-1)!.name).toBe('removeFinalizer');
  },
);

test.concurrent('deletion while provisioning: the wait is abandoned, the deletion completes', async () => {
  const db = new DatabaseUnderTest(env, 'orders', postgres);
  env.fakes.script(db.namespace, { waitForStatefulSetReady: () => heartbeatUntilCancelled() });
  await db.apply();
  const wait = await env.fakes.waitFor(db.namespace, (c) => c.name === 'waitForStatefulSetReady', 'the wait');
  await db.delete();
  await expect(db.result()).resolves.toBeUndefined();
  await env.fakes.waitFor(db.namespace, (c) => c === wait && !!c.outcome, 'end of the wait');
  expect(wait.outcome).toBe('cancelled');
  const after = env.fakes.in(db.namespace).filter((c) => c.seq > wait.seq);
  expect(steps(after)).toEqual(DELETION);
  expect(after.find((c) => c.name === 'releaseDatabase')!.args[1]).toBe('Delete');
});
