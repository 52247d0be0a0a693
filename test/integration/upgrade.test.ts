import * as k8s from '@kubernetes/client-node';
import type { Client, Connection } from '@temporalio/client';
import { CANCEL_UPGRADE_ANNOTATION, type Condition, type Database, type DatabaseSpecInput } from '../../crds';
import { waitFor } from '../../tools/stack/wait';
import { recordNamespaceHistories } from '../support/record-histories';
import { databaseWorkflowId, upgradeWorkflowId } from '../../workflows/signals';
import type { UpgradeOutcome } from '../../workflows/upgrade';
import {
  applyDatabase,
  databaseEventReasons,
  getDatabase,
  installCrds,
  operatorConfig,
  operatorProcesses,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import { memberSql } from '../support/members';
import {
  createNamespace,
  deleteNamespace,
  kubeConfig,
  kubectl,
  kubectlOk,
  temporalClient,
  temporalConnection,
  uniqueName,
} from '../support/stack';

/**
 * Upgrades on real nodes (kubelet + containerd running the images built here): a rolling upgrade
 * member by member (replicas first, the primary last) gated on pod readiness and on the version
 * the engine reports; an image whose server runs but whose readiness probe never passes
 * (`localhost/durable-test/postgres-never-ready:15`: its pg_isready always fails) rolled back; a
 * cancellation by annotation rolled back; forbidden transitions rejected; a deletion in the
 * middle of an upgrade; the worker SIGKILLed mid-upgrade; a real major version change of MariaDB
 * (10.11 → 11.8, mariadb-upgrade run by the image's entrypoint) with its data and replication.
 * Figures (durations) go to stderr as `[upgrade] …`.
 *
 * Versions name builds that exist: `postgres:15` is PostgreSQL 15.20 (also tagged
 * `postgres:15.20`), `mariadb:10.11` is 10.11.19, `mariadb:11.8` is 11.8.x. The upgrade gate
 * compares the version the engine reports with the spec (the full version, or only the major
 * with spec.image).
 */

const REVISION = 'controller-revision-hash';
/** Its server runs; its pg_isready (the readiness and startup probe) always fails. */
const NEVER_READY_PG = 'localhost/durable-test/postgres-never-ready:15';
const figure = (text: string) => process.stderr.write(`[upgrade] ${text}\n`);

let connection: Connection;
let client: Client;
let apps: k8s.AppsV1Api;
let core: k8s.CoreV1Api;

beforeAll(async () => {
  await installCrds();
  connection = await temporalConnection();
  client = temporalClient(connection);
  apps = kubeConfig().makeApiClient(k8s.AppsV1Api);
  core = kubeConfig().makeApiClient(k8s.CoreV1Api);
});
afterAll(async () => {
  await connection.close();
});

const condition = (db: Database | undefined, type: string): Condition | undefined =>
  db?.status?.conditions?.find((c) => c.type === type);

interface PodView {
  name: string;
  uid: string;
  revision: string;
  image: string;
  ready: boolean;
}

async function podsOf(ns: string, name: string): Promise<PodView[]> {
  const pods = await core.listNamespacedPod({
    namespace: ns,
    labelSelector: `app.kubernetes.io/instance=${name}`,
  });
  return pods.items
    .filter((p) => !p.metadata?.deletionTimestamp)
    .map((p) => ({
      name: p.metadata!.name!,
      uid: p.metadata!.uid!,
      revision: p.metadata?.labels?.[REVISION] ?? '',
      image: p.spec?.containers[0]?.image ?? '',
      ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/** The StatefulSet's image, and whether every member runs its one revision and is Ready. */
async function rolledOut(ns: string, name: string) {
  const sts = await apps.readNamespacedStatefulSet({ name, namespace: ns });
  const pods = await podsOf(ns, name);
  const revision = sts.status?.updateRevision;
  return {
    image: sts.spec?.template.spec?.containers[0]?.image,
    partition: sts.spec?.updateStrategy?.rollingUpdate?.partition,
    settled:
      sts.status?.currentRevision === revision &&
      pods.length === sts.spec?.replicas &&
      pods.every((p) => p.revision === revision && p.ready),
    pods,
  };
}

/** Upgrade workflow runs of a Database (children of its workflow), oldest first. */
async function upgradeRuns(ns: string, name: string) {
  const runs = [];
  for await (const wf of client.workflow.list({
    query: `WorkflowType="upgradeWorkflow" AND DatabaseNamespace="${ns}" AND DatabaseName="${name}"`,
  })) {
    runs.push(wf);
  }
  return runs.sort((a, b) => a.startTime.getTime() - b.startTime.getTime());
}

/** Polls the Database until `check` holds, noting when it first did. */
async function until(
  ns: string,
  name: string,
  what: string,
  check: (db: Database) => boolean,
  timeoutMs = 180_000,
) {
  return waitFor(
    `${ns}/${name}: ${what}`,
    async () => {
      const db = await getDatabase(ns, name);
      return db && check(db) ? { db, at: Date.now() } : undefined;
    },
    { timeoutMs, intervalMs: 250 },
  );
}

/** Messages of the Events with this reason on a Database, oldest first. */
async function eventMessages(ns: string, name: string, reason: string): Promise<string[]> {
  const out = await kubectlOk([
    'get',
    'events',
    '-n',
    ns,
    '--field-selector',
    `involvedObject.kind=Database,involvedObject.name=${name},reason=${reason}`,
    '--sort-by=.metadata.creationTimestamp',
    '-o',
    'jsonpath={range .items[*]}{.message}{"\\n"}{end}',
  ]);
  return out.split('\n').filter(Boolean);
}

const upgradeState = (state: string) => (db: Database) => db.status?.upgrade?.state === state;

describe('upgrades with rollback', () => {
  const name = 'shop';
  let ns: string;
  let op: RunningOperator;
  const spec = (over: Partial<DatabaseSpecInput> = {}): DatabaseSpecInput => ({
    engine: 'postgres',
    version: '15',
    replicas: 3,
    upgrade: { timeoutSeconds: 60 },
    ...over,
  });

  /** The version running now: the tests after the first work from whatever the previous left. */
  const runningVersion = async () => (await getDatabase(ns, name))!.status!.currentVersion!;
  const generation = async () => (await getDatabase(ns, name))!.metadata.generation!;

  /**
   * Applies an upgrade to the never-ready image with a long deadline, and waits until member 2
   * runs it (and is stuck there); returns its generation.
   */
  const startStuckUpgrade = async () => {
    await applyDatabase(
      ns,
      name,
      spec({ version: '15.20', image: NEVER_READY_PG, upgrade: { timeoutSeconds: 900 } }),
    );
    const gen = await generation();
    await waitFor(
      'member 2 on the stuck image',
      async () => (await podsOf(ns, name)).find((p) => p.name === `${name}-2`)?.image === NEVER_READY_PG,
      { timeoutMs: 120_000 },
    );
    return gen;
  };

  beforeAll(async () => {
    ns = await createNamespace('upg');
    op = await startOperator(ns);
  });
  afterAll(async () => {
    await op.stop();
    await deleteNamespace(ns);
  });

  it('provisions postgres 15 with 3 members', async () => {
    await applyDatabase(ns, name, spec());
    const db = await waitForPhase(ns, name, 'Ready', { generation: 1, timeoutMs: 300_000 });
    expect(db.status?.currentVersion).toBe('15');
    expect(condition(db, 'Upgraded')).toBeUndefined();
    expect((await rolledOut(ns, name)).image).toBe('postgres:15');
  }, 360_000);

  it('rolls back an image whose pods never become Ready, and does not retry it at resync', async () => {
    const before = await rolledOut(ns, name);
    const goodImage = before.image;
    const from = await runningVersion();
    const runsBefore = await upgradeRuns(ns, name);
    const started = Date.now();
    await applyDatabase(ns, name, spec({ version: '15.20', image: NEVER_READY_PG }));
    const gen = await generation();
    const detected = await until(ns, name, 'the failure detected', upgradeState('RollingBack'), 180_000);
    const db = await waitForPhase(ns, name, 'Ready', { generation: gen, timeoutMs: 240_000 });
    const done = Date.now();
    figure(
      `never-Ready image (timeoutSeconds 60, 3 members → 20 s member gate): failure detected ${((detected.at - started) / 1000).toFixed(1)} s after kubectl apply, ` +
        `rollback finished (Ready on the old version) ${((done - detected.at) / 1000).toFixed(1)} s later`,
    );

    expect(db.status?.currentVersion).toBe(from);
    expect(db.status?.upgrade).toMatchObject({ fromVersion: from, toVersion: '15.20', state: 'RolledBack' });
    // What the kubelet reports: the server runs, its startup probe (pg_isready) never passes.
    expect(db.status?.upgrade?.reason).toMatch(/shop-2 \(replica\) not Ready at the new revision within 20s/);
    expect(db.status?.upgrade?.reason).toMatch(/container database running, startup probe not passing yet/);
    expect(condition(db, 'Upgraded')).toMatchObject({ status: 'False', reason: 'RolledBack' });
    expect(condition(db, 'Ready')).toMatchObject({ status: 'True', reason: 'Ready' });
    const after = await rolledOut(ns, name);
    expect(after).toMatchObject({ image: goodImage, partition: 0, settled: true });
    // Only the first member tried the bad image; the others were never touched.
    const kept = (p: PodView) => before.pods.some((b) => b.uid === p.uid);
    expect(after.pods.map(kept)).toEqual([true, true, false]);
    const reasons = await databaseEventReasons(ns, name);
    expect(reasons).toEqual(expect.arrayContaining(['UpgradeFailed', 'RolledBack']));
    const outcome: UpgradeOutcome = await client.workflow
      .getHandle(upgradeWorkflowId(ns, name, gen))
      .result();
    expect(outcome).toMatchObject({ state: 'RolledBack', cause: 'UpgradeFailed', updated: [] });
    figure(
      `upgrade workflow: detected after ${(outcome.detectedAfterMs! / 1000).toFixed(1)} s, ended after ${(outcome.durationMs / 1000).toFixed(1)} s`,
    );

    // A drift repair (a Service deleted by hand) reconciles the generation again: it renders the
    // version that runs, and starts no second upgrade of the failing target.
    await kubectlOk(['delete', 'service', `${name}-ro`, '-n', ns]);
    await waitFor(
      'Service re-created',
      async () => (await kubectl(['get', 'service', `${name}-ro`, '-n', ns])).code === 0,
    );
    await waitFor('DriftCorrected Event', async () =>
      (await databaseEventReasons(ns, name)).includes('DriftCorrected'),
    );
    const resynced = await waitForPhase(ns, name, 'Ready', { generation: gen, timeoutMs: 120_000 });
    expect(condition(resynced, 'Upgraded')).toMatchObject({ status: 'False', reason: 'RolledBack' });
    expect(await rolledOut(ns, name)).toMatchObject({ image: goodImage, settled: true });
    expect((await upgradeRuns(ns, name)).map((r) => r.workflowId)).toEqual([
      ...runsBefore.map((r) => r.workflowId),
      upgradeWorkflowId(ns, name, gen),
    ]);
  }, 480_000);

  it('cancels a running upgrade with one kubectl annotate: it rolls back', async () => {
    const before = await rolledOut(ns, name);
    const from = await runningVersion();
    // A long deadline: only the cancellation ends this upgrade.
    const gen = await startStuckUpgrade();
    const cancelled = Date.now();
    await kubectlOk(['annotate', 'database', name, '-n', ns, `${CANCEL_UPGRADE_ANNOTATION}=true`]);
    const db = await waitForPhase(ns, name, 'Ready', { generation: gen, timeoutMs: 240_000 });
    figure(
      `cancelled by annotation: rolled back and Ready ${((Date.now() - cancelled) / 1000).toFixed(1)} s after kubectl annotate`,
    );

    expect(db.status?.currentVersion).toBe(from);
    expect(db.status?.upgrade).toMatchObject({ fromVersion: from, toVersion: '15.20', state: 'RolledBack' });
    expect(condition(db, 'Upgraded')).toMatchObject({ status: 'False', reason: 'UpgradeCancelled' });
    expect(await rolledOut(ns, name)).toMatchObject({ image: before.image, settled: true });
    const outcome: UpgradeOutcome = await client.workflow
      .getHandle(upgradeWorkflowId(ns, name, gen))
      .result();
    expect(outcome).toMatchObject({ state: 'RolledBack', cause: 'UpgradeCancelled' });
    // The annotation is removed once handled.
    await waitFor(
      'annotation removed',
      async () =>
        (await getDatabase(ns, name))?.metadata.annotations?.[CANCEL_UPGRADE_ANNOTATION] === undefined,
    );
    expect(await databaseEventReasons(ns, name)).toEqual(
      expect.arrayContaining(['UpgradeCancelled', 'RolledBack', 'CancelUpgradeHandled']),
    );
  }, 420_000);

  it('rolls back as well when the upgrade run is cancelled in Temporal (the UI’s Cancel)', async () => {
    const from = await runningVersion();
    const before = await rolledOut(ns, name);
    // Another generation than the cancelled one above (its deadline differs), same stuck image.
    await applyDatabase(
      ns,
      name,
      spec({ version: '15.20', image: NEVER_READY_PG, upgrade: { timeoutSeconds: 1800 } }),
    );
    const gen = await generation();
    // As soon as the run exists (the phase says Upgrading a moment before it starts).
    const run = client.workflow.getHandle(upgradeWorkflowId(ns, name, gen));
    await waitFor('upgrade run started', () => run.describe().then(() => true), { intervalMs: 50 });
    await run.cancel();
    const db = await waitForPhase(ns, name, 'Ready', { generation: gen, timeoutMs: 240_000 });
    expect(db.status?.currentVersion).toBe(from);
    expect(condition(db, 'Upgraded')).toMatchObject({ status: 'False', reason: 'UpgradeCancelled' });
    // Cancelled as early as it can be (often while the new template is being applied): whatever
    // had reached the StatefulSet is undone.
    expect(await rolledOut(ns, name)).toMatchObject({ image: before.image, partition: 0, settled: true });
  }, 300_000);

  it('rejects a downgrade and a PostgreSQL major jump (15 → 17) with a condition that says why', async () => {
    const from = await runningVersion();
    const image = (await rolledOut(ns, name)).image;
    const runs = (await upgradeRuns(ns, name)).length;
    for (const [version, reason] of [
      ['14', 'DowngradeNotAllowed'],
      ['17', 'MajorUpgradeNotAllowed'],
    ] as const) {
      await applyDatabase(ns, name, spec({ version }));
      const db = await waitForPhase(ns, name, 'Failed', { generation: await generation() });
      expect(condition(db, 'Ready')).toMatchObject({ status: 'False', reason });
      expect(condition(db, 'Ready')?.message).toContain(
        reason === 'DowngradeNotAllowed' ? 'downgrade' : 'major',
      );
      expect(db.status?.currentVersion).toBe(from);
    }
    expect((await rolledOut(ns, name)).image).toBe(image);
    expect(await databaseEventReasons(ns, name)).toEqual(
      expect.arrayContaining(['DowngradeNotAllowed', 'MajorUpgradeNotAllowed']),
    );
    // Back to the version that runs: Ready again, nothing rolled.
    await applyDatabase(ns, name, spec({ version: from }));
    await waitForPhase(ns, name, 'Ready', { generation: await generation(), timeoutMs: 120_000 });
    expect((await upgradeRuns(ns, name)).length).toBe(runs);
  }, 300_000);

  it('upgrades 15 → 15.20 after failed and cancelled ones: replicas first, the primary last, each member gated', async () => {
    const before = await podsOf(ns, name);
    const runsBefore = (await upgradeRuns(ns, name)).map((r) => r.workflowId);
    const started = Date.now();
    // With backups on, a pre-upgrade backup runs before anything changes. A generous deadline:
    // each member's gate (a real restart and a readiness probe every 10 s) gets a third of it.
    await applyDatabase(
      ns,
      name,
      spec({
        version: '15.20',
        backup: { enabled: true, schedule: '0 3 * * *' },
        upgrade: { timeoutSeconds: 900 },
      }),
    );
    const gen = await generation();
    const upgrading = await until(ns, name, 'Upgrading', (db) => db.status?.phase === 'Upgrading');
    // The primary still runs 15 while the replicas move: currentVersion tells the truth.
    expect(upgrading.db.status?.currentVersion).toBe('15');
    const db = await waitForPhase(ns, name, 'Ready', { generation: gen, timeoutMs: 600_000 });
    const seconds = (Date.now() - started) / 1000;
    figure(`postgres 15 → 15.20, 3 members: Ready on 15.20 ${seconds.toFixed(1)} s after kubectl apply`);

    expect(db.status?.currentVersion).toBe('15.20');
    expect(db.status?.upgrade).toMatchObject({ fromVersion: '15', toVersion: '15.20', state: 'Upgraded' });
    expect(db.status?.upgrade?.reason).toMatch(/3 member\(s\) upgraded, replicas first, the primary last/);
    expect(db.status?.upgrade?.reason).not.toMatch(/fail|cancel/);
    expect(condition(db, 'Upgraded')).toMatchObject({ status: 'True', reason: 'Upgraded' });
    expect(condition(db, 'Ready')).toMatchObject({ status: 'True' });

    const now = await rolledOut(ns, name);
    expect(now).toMatchObject({ image: 'postgres:15.20', partition: 0, settled: true });
    // Every member was replaced exactly once.
    for (const pod of now.pods) expect(before.map((p) => p.uid)).not.toContain(pod.uid);

    // One run of its own in Temporal, which moved the members 2, 1, then 0 (the primary).
    const runs = await upgradeRuns(ns, name);
    expect(runs.map((r) => r.workflowId)).toEqual([...runsBefore, upgradeWorkflowId(ns, name, gen)]);
    const outcome: UpgradeOutcome = await client.workflow
      .getHandle(upgradeWorkflowId(ns, name, gen))
      .result();
    expect(outcome).toMatchObject({
      state: 'Upgraded',
      updated: [2, 1, 0],
      backup: `${name}-pre-upgrade-g${gen}`,
    });
    figure(
      `upgrade workflow (pre-upgrade backup, 3 gated members): ${(outcome.durationMs / 1000).toFixed(1)} s`,
    );
    const backup = await kubectlOk([
      'get',
      'databasebackup',
      `${name}-pre-upgrade-g${gen}`,
      '-n',
      ns,
      '-o',
      'jsonpath={.status.phase}',
    ]);
    expect(backup).toBe('Succeeded');
    const history = await client.workflow.getHandle(upgradeWorkflowId(ns, name, gen)).fetchHistory();
    const partitions = (history.events ?? [])
      .map((e) => Buffer.from(e.userMetadata?.summary?.data ?? new Uint8Array()).toString('utf8'))
      .map((s) => /partition (\d)"?$/.exec(s)?.[1])
      .filter((p): p is string => !!p);
    expect(partitions).toEqual(['3', '2', '1', '0']);
    const reasons = await databaseEventReasons(ns, name);
    expect(reasons).toEqual(
      expect.arrayContaining(['Upgrading', 'UpgradingMember', 'MemberUpgraded', 'Upgraded']),
    );
    // Each gate asked the engine, which reported the version it runs.
    const gates = await eventMessages(ns, name, 'MemberUpgraded');
    expect(gates).toHaveLength(3);
    expect(gates.map((m) => /^shop-(\d) \((\w+)\)/.exec(m)?.slice(1).join(' '))).toEqual([
      '2 replica',
      '1 replica',
      '0 primary',
    ]);
    for (const m of gates) expect(m).toMatch(/server 15\.20/);
  }, 720_000);

  it('a new image during a stuck upgrade: that upgrade rolls back, then the newest one runs', async () => {
    const stuckGeneration = await startStuckUpgrade();
    // The fix, applied while the stuck upgrade waits for member 2: the same 15.20 build under its
    // other tag, which the engine reports as 15.20 (with spec.image, the gate checks the major).
    await applyDatabase(
      ns,
      name,
      spec({ version: '15.20', image: 'postgres:15', upgrade: { timeoutSeconds: 900 } }),
    );
    const db = await waitForPhase(ns, name, 'Ready', { generation: await generation(), timeoutMs: 600_000 });
    expect(db.status?.currentVersion).toBe('15.20');
    expect(condition(db, 'Upgraded')).toMatchObject({ status: 'True', reason: 'Upgraded' });
    expect(await rolledOut(ns, name)).toMatchObject({ image: 'postgres:15', partition: 0, settled: true });
    const stuckOutcome: UpgradeOutcome = await client.workflow
      .getHandle(upgradeWorkflowId(ns, name, stuckGeneration))
      .result();
    expect(stuckOutcome).toMatchObject({ state: 'RolledBack', cause: 'UpgradeCancelled' });
  }, 720_000);

  it('deletes a Database in the middle of an upgrade', async () => {
    const workflow = await client.workflow.getHandle(databaseWorkflowId(ns, name)).describe();
    await applyDatabase(
      ns,
      name,
      spec({ version: '15.20', image: NEVER_READY_PG, upgrade: { timeoutSeconds: 900 } }),
    );
    const gen = await generation();
    await until(ns, name, 'Upgrading', (db) => db.status?.phase === 'Upgrading');
    await kubectlOk(['delete', 'database', name, '-n', ns, '--wait=false']);
    await waitFor('Database gone', async () => (await getDatabase(ns, name)) === undefined, {
      timeoutMs: 180_000,
    });
    // The finalizer's removal is the workflow's last step: it completes right after.
    await waitFor('Database workflow completed', async () => {
      const ended = await client.workflow.getHandle(databaseWorkflowId(ns, name), workflow.runId).describe();
      return ended.status.name === 'COMPLETED';
    });
    await waitFor('upgrade workflow ended', async () => {
      const child = await client.workflow.getHandle(upgradeWorkflowId(ns, name, gen)).describe();
      return child.status.name !== 'RUNNING';
    });
    await recordNamespaceHistories(
      client,
      ns,
      'upgrade',
      'upgrades rolled back (never-ready image, cancel by annotation and in Temporal), refused downgrade and major jump, a gated upgrade, a newer image during a stuck upgrade, deletion mid-upgrade',
    );
  }, 300_000);
});

describe('an upgrade survives the worker being SIGKILLed', () => {
  const name = 'ledger';
  let ns: string;
  const { start, kill, killAll } = operatorProcesses();

  beforeAll(async () => {
    ns = await createNamespace('upgkill');
  });
  afterAll(async () => {
    killAll();
    await deleteNamespace(ns);
  });

  it('finishes the upgrade after a kill mid-rollout, and completes a rollback after a kill mid-rollback', async () => {
    const taskQueue = uniqueName('upgkill');
    const cfg = operatorConfig(ns, taskQueue);
    const watcher = start('watcher', cfg, `watcher-${taskQueue}`);
    let worker = start('worker', cfg, `worker-${taskQueue}-0`);
    // A generous deadline for the upgrade that succeeds (a real restart per member); a short one
    // (20 s member gate) for the image that never becomes Ready.
    const base = { engine: 'postgres', replicas: 3, upgrade: { timeoutSeconds: 900 } } as const;
    await applyDatabase(ns, name, { ...base, version: '15' });
    await waitForPhase(ns, name, 'Ready', { generation: 1, timeoutMs: 300_000 });

    // 1. Killed while the second member is being gated: the next worker finishes the upgrade.
    await applyDatabase(ns, name, { ...base, version: '15.20' });
    await waitFor(
      'member 2 upgraded',
      async () => (await databaseEventReasons(ns, name)).includes('MemberUpgraded'),
      { timeoutMs: 300_000 },
    );
    await kill(worker);
    const killed = Date.now();
    worker = start('worker', cfg, `worker-${taskQueue}-1`);
    const upgraded = await waitForPhase(ns, name, 'Ready', { generation: 2, timeoutMs: 480_000 });
    figure(
      `worker SIGKILLed after member 2 was upgraded: upgrade finished ${((Date.now() - killed) / 1000).toFixed(1)} s later`,
    );
    expect(upgraded.status?.currentVersion).toBe('15.20');
    expect(condition(upgraded, 'Upgraded')).toMatchObject({ status: 'True', reason: 'Upgraded' });
    expect(await rolledOut(ns, name)).toMatchObject({ image: 'postgres:15.20', partition: 0, settled: true });
    const outcome: UpgradeOutcome = await client.workflow.getHandle(upgradeWorkflowId(ns, name, 2)).result();
    expect(outcome).toMatchObject({ state: 'Upgraded', updated: [2, 1, 0] });

    // 2. A failing upgrade, the worker killed as soon as the rollback starts: the next one finishes it.
    await applyDatabase(ns, name, {
      ...base,
      version: '15.20',
      image: NEVER_READY_PG,
      upgrade: { timeoutSeconds: 60 },
    });
    await until(ns, name, 'rolling back', upgradeState('RollingBack'), 240_000);
    await kill(worker);
    const killedAgain = Date.now();
    worker = start('worker', cfg, `worker-${taskQueue}-2`);
    const rolledBack = await waitForPhase(ns, name, 'Ready', { generation: 3, timeoutMs: 300_000 });
    figure(
      `worker SIGKILLed as the rollback started: rollback finished ${((Date.now() - killedAgain) / 1000).toFixed(1)} s later`,
    );
    expect(rolledBack.status?.currentVersion).toBe('15.20');
    expect(condition(rolledBack, 'Upgraded')).toMatchObject({ status: 'False', reason: 'RolledBack' });
    expect(await rolledOut(ns, name)).toMatchObject({ image: 'postgres:15.20', partition: 0, settled: true });
    // One upgrade run per generation, whatever the kills.
    expect((await upgradeRuns(ns, name)).map((r) => r.workflowId)).toEqual([
      upgradeWorkflowId(ns, name, 2),
      upgradeWorkflowId(ns, name, 3),
    ]);
    await kill(worker);
    await kill(watcher);
  }, 1_200_000);
});

describe('a real major version change: MariaDB 10.11 → 11.8 in place', () => {
  const name = 'catalog';
  let ns: string;
  let op: RunningOperator;
  // Each member's gate gets a third: a restart, mariadb-upgrade on its data, replication resumed.
  const spec = (version: string): DatabaseSpecInput => ({
    engine: 'mariadb',
    version,
    replicas: 3,
    upgrade: { timeoutSeconds: 1800 },
  });

  beforeAll(async () => {
    ns = await createNamespace('upgmaria');
    op = await startOperator(ns);
  });
  afterAll(async () => {
    await op?.stop();
    if (ns) await deleteNamespace(ns);
  });

  const sql = memberSql(() => ns);
  const query = <T>(ordinal: number, statement: string) => sql.myQuery<T>(name, ordinal, statement);

  const versions = () =>
    Promise.all([0, 1, 2].map(async (o) => (await query<{ v: string }>(o, 'SELECT VERSION() AS v'))[0]!.v));
  const items = (ordinal: number) =>
    query<{ item: string }>(ordinal, 'SELECT item FROM shop.orders ORDER BY id').then((rows) =>
      rows.map((r) => r.item),
    );
  /** Replication is asynchronous: polls a replica until it holds `want`. */
  const replicated = (ordinal: number, want: string[]) =>
    waitFor(
      `${name}-${ordinal} holds ${want.join(', ')}`,
      async () => ((await items(ordinal)).join() === want.join() ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 500 },
    );

  it('upgrades 3 members replicas first, the primary last; data and replication survive', async () => {
    await applyDatabase(ns, name, spec('10.11'));
    await waitForPhase(ns, name, 'Ready', { generation: 1, timeoutMs: 420_000 });
    for (const v of await versions()) expect(v).toMatch(/^10\.11\.\d+-MariaDB/);
    await query(0, 'CREATE DATABASE shop');
    await query(0, 'CREATE TABLE shop.orders (id int PRIMARY KEY, item varchar(20))');
    await query(0, "INSERT INTO shop.orders VALUES (1, 'tea'), (2, 'coffee'), (3, 'cocoa')");
    const before = ['tea', 'coffee', 'cocoa'];
    for (const o of [1, 2]) await replicated(o, before);

    const started = Date.now();
    await applyDatabase(ns, name, spec('11.8'));
    const upgrading = await until(ns, name, 'Upgrading', (db) => db.status?.phase === 'Upgrading');
    expect(upgrading.db.status?.currentVersion).toBe('10.11');
    const db = await waitForPhase(ns, name, 'Ready', { generation: 2, timeoutMs: 1_500_000 });
    const seconds = (Date.now() - started) / 1000;
    const outcome: UpgradeOutcome = await client.workflow.getHandle(upgradeWorkflowId(ns, name, 2)).result();
    figure(
      `mariadb 10.11 → 11.8, 3 members: Ready on 11.8 ${seconds.toFixed(1)} s after kubectl apply ` +
        `(upgrade workflow ${(outcome.durationMs / 1000).toFixed(1)} s)`,
    );
    expect(outcome).toMatchObject({ state: 'Upgraded', updated: [2, 1, 0] });
    expect(db.status?.currentVersion).toBe('11.8');
    expect(db.status?.upgrade).toMatchObject({ fromVersion: '10.11', toVersion: '11.8', state: 'Upgraded' });
    expect(condition(db, 'Upgraded')).toMatchObject({ status: 'True', reason: 'Upgraded' });
    expect(condition(db, 'ReplicationReady')).toMatchObject({ status: 'True' });
    expect(await rolledOut(ns, name)).toMatchObject({ image: 'mariadb:11.8', partition: 0, settled: true });

    // What every member's engine says now, and what it holds.
    for (const v of await versions()) expect(v).toMatch(/^11\.8\.\d+-MariaDB/);
    for (const o of [0, 1, 2]) expect(await items(o)).toEqual(before);
    // The image's entrypoint ran mariadb-upgrade on each member's old data directory.
    for (const o of [0, 1, 2]) {
      const logs = await kubectlOk(['logs', '-n', ns, `${name}-${o}`, '-c', 'database']);
      expect(logs).toMatch(/upgrading the system tables from 10\.11\.\d+ to 11\.8\.\d+/);
    }
    // Replicas replicate what the upgraded primary writes.
    await query(0, "INSERT INTO shop.orders VALUES (4, 'mate')");
    for (const o of [1, 2]) await replicated(o, [...before, 'mate']);
  }, 2_100_000);
});
