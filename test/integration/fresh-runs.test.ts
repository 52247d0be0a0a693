import * as k8s from '@kubernetes/client-node';
import type { Client, Connection } from '@temporalio/client';
import { ENGINE_BUILD_ANNOTATION, UPGRADING_FROM_ANNOTATION, type DatabaseSpecInput } from '../../crds';
import { backupWorkflowId, preUpgradeBackupName } from '../../contracts/backup-names';
import { waitFor } from '../../tools/stack/wait';
import { databaseWorkflowId, upgradeWorkflowId } from '../../workflows/signals';
import type { UpgradeOutcome } from '../../workflows/upgrade';
import { createBackup, getBackup, jobNames, waitForBackupDone, withReadyDatabase } from '../support/backups';
import {
  replaceRun,
  runStatus,
  scheduledSteps,
  waitForStep,
  type ScheduledStep,
} from '../support/fresh-runs';
import {
  applyDatabase,
  getDatabase,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import { recordNamespaceHistories } from '../support/record-histories';
import { sql } from '../support/sql';
import {
  createNamespace,
  deleteNamespace,
  kubeConfig,
  kubectlOk,
  temporalClient,
  temporalConnection,
} from '../support/stack';

jest.setTimeout(900_000);

/**
 * The cluster is the record (issue 12): a run terminated at every step of an upgrade and of a
 * backup, a fresh run started by the watcher, and nothing that must not be redone is redone (no
 * member rolled twice, no second dump Job), and no check is skipped (every member's gate, the
 * version check against what really runs). The restore case is in cluster-record.test.ts.
 */

const figure = (text: string) => process.stderr.write(`[fresh-runs] ${text}\n`);
const core = () => kubeConfig().makeApiClient(k8s.CoreV1Api);
const apps = () => kubeConfig().makeApiClient(k8s.AppsV1Api);
const rows = (ns: string, db: string, ordinal = 0) =>
  sql<{ id: number }>(ns, db, 'postgres', 'SELECT id FROM t ORDER BY id', ordinal);

interface Member {
  uid: string;
  image: string;
  restarts: number;
}

async function members(ns: string, db: string): Promise<Map<string, Member>> {
  const pods = await core().listNamespacedPod({
    namespace: ns,
    labelSelector: `app.kubernetes.io/instance=${db}`,
  });
  return new Map(
    pods.items
      .filter((p) => !p.metadata?.deletionTimestamp && p.metadata?.name?.startsWith(`${db}-`))
      .map((p) => [
        p.metadata!.name!,
        {
          uid: p.metadata!.uid!,
          image: p.spec?.containers[0]?.image ?? '',
          restarts: (p.status?.containerStatuses ?? []).reduce((n, c) => n + c.restartCount, 0),
        },
      ]),
  );
}

/** Every pod incarnation of each member seen while it runs (polled): a member rolled twice shows three. */
function watchMembers(ns: string, db: string) {
  const seen = new Map<string, Set<string>>();
  let on = true;
  const loop = (async () => {
    while (on) {
      for (const [name, m] of await members(ns, db).catch(() => new Map<string, Member>())) {
        seen.set(name, (seen.get(name) ?? new Set()).add(m.uid));
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  return {
    async stop() {
      on = false;
      await loop;
      return seen;
    },
  };
}

async function statefulSetBuild(ns: string, db: string) {
  const sts = await apps().readNamespacedStatefulSet({ name: db, namespace: ns });
  return {
    build: sts.metadata?.annotations?.[ENGINE_BUILD_ANNOTATION],
    upgradingFrom: sts.metadata?.annotations?.[UPGRADING_FROM_ANNOTATION],
    image: sts.spec?.template.spec?.containers[0]?.image,
    partition: sts.spec?.updateStrategy?.rollingUpdate?.partition,
  };
}

const serverVersion = async (ns: string, db: string, ordinal: number) =>
  (await sql<{ server_version: string }>(ns, db, 'postgres', 'SHOW server_version', ordinal))[0]!
    .server_version;

/** One step boundary of the upgrade child: the activity it scheduled, by type and summary. */
const step =
  (type: string, summary: RegExp) =>
  (steps: ScheduledStep[]): boolean =>
    steps.some((s) => s.type === type && summary.test(s.summary));

describe('an upgrade whose Database run is terminated at every step', () => {
  const name = 'orders';
  const mixed = 'ledger';
  let ns = '';
  let op: RunningOperator;
  let connection: Connection;
  let client: Client;
  const spec = (version: string, over: Partial<DatabaseSpecInput> = {}): DatabaseSpecInput => ({
    engine: 'postgres',
    version,
    replicas: 2,
    upgrade: { timeoutSeconds: 600 },
    ...over,
  });
  const withBackups = { backup: { enabled: true, schedule: '0 3 * * *' } };

  beforeAll(async () => {
    ns = await createNamespace('fresh-upg');
    op = await startOperator(ns);
    connection = await temporalConnection();
    client = temporalClient(connection);
    await applyDatabase(ns, name, spec('15', withBackups));
    await applyDatabase(ns, mixed, spec('15'));
    await waitForPhase(ns, name, 'Ready', { timeoutMs: 300_000 });
    await waitForPhase(ns, mixed, 'Ready', { timeoutMs: 300_000 });
    for (const db of [name, mixed]) {
      await sql(ns, db, 'postgres', 'CREATE TABLE t (id int PRIMARY KEY)');
      await sql(ns, db, 'postgres', 'INSERT INTO t VALUES (1), (2), (3)');
    }
  });
  afterAll(async () => {
    await op?.stop();
    await connection?.close();
    if (ns) await deleteNamespace(ns);
  });

  it('upgrades 15 → 15.20 once per member, every gate run, through a fresh run at each step', async () => {
    const before = await members(ns, name);
    const watch = watchMembers(ns, name);
    const started = Date.now();
    await applyDatabase(ns, name, spec('15.20', withBackups));
    const gen = (await getDatabase(ns, name))!.metadata.generation!;
    const parentId = databaseWorkflowId(ns, name);
    const childId = upgradeWorkflowId(ns, name, gen);
    const backupId = backupWorkflowId(ns, preUpgradeBackupName(name, gen));
    const m = (ordinal: number) => `${name}-${ordinal} \\(${ordinal === 0 ? 'primary' : 'replica'}\\)`;
    const boundaries: [string, (s: ScheduledStep[]) => boolean][] = [
      ['the freeze at partition 2', step('applyRollout', /partition 2$/)],
      ['member 1 let go (partition 1)', step('applyRollout', /, partition 1$/)],
      ['the wait for member 1', step('waitForMember', new RegExp(m(1)))],
      ['the engine check of member 1', step('checkMemberHealth', new RegExp(m(1)))],
      ['member 0 let go (partition 0)', step('applyRollout', /, partition 0$/)],
      ['the wait for member 0', step('waitForMember', new RegExp(m(0)))],
      ['the engine check of member 0', step('checkMemberHealth', new RegExp(m(0)))],
      ['the wait for the StatefulSet', step('waitForStatefulSetReady', /./)],
    ];
    const childRuns = new Set<string>();
    const closeWithParent = async (runId: string) =>
      // The child's parent close policy (the default, TERMINATE): it ends with its parent's run.
      waitFor(`upgrade run ${runId} ended with its parent`, async () =>
        (await runStatus(client, childId, runId)) === 'TERMINATED' ? true : undefined,
      );

    // The pre-upgrade backup (its own run, abandoned by the upgrade) is running its Job.
    await waitForStep(client, backupId, 'the backup Job', (s) => s.some((x) => x.type === 'waitForJob'));
    const first = (await client.workflow.getHandle(childId).describe()).runId;
    childRuns.add(first);
    await replaceRun(client, op, parentId, 'test: terminated during the pre-upgrade backup');
    await closeWithParent(first);
    for (const [what, reached] of boundaries) {
      const runId = await waitForStep(client, childId, what, reached, { skip: childRuns });
      childRuns.add(runId);
      await replaceRun(client, op, parentId, `test: terminated at ${what}`);
      await closeWithParent(runId);
    }
    // The next upgrade run moves nothing (all moved already) but runs every gate. Unless the run
    // terminated last got one step further (a busy machine): it recorded on the StatefulSet that
    // every member runs the new build, and a fresh Database run has no upgrade left to run.
    const recordedDone = (await statefulSetBuild(ns, name)).upgradingFrom === undefined;
    let last = [...childRuns].pop()!;
    if (recordedDone) figure('the last terminated upgrade run had recorded the rollout done');
    else {
      last = await waitFor(
        'an upgrade run that completes',
        async () => {
          const d = await client.workflow.getHandle(childId).describe();
          return !childRuns.has(d.runId) && d.status.name === 'COMPLETED' ? d.runId : undefined;
        },
        { timeoutMs: 300_000 },
      );
      const outcome: UpgradeOutcome = await client.workflow.getHandle(childId, last).result();
      expect(outcome).toMatchObject({ state: 'Upgraded', updated: [1, 0] });
    }
    // And terminated once more, as soon as the upgrade is done: the fresh run finds it done.
    await replaceRun(client, op, parentId, 'test: terminated after the upgrade');
    const db = await waitForPhase(ns, name, 'Ready', { generation: gen, timeoutMs: 300_000 });
    figure(
      `orders 15 → 15.20, ${childRuns.size + 1} Database runs terminated: Ready ${((Date.now() - started) / 1000).toFixed(0)} s after the apply`,
    );
    const seen = await watch.stop();
    expect((await client.workflow.getHandle(childId).describe()).runId).toBe(last); // no upgrade again
    expect(db.status?.currentVersion).toBe('15.20');
    // Whether the last run reported the outcome before it was terminated or not, the status says it.
    expect(db.status?.upgrade).toMatchObject({ fromVersion: '15', toVersion: '15.20', state: 'Upgraded' });
    expect(db.status?.conditions?.find((c) => c.type === 'Upgraded')?.status).toBe('True');

    // What the StatefulSet records and what the engines say agree.
    expect(await statefulSetBuild(ns, name)).toEqual({
      build: JSON.stringify({ version: '15.20' }),
      upgradingFrom: undefined,
      image: 'postgres:15.20',
      partition: 0,
    });
    for (const ordinal of [0, 1]) expect(await serverVersion(ns, name, ordinal)).toMatch(/^15\.20\b/);
    for (const ordinal of [0, 1])
      expect(await rows(ns, name, ordinal)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);

    // Each member replaced exactly once: its old pod, then one new pod, never restarted.
    const after = await members(ns, name);
    for (const [pod, was] of before) {
      const now = after.get(pod)!;
      expect(now.image).toBe('postgres:15.20');
      expect(now.uid).not.toBe(was.uid);
      expect(now.restarts).toBe(0);
      expect([...(seen.get(pod) ?? [])].filter((uid) => uid !== was.uid)).toEqual([now.uid]);
    }
    // One pre-upgrade backup, one dump Job.
    const backupName = preUpgradeBackupName(name, gen);
    expect((await getBackup(ns, backupName))?.status?.phase).toBe('Succeeded');
    expect((await jobNames(ns)).filter((j) => j.startsWith(`${backupName}-`))).toEqual([`${backupName}-1`]);
  });

  it('a fresh run after an upgrade stopped halfway returns to the old version, not refuses it', async () => {
    await applyDatabase(ns, mixed, spec('15.20'));
    const gen = (await getDatabase(ns, mixed))!.metadata.generation!;
    const childId = upgradeWorkflowId(ns, mixed, gen);
    // Member 1 runs 15.20 and passed its readiness gate; member 0 (the primary) still runs 15.
    await waitForStep(client, childId, 'the engine check of member 1', step('checkMemberHealth', /ledger-1/));
    const parentId = databaseWorkflowId(ns, mixed);
    await client.workflow.getHandle(parentId).terminate('test: terminated halfway through the upgrade');
    // The child closes with its parent, but not in the same instant: on a busy machine it may
    // take one more step first. What counts is where the members stand once it is gone.
    await waitFor(
      'the upgrade child closed with its parent',
      async () => (await client.workflow.getHandle(childId).describe()).status.name !== 'RUNNING',
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const stopped = await members(ns, mixed);
    // The one more step may have been member 0's: the rollout let go down to partition 0 (its
    // activity, scheduled, may even run after the run was terminated). Then the StatefulSet
    // replaces the primary's pod whatever the fresh run does next, and it must only come back on
    // the old version.
    const primaryLetGo = (await scheduledSteps(client.workflow.getHandle(childId))).some(
      (s) => s.type === 'applyRollout' && /, partition 0$/.test(s.summary),
    );
    expect(stopped.get(`${mixed}-1`)?.image).toBe('postgres:15.20');
    expect(stopped.get(`${mixed}-0`)?.image).toBe('postgres:15');

    // Back to what the primary runs: the watcher's signal starts a fresh run with it.
    await applyDatabase(ns, mixed, spec('15'));
    const db = await waitFor(
      'the new generation Ready or refused',
      async () => {
        const d = await getDatabase(ns, mixed);
        const settled = d?.status?.phase === 'Ready' || d?.status?.phase === 'Failed';
        return settled && (d.status?.observedGeneration ?? 0) > gen ? d : undefined;
      },
      { timeoutMs: 300_000 },
    );
    const ready = db.status?.conditions?.find((c) => c.type === 'Ready');
    expect([ready?.status, ready?.reason, ready?.message]).toEqual(['True', 'Ready', expect.any(String)]);
    expect(db.status?.currentVersion).toBe('15');
    // The upgrade the terminated run was at is not left "Upgrading".
    expect(db.status?.upgrade).toMatchObject({ fromVersion: '15', toVersion: '15.20', state: 'Interrupted' });
    expect(db.status?.conditions?.find((c) => c.type === 'Upgraded')).toMatchObject({
      status: 'False',
      reason: 'UpgradeInterrupted',
    });
    expect(await statefulSetBuild(ns, mixed)).toEqual({
      build: JSON.stringify({ version: '15' }),
      upgradingFrom: undefined,
      image: 'postgres:15',
      partition: 0,
    });
    await waitFor(
      'every member back on postgres:15',
      async () =>
        [...(await members(ns, mixed)).values()].every((p) => p.image === 'postgres:15') || undefined,
    );
    // The primary never moved after that (unless the stopped run had let it go); the replica went
    // to 15.20 and back.
    if (primaryLetGo) figure('the upgrade child let member 0 go before it closed: its pod was replaced');
    else expect((await members(ns, mixed)).get(`${mixed}-0`)?.uid).toBe(stopped.get(`${mixed}-0`)!.uid);
    for (const ordinal of [0, 1])
      expect(await rows(ns, mixed, ordinal)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);

    // Below what runs is still a downgrade, checked against the build the members run.
    await applyDatabase(ns, mixed, spec('14'));
    const refused = await waitForPhase(ns, mixed, 'Failed', { timeoutMs: 120_000 });
    expect(refused.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      reason: 'DowngradeNotAllowed',
      message: expect.stringContaining('from 15 to 14'),
    });
    await recordNamespaceHistories(
      client,
      ns,
      'fresh-upgrade',
      'an upgrade (with its pre-upgrade backup) whose Database run is terminated at every step and taken up by fresh runs; a fresh run returning a half-upgraded Database to its old version',
    );
  });
});

describe('a backup whose runs are terminated at every step', () => {
  const db = 'books';
  const bed = withReadyDatabase('fresh-bak', db, {
    engine: 'postgres',
    version: '15.20',
    backup: { enabled: false, retention: { count: 5 } },
  });
  const steps = [
    'loadBackupPlan',
    'ensureBackupRecord',
    'updateBackupStatus',
    'ensureBackupStorage',
    'updateBackupStatus',
    'startBackupJob',
    'waitForJob',
    'recordBackupOutcome',
    'updateBackupStatus',
    'listExpiredBackups',
  ];

  it('runs one dump Job, ends Succeeded where it says, and its data restores', async () => {
    const { ns, op, client } = bed;
    await sql(ns, db, 'postgres', 'CREATE TABLE t (id int PRIMARY KEY)');
    await sql(ns, db, 'postgres', 'INSERT INTO t VALUES (1), (2), (3)');
    const backup = 'bk1';
    const id = backupWorkflowId(ns, backup);
    await createBackup(ns, backup, db);
    const runs = new Set<string>();
    for (let k = 0; k < steps.length; k++) {
      const what = `${steps[k]} (step ${k + 1})`;
      const phase = (await getBackup(ns, backup))?.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') {
        figure(`bk1 final (${phase}) before step ${k + 1}: no run is started for it any more`);
        break;
      }
      const runId = await waitForStep(client, id, what, (s) => s.length > k && s[k]!.type === steps[k], {
        skip: runs,
      });
      runs.add(runId);
      await client.workflow.getHandle(id, runId).terminate(`test: terminated at ${what}`);
      await op.restartWatcher();
      // The watcher starts a fresh run for a backup not finished; one finished needs none.
      await waitFor(`a fresh run of ${id}, or bk1 finished`, async () => {
        const d = await client.workflow.getHandle(id).describe();
        const phase = (await getBackup(ns, backup))?.status?.phase;
        return d.runId !== runId || phase === 'Succeeded' || undefined;
      });
    }
    const done = await waitForBackupDone(ns, backup);
    expect(done.status).toMatchObject({ phase: 'Succeeded', attempts: 1, jobName: `${backup}-1` });
    expect(done.status?.location).toBe(`pvc://${db}-backups/${db}/${backup}.sql.gz`);
    expect((await jobNames(ns)).filter((j) => j.startsWith(`${backup}-`))).toEqual([`${backup}-1`]);
    const job = JSON.parse(await kubectlOk(['get', 'job', '-n', ns, `${backup}-1`, '-o', 'json'])) as {
      status?: { succeeded?: number; failed?: number };
    };
    expect(job.status?.succeeded).toBe(1);
    expect(job.status?.failed ?? 0).toBe(0);
    await waitFor(
      'the Database to report bk1',
      async () => (await getDatabase(ns, db))?.status?.lastBackup?.name === backup || undefined,
    );

    await applyDatabase(ns, `${db}-copy`, {
      engine: 'postgres',
      version: '15.20',
      bootstrap: { fromBackup: { name: backup } },
    });
    await waitForPhase(ns, `${db}-copy`, 'Ready', { timeoutMs: 300_000 });
    expect(await rows(ns, `${db}-copy`)).toEqual([{ id: 1 }, { id: 2 }, { id: 3 }]);
  });

  it("the Database's run terminated during a backup: the backup completes and is reported", async () => {
    const { ns, op, client } = bed;
    const dbId = databaseWorkflowId(ns, db);
    await sql(ns, db, 'postgres', 'INSERT INTO t VALUES (4)');

    // A fresh run is there when the backup ends: it hears of it.
    await createBackup(ns, 'bk2', db);
    await waitForStep(client, backupWorkflowId(ns, 'bk2'), 'the Job', (s) =>
      s.some((x) => x.type === 'waitForJob'),
    );
    await replaceRun(client, op, dbId, 'test: terminated during backup bk2');
    expect((await waitForBackupDone(ns, 'bk2')).status?.phase).toBe('Succeeded');
    await waitFor(
      'the Database to report bk2',
      async () => (await getDatabase(ns, db))?.status?.lastBackup?.name === 'bk2' || undefined,
    );

    // No run at all when the backup ends (its notice is lost): the fresh run reads it.
    await createBackup(ns, 'bk3', db);
    await waitForStep(client, backupWorkflowId(ns, 'bk3'), 'the Job', (s) =>
      s.some((x) => x.type === 'waitForJob'),
    );
    await client.workflow.getHandle(dbId).terminate('test: terminated during backup bk3');
    const bk3 = await waitForBackupDone(ns, 'bk3');
    expect(bk3.status?.phase).toBe('Succeeded');
    await op.restartWatcher();
    const reported = await waitFor(
      'the fresh run to report bk3',
      async () => {
        const d = await getDatabase(ns, db);
        return d?.status?.phase === 'Ready' && d.status.lastBackup?.name === 'bk3' ? d : undefined;
      },
      { timeoutMs: 120_000 },
    );
    expect(reported.status?.lastBackup).toMatchObject({ name: 'bk3', phase: 'Succeeded' });
    expect(reported.status?.conditions?.find((c) => c.type === 'LastBackupSucceeded')).toMatchObject({
      status: 'True',
    });
    await recordNamespaceHistories(
      client,
      ns,
      'fresh-backup',
      'a backup whose run is terminated at every step and taken up by fresh runs (one Job); the Database run terminated during backups, a fresh one reading the last backup',
    );
  });
});
