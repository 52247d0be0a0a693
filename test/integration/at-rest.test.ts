import type { Client } from '@temporalio/client';
import { databaseWorkflowId } from '../../workflows/signals';
import { waitFor } from '../../tools/stack/wait';
import {
  applyDatabase,
  databaseEventReasons,
  getDatabase,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import { recordNamespaceHistories } from '../support/record-histories';
import {
  createNamespace,
  deleteNamespace,
  kubectlOk,
  temporalClient,
  temporalConnection,
} from '../support/stack';

jest.setTimeout(600_000);

/**
 * A Database at rest on real nodes (issue 13): the periodic look (RESYNC_SECONDS, a few seconds
 * here) is one activity that reads and dry-runs what a reconcile would apply, and finds nothing
 * on a Database the operator just made: no apply, no status write follows it. What it does find
 * (the credentials Secret's owner reference removed by hand: Secrets are not watched) is put
 * back, with an Event
 * that says what was found. And a member killed at rest is heard of through the watcher's
 * readiness notice, without waiting for the next look.
 */

/** Activity types scheduled in the current run after its first `from` events, and its length. */
async function activitiesSince(client: Client, id: string, from: number) {
  const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
  return {
    names: events
      .slice(from)
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter((n): n is string => !!n),
    length: events.length,
  };
}

describe('a Database at rest', () => {
  let ns = '';
  let op: RunningOperator | undefined;
  const connection = temporalConnection();
  afterAll(async () => {
    await op?.stop();
    await (await connection).close();
    if (ns) await deleteNamespace(ns);
  });

  it('is looked over in one activity that changes nothing, and what the look finds is put back', async () => {
    ns = await createNamespace('rest');
    op = await startOperator(ns, { RESYNC_SECONDS: '10' });
    const client = temporalClient(await connection);
    const name = 'calm';
    const id = databaseWorkflowId(ns, name);
    await applyDatabase(ns, name, { engine: 'postgres', version: '15', replicas: 2 });
    await waitForPhase(ns, name, 'Ready', { generation: 1, timeoutMs: 300_000 });
    // The readiness notices of the first rollout settle into a look or two.
    await new Promise((r) => setTimeout(r, 5_000));
    const start = (await activitiesSince(client, id, 0)).length;
    const statusBefore = (await getDatabase(ns, name))?.metadata.resourceVersion;

    // Two looks or more, each finding the Database as the operator would make it.
    await waitFor(
      'two looks at rest',
      async () =>
        (await activitiesSince(client, id, start)).names.filter((n) => n === 'inspectAtRest').length >= 2,
      { timeoutMs: 60_000, intervalMs: 1_000 },
    );
    const quiet = await activitiesSince(client, id, start);
    expect(new Set(quiet.names)).toEqual(new Set(['inspectAtRest']));
    expect((await getDatabase(ns, name))?.metadata.resourceVersion).toBe(statusBefore);

    // The credentials Secret's owner reference removed by hand (Secrets are not watched): found
    // by the next look, re-adopted with its passwords kept, and an Event says what was found.
    const secret = `${name}-credentials`;
    await kubectlOk([
      'patch',
      'secret',
      '-n',
      ns,
      secret,
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/metadata/ownerReferences"}]',
    ]);
    await waitFor(
      'the Secret owned again',
      async () => {
        const s = JSON.parse(await kubectlOk(['get', 'secret', '-n', ns, secret, '-o', 'json'])) as {
          metadata: { ownerReferences?: { kind: string }[] };
        };
        return (s.metadata.ownerReferences ?? []).some((o) => o.kind === 'Database');
      },
      { timeoutMs: 60_000 },
    );
    await waitFor('a DriftCorrected Event', async () =>
      (await databaseEventReasons(ns, name)).includes('DriftCorrected'),
    );
    const events = JSON.parse(
      await kubectlOk(['get', 'events', '-n', ns, '--field-selector', 'reason=DriftCorrected', '-o', 'json']),
    ) as { items: { message: string }[] };
    expect(events.items.map((e) => e.message).join('\n')).toContain(
      `Secret ${secret} is not owned by the Database`,
    );
    await waitForPhase(ns, name, 'Ready');
    await recordNamespaceHistories(
      client,
      ns,
      'at-rest',
      'looks at rest that find nothing, a Secret disowned by hand found and re-adopted',
    );
  });
});

describe('a member killed at rest', () => {
  let ns = '';
  let op: RunningOperator | undefined;
  const connection = temporalConnection();
  afterAll(async () => {
    await op?.stop();
    await (await connection).close();
    if (ns) await deleteNamespace(ns);
  });

  it('is heard of through the watcher, not at the next look hours later', async () => {
    ns = await createNamespace('notice');
    op = await startOperator(ns, { RESYNC_SECONDS: '3600' });
    const client = temporalClient(await connection);
    const name = 'single';
    const id = databaseWorkflowId(ns, name);
    await applyDatabase(ns, name, { engine: 'postgres', version: '15' });
    await waitForPhase(ns, name, 'Ready', { generation: 1, timeoutMs: 300_000 });
    await new Promise((r) => setTimeout(r, 3_000));
    const before = (await activitiesSince(client, id, 0)).length;
    const killedAt = Date.now();
    await kubectlOk(['delete', 'pod', '-n', ns, `${name}-0`, '--wait=false']);
    // The StatefulSet's status says a pod is missing: a readiness notice, then a look.
    await waitFor(
      'a look after the readiness notice',
      async () => (await activitiesSince(client, id, before)).names.includes('inspectAtRest'),
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    process.stderr.write(`member killed at rest: looked over after ${Date.now() - killedAt} ms\n`);
    // The pod comes back (the StatefulSet controller); the Database is Ready afterwards.
    await waitFor(
      'Ready with its pod back',
      async () => {
        const db = await getDatabase(ns, name);
        return db?.status?.phase === 'Ready' && db.status.readyReplicas === 1;
      },
      { timeoutMs: 180_000 },
    );
    await recordNamespaceHistories(
      client,
      ns,
      'member-killed-at-rest',
      'a member killed at rest, heard of by a readiness notice',
    );
  });
});
