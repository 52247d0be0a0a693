import fs from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import type { Client, Connection } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { Database } from '../../crds';
import { waitFor } from '../../tools/stack/wait';
import { databaseWorkflowId } from '../../workflows/signals';
import { workflowCodeHash } from '../replay/coverage';
import { recordHistories } from '../support/record-histories';
import {
  applyDatabase,
  databaseEventReasons,
  getDatabase,
  objectsOfDatabase,
  startOperator,
  waitForPhase,
  type RunningOperator,
} from '../support/operator';
import {
  createNamespace,
  deleteNamespace,
  kubeConfig,
  kubectl,
  kubectlOk,
  stackInfo,
  temporalClient,
  temporalConnection,
} from '../support/stack';

/**
 * The whole lifecycle of one Database against the real stack: kubectl apply → watcher → workflow
 * → activities → objects, status and Events; edits, scaling, drift, deletion and re-creation.
 * The tests build on each other in order, as a user's session would.
 */
describe('Database lifecycle', () => {
  const name = 'orders';
  let ns: string;
  let op: RunningOperator;
  let connection: Connection;
  let client: Client;
  let core: k8s.CoreV1Api;
  let apps: k8s.AppsV1Api;
  let firstUid: string;

  beforeAll(async () => {
    ns = await createNamespace('life');
    op = await startOperator(ns);
    connection = await temporalConnection();
    client = temporalClient(connection);
    core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    apps = kubeConfig().makeApiClient(k8s.AppsV1Api);
  });
  afterAll(async () => {
    await op.stop();
    await connection.close();
    await deleteNamespace(ns);
  });

  const reasonsOfEvents = () => databaseEventReasons(ns, name);

  const historyLength = async () => {
    const history = await client.workflow.getHandle(databaseWorkflowId(ns, name)).fetchHistory();
    return history.events?.length ?? 0;
  };

  it('apply → Ready with every owned object, owner references, labels, status and Events', async () => {
    await applyDatabase(ns, name, {
      engine: 'postgres',
      version: '15',
      replicas: 1,
      parameters: { work_mem: '8MB' },
    });
    const db = await waitForPhase(ns, name, 'Ready');
    firstUid = db.metadata.uid!;
    const status = db.status!;
    expect(status.observedGeneration).toBe(1);
    expect(status.currentVersion).toBe('15');
    expect(status.readyReplicas).toBe(1);
    expect(status.secretName).toBe(`${name}-credentials`);
    expect(status.endpoints).toEqual({
      primary: `${name}-primary.${ns}.svc.cluster.local`,
      readOnly: `${name}-ro.${ns}.svc.cluster.local`,
    });
    expect(status.workflow?.id).toBe(databaseWorkflowId(ns, name));
    expect(status.workflow?.url).toContain(stackInfo().temporal.uiUrl);
    const byType = Object.fromEntries((status.conditions ?? []).map((c) => [c.type, c]));
    for (const type of ['Ready', 'ConfigMapReady', 'SecretReady', 'StatefulSetReady', 'ServicesReady']) {
      expect(byType[type]).toMatchObject({ status: 'True', observedGeneration: 1 });
    }
    expect(byType.Progressing).toMatchObject({ status: 'False', reason: 'Reconciled' });
    expect(db.metadata.finalizers).toContain('durable.dev/finalizer');

    const owned = [
      await core.readNamespacedConfigMap({ name: `${name}-config`, namespace: ns }),
      await core.readNamespacedSecret({ name: `${name}-credentials`, namespace: ns }),
      await apps.readNamespacedStatefulSet({ name, namespace: ns }),
      ...(await Promise.all(
        ['headless', 'primary', 'ro'].map((s) =>
          core.readNamespacedService({ name: `${name}-${s}`, namespace: ns }),
        ),
      )),
    ];
    for (const obj of owned) {
      expect(obj.metadata?.ownerReferences).toEqual([
        expect.objectContaining({ kind: 'Database', name, uid: firstUid, controller: true }),
      ]);
      expect(obj.metadata?.labels).toMatchObject({
        'app.kubernetes.io/name': 'postgres',
        'app.kubernetes.io/instance': name,
        'app.kubernetes.io/managed-by': 'durable-db-operator',
      });
      expect(obj.metadata?.labels?.['app.kubernetes.io/component']).toBeDefined();
    }
    const reasons = await reasonsOfEvents();
    expect(reasons).toEqual(
      expect.arrayContaining([
        'Provisioning',
        'ConfigMapCreated',
        'SecretCreated',
        'StatefulSetCreated',
        'ServiceCreated',
        'Ready',
      ]),
    );

    // Findable in the Temporal UI by its search attributes, steps named for what they do.
    const found = await waitFor('workflow by search attributes', async () => {
      for await (const wf of client.workflow.list({
        query: `DatabaseNamespace="${ns}" AND DatabaseName="${name}" AND DatabasePhase="Ready"`,
      })) {
        return wf;
      }
      return undefined;
    });
    expect(found.workflowId).toBe(databaseWorkflowId(ns, name));
    const history = await client.workflow.getHandle(databaseWorkflowId(ns, name)).fetchHistory();
    const summaries = (history.events ?? [])
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => Buffer.from(e.userMetadata?.summary?.data ?? new Uint8Array()).toString('utf8'));
    expect(summaries.join('\n')).toContain(`apply ConfigMap, Secret, StatefulSet, Services of ${ns}/${name}`);
    expect(summaries.join('\n')).toContain(`check the spec of Database ${ns}/${name}`);
  });

  it('an edit of the spec updates the ConfigMap and rolls the StatefulSet', async () => {
    const before = await apps.readNamespacedStatefulSet({ name, namespace: ns });
    await applyDatabase(ns, name, {
      engine: 'postgres',
      version: '15',
      replicas: 1,
      parameters: { work_mem: '16MB' },
    });
    // A rolling restart of the member: on a busy CI machine, beside the fault suites, it has
    // taken over 90 s (a timeout now prints the Database, its pods and Events).
    await waitForPhase(ns, name, 'Ready', { generation: 2, timeoutMs: 180_000 });
    const cm = await core.readNamespacedConfigMap({ name: `${name}-config`, namespace: ns });
    expect(Object.values(cm.data ?? {}).join('\n')).toMatch(/work_mem = '?16MB'?/);
    const after = await apps.readNamespacedStatefulSet({ name, namespace: ns });
    const hash = (s: k8s.V1StatefulSet) =>
      s.spec?.template.metadata?.annotations?.['durable.dev/config-hash'];
    expect(hash(after)).toBeDefined();
    expect(hash(after)).not.toBe(hash(before));
    expect(await reasonsOfEvents()).toEqual(expect.arrayContaining(['Updating', 'ConfigMapUpdated']));
  }, 240_000);

  it('scales 1 → 3 → 2', async () => {
    for (const [replicas, generation] of [
      [3, 3],
      [2, 4],
    ] as const) {
      await applyDatabase(ns, name, {
        engine: 'postgres',
        version: '15',
        replicas,
        parameters: { work_mem: '16MB' },
      });
      const db = await waitForPhase(ns, name, 'Ready', { generation });
      expect(db.status?.readyReplicas).toBe(replicas);
      const sts = await apps.readNamespacedStatefulSet({ name, namespace: ns });
      expect(sts.spec?.replicas).toBe(replicas);
      expect(sts.status?.readyReplicas).toBe(replicas);
    }
    expect(await reasonsOfEvents()).toContain('Scaling');
  });

  it('status-only and metadata-only updates cause no new work', async () => {
    // Settled first: the end of the last rollout reaches the workflow as a readiness notice, and
    // its look may still be under way.
    let length = await historyLength();
    await waitFor(
      'the history to settle',
      async () => {
        await new Promise((r) => setTimeout(r, 2_000));
        const now = await historyLength();
        const settled = now === length;
        length = now;
        return settled;
      },
      { timeoutMs: 60_000, intervalMs: 0 },
    );
    await kubectlOk([
      'patch',
      `databases.durable.dev/${name}`,
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { lastBackup: { name: 'by-hand' } } }),
    ]);
    await kubectlOk(['label', `databases.durable.dev/${name}`, '-n', ns, 'team=payments']);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await historyLength()).toBe(length);
  });

  it('restores a deleted Service and a StatefulSet edited by hand (drift)', async () => {
    await kubectlOk(['delete', 'service', `${name}-primary`, '-n', ns]);
    await waitFor('Service re-created', async () => {
      const res = await kubectl(['get', 'service', `${name}-primary`, '-n', ns]);
      return res.code === 0;
    });
    await kubectlOk(['scale', 'statefulset', name, '-n', ns, '--replicas=5']);
    await waitFor(
      'StatefulSet replicas restored to 2',
      async () => (await apps.readNamespacedStatefulSet({ name, namespace: ns })).spec?.replicas === 2,
    );
    await waitFor('DriftCorrected Event', async () => (await reasonsOfEvents()).includes('DriftCorrected'));
    await waitForPhase(ns, name, 'Ready');
  });

  it('never lets a secret value into the workflow history', async () => {
    const secret = await core.readNamespacedSecret({ name: `${name}-credentials`, namespace: ns });
    const needles = ['password', 'replication-password'].flatMap((key) => {
      const b64 = secret.data?.[key];
      expect(b64).toBeDefined();
      return [b64!, Buffer.from(b64!, 'base64').toString('utf8')];
    });
    const history = await client.workflow.getHandle(databaseWorkflowId(ns, name)).fetchHistory();
    // Payloads are base64-encoded JSON inside the history: search the raw form and the decoded one.
    const raw = JSON.stringify(history);
    const decoded = (history.events ?? [])
      .flatMap((e) => JSON.stringify(e).match(/"data":"[A-Za-z0-9+/=]+"/g) ?? [])
      .map((m) => Buffer.from(m.slice(8, -1), 'base64').toString('utf8'))
      .join('\n');
    for (const needle of needles) {
      expect(raw).not.toContain(needle);
      expect(decoded).not.toContain(needle);
    }
    // The logs of this test's worker and watcher too.
    const logs = fs
      .readdirSync(`${stackInfo().dir}/logs`)
      .filter((f) => f.includes(op.taskQueue))
      .map((f) => fs.readFileSync(`${stackInfo().dir}/logs/${f}`, 'utf8'))
      .join('\n');
    for (const needle of needles) expect(logs).not.toContain(needle);
  });

  it('delete removes every child and the finalizer and completes the workflow; the name can be re-created', async () => {
    const handle = client.workflow.getHandle(databaseWorkflowId(ns, name));
    const firstRun = (await handle.describe()).runId;
    await kubectlOk(['delete', `databases.durable.dev/${name}`, '-n', ns, '--wait=false']);
    await waitFor('Database gone', async () => (await getDatabase(ns, name)) === undefined, {
      timeoutMs: 60_000,
    });
    await waitFor(
      'owned objects garbage-collected',
      async () =>
        (await objectsOfDatabase(ns, name, 'statefulsets,services,configmaps,secrets,persistentvolumeclaims'))
          .length === 0,
      { timeoutMs: 60_000 },
    );
    const described = await client.workflow.getHandle(databaseWorkflowId(ns, name), firstRun).describe();
    expect(described.status.name).toBe('COMPLETED');

    await applyDatabase(ns, name, { engine: 'postgres', version: '15', replicas: 1 });
    const again: Database = await waitForPhase(ns, name, 'Ready');
    expect(again.metadata.uid).not.toBe(firstUid);
    expect(again.status?.workflow?.runId).not.toBe(firstRun);
  });

  it('ends the workflow of a Database deleted around its finalizer, leaving the data alone', async () => {
    const ghost = 'ghost';
    await applyDatabase(ns, ghost, {
      engine: 'mariadb',
      version: '10.11',
      replicas: 1,
      deletionPolicy: 'Retain',
    });
    await waitForPhase(ns, ghost, 'Ready');
    await kubectlOk([
      'patch',
      `databases.durable.dev/${ghost}`,
      '-n',
      ns,
      '--type=json',
      '-p',
      '[{"op":"remove","path":"/metadata/finalizers"}]',
    ]);
    await kubectlOk(['delete', `databases.durable.dev/${ghost}`, '-n', ns]);
    await waitFor('workflow of the vanished Database completed', async () => {
      const d = await client.workflow.getHandle(databaseWorkflowId(ns, ghost)).describe();
      return d.status.name === 'COMPLETED';
    });
    // The workflow deleted nothing on its way out (with Retain, the StatefulSet leaves its PVC too).
    const claims = await core.listNamespacedPersistentVolumeClaim({
      namespace: ns,
      labelSelector: `app.kubernetes.io/instance=${ghost}`,
    });
    expect(claims.items).toHaveLength(1);
  });

  it('records histories that replay cleanly against the workflow code', async () => {
    const histories = [];
    for await (const wf of client.workflow.list({ query: `DatabaseNamespace="${ns}"` })) {
      histories.push({
        workflowId: wf.workflowId,
        runId: wf.runId,
        history: await client.workflow.getHandle(wf.workflowId, wf.runId).fetchHistory(),
      });
    }
    expect(histories.length).toBeGreaterThanOrEqual(2);
    // Fixtures that test/replay/ replays against every later version of the code; named by the
    // code they were recorded with, so the histories of earlier code stay and keep replaying.
    await recordHistories(
      histories.map((wf, i) => ({
        name: `database-lifecycle-${workflowCodeHash('databaseWorkflow')}-${i + 1}`,
        workflowId: wf.workflowId,
        runId: wf.runId,
        workflowType: 'databaseWorkflow' as const,
        covers: 'provision, edits, scaling, drift repair, deletion, re-creation (mariadb and postgres)',
      })),
    );
    const workflowBundle = { code: fs.readFileSync(process.env.DURABLE_WORKFLOW_BUNDLE!, 'utf8') };
    for await (const result of Worker.runReplayHistories({ workflowBundle }, histories)) {
      expect({ workflowId: result.workflowId, error: result.error }).toEqual({
        workflowId: result.workflowId,
        error: undefined,
      });
    }
  });
});
