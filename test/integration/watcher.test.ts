import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Worker } from '@temporalio/worker';
import pino from 'pino';
import { API_VERSION, crdName, DATABASE, GROUP } from '../../crds';
import { waitFor } from '../../tools/stack/wait';
import { Watcher, type WatcherOptions } from '../../watcher';
import {
  DatabaseEngine,
  DatabaseName,
  DatabaseNamespace,
  DatabasePhase,
} from '../../workflows/search-attributes';
import { databaseWorkflowId, type DriftNotice, type SpecUpdate } from '../../workflows/signals';
import {
  createNamespace,
  deleteNamespace,
  kubeConfig,
  kubectlOk,
  stackInfo,
  temporalClient,
  temporalConnection,
  uniqueName,
} from '../support/stack';
import { quietTemporalRuntime } from '../support/temporal-runtime';
import { FaultyProxy, kubeConfigVia } from '../support/watcher-proxy';
import { recordingQuery, type Recording } from './fixtures/watcher-recorder-workflow';

/**
 * The watcher against the real stack: a real kube-apiserver feeds its informers, and a real
 * Temporal Worker runs a recorder workflow under the name `databaseWorkflow`, so every
 * assertion is about what actually arrived through Temporal.
 */

const DB = crdName(DATABASE); // databases.durable.dev, for kubectl
const FINALIZER = `${GROUP}/finalizer`;
const OWNED_LABELS = (instance: string) => ({
  'app.kubernetes.io/managed-by': 'durable-db-operator',
  'app.kubernetes.io/instance': instance,
});
/** Quiet time after an event before asserting that it caused no signal (debounce is 500 ms). */
const SETTLE_MS = 1_500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let taskQueue: string;
let connection: Connection;
let client: Client;
let workerConnection: NativeConnection;
let worker: Worker;
let workerRun: Promise<void>;
let logFile: string;
let logger: pino.Logger;
const workflowIds = new Set<string>();
const namespaces: string[] = [];
const watchers = new Set<Watcher>();

beforeAll(async () => {
  quietTemporalRuntime();
  await kubectlOk(['apply', '--server-side', '-f', 'crds/generated/']);
  await kubectlOk(['wait', '--for=condition=Established', '--timeout=60s', `crd/${DB}`]);
  taskQueue = uniqueName('watcher');
  logFile = path.join(stackInfo().dir, 'logs', `watcher-test-${process.pid}.log`);
  logger = pino({ level: 'debug' }, pino.destination({ dest: logFile, sync: true }));
  connection = await temporalConnection();
  client = temporalClient(connection);
  workerConnection = await NativeConnection.connect({ address: stackInfo().temporal.address });
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath: path.join(__dirname, 'fixtures', 'watcher-recorder-workflow.ts'),
    logger: new DefaultLogger('ERROR'),
  });
  worker = await Worker.create({
    connection: workerConnection,
    namespace: stackInfo().temporal.namespace,
    taskQueue,
    workflowBundle,
  });
  workerRun = worker.run();
});

afterAll(async () => {
  await Promise.all([...watchers].map((w) => w.stop()));
  await Promise.all(
    [...workflowIds].map((id) =>
      client?.workflow
        .getHandle(id)
        .terminate('test over')
        .catch(() => undefined),
    ),
  );
  if (worker) {
    worker.shutdown();
    await workerRun;
  }
  await workerConnection?.close();
  await connection?.close();
  await Promise.all(namespaces.map((ns) => deleteNamespace(ns)));
});

async function newNamespace(prefix: string): Promise<string> {
  const ns = await createNamespace(prefix);
  namespaces.push(ns);
  return ns;
}

function newWatcher(ns: string, overrides: Partial<WatcherOptions> = {}): Watcher {
  const watcher = new Watcher({
    kubeConfig: kubeConfig(),
    temporalClient: client,
    taskQueue,
    namespaces: [ns],
    leaderElection: { enabled: false, namespace: ns, identity: 'test' },
    logger,
    driftDebounceMs: 500,
    backoff: { initialMs: 200, maxMs: 2_000 },
    ...overrides,
  });
  watchers.add(watcher);
  return watcher;
}

async function stopWatcher(watcher: Watcher): Promise<void> {
  await watcher.stop();
  watchers.delete(watcher);
}

function dbManifest(ns: string, name: string, finalizers?: string[]): string {
  return JSON.stringify({
    apiVersion: API_VERSION,
    kind: DATABASE.kind,
    metadata: { name, namespace: ns, ...(finalizers ? { finalizers } : {}) },
    spec: { engine: 'postgres', version: '15' },
  });
}

async function createDb(ns: string, name: string, finalizers?: string[]): Promise<string> {
  workflowIds.add(databaseWorkflowId(ns, name));
  await kubectlOk(['create', '-f', '-'], dbManifest(ns, name, finalizers));
  return (await kubectlOk(['get', DB, name, '-n', ns, '-o', 'jsonpath={.metadata.uid}'])).trim();
}

async function patchDbSpec(ns: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await kubectlOk(['patch', DB, name, '-n', ns, '--type=merge', '-p', JSON.stringify({ spec })]);
}

async function recording(ns: string, name: string): Promise<Recording | undefined> {
  try {
    return await client.workflow.getHandle(databaseWorkflowId(ns, name)).query(recordingQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

async function specs(ns: string, name: string): Promise<SpecUpdate[]> {
  const rec = await recording(ns, name);
  return (rec?.signals ?? []).flatMap((s) => (s.signal === 'spec' ? [s.update] : []));
}

/** Drift notices recorded for the Database; readiness notices only with `readiness`. */
async function drifts(ns: string, name: string, readiness = false): Promise<DriftNotice[]> {
  const rec = await recording(ns, name);
  return (rec?.signals ?? []).flatMap((s) =>
    s.signal === 'drift' && (s.notice.change === 'readiness') === readiness ? [s.notice] : [],
  );
}

/** Waits until the recorder holds at least `n` spec signals for the Database; returns them. */
function waitForSpecs(ns: string, name: string, n: number, timeoutMs = 30_000): Promise<SpecUpdate[]> {
  return waitFor(
    `${n} spec signal(s) for ${ns}/${name}`,
    async () => {
      const got = await specs(ns, name);
      return got.length >= n ? got : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

function waitForDrifts(ns: string, name: string, n: number, timeoutMs = 30_000): Promise<DriftNotice[]> {
  return waitFor(
    `${n} drift signal(s) for ${ns}/${name}`,
    async () => {
      const got = await drifts(ns, name);
      return got.length >= n ? got : undefined;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

/**
 * For "nothing was sent" checks: waits until the watcher has received an event after `since`
 * (the one under test, or a later one), then lets debounce and sending run their course.
 */
async function settle(watcher: Watcher, since: number): Promise<void> {
  await waitFor(
    'an event after the change',
    async () => (watcher.status().lastEventAt?.getTime() ?? 0) >= since,
    {
      timeoutMs: 20_000,
      intervalMs: 100,
    },
  );
  await sleep(SETTLE_MS);
}

const generations = (updates: SpecUpdate[]) => updates.map((u) => u.generation);

function logText(): string {
  return fs.readFileSync(logFile, 'utf8');
}

describe('watcher: spec signals and drift', () => {
  let ns: string;
  let watcher: Watcher;

  beforeAll(async () => {
    ns = await newNamespace('watcher');
    watcher = newWatcher(ns);
    await watcher.start();
    await waitFor('informers listed', async () => watcher.status().informersRunning, { timeoutMs: 30_000 });
  });

  it('signals a new Database once, with generation 1 and the stored spec, and starts its workflow with search attributes', async () => {
    const uid = await createDb(ns, 'alpha');
    const [first] = await waitForSpecs(ns, 'alpha', 1);
    expect(first).toMatchObject({ uid, generation: 1, deleting: false });
    // As stored: the API server applied the CRD's defaults.
    expect(first!.spec).toMatchObject({
      engine: 'postgres',
      version: '15',
      replicas: 1,
      storage: { size: '10Gi' },
      deletionPolicy: 'Delete',
    });

    const handle = client.workflow.getHandle(databaseWorkflowId(ns, 'alpha'));
    const description = await handle.describe();
    expect(description.type).toBe('databaseWorkflow');
    expect(description.taskQueue).toBe(taskQueue);
    const sa = description.typedSearchAttributes;
    expect(sa.get(DatabaseNamespace)).toBe(ns);
    expect(sa.get(DatabaseName)).toBe('alpha');
    expect(sa.get(DatabaseEngine)).toBe('postgres');
    expect(sa.get(DatabasePhase)).toBe('Pending');
    expect((await recording(ns, 'alpha'))?.input).toEqual({ namespace: ns, name: 'alpha' });

    await sleep(SETTLE_MS);
    expect(generations(await specs(ns, 'alpha'))).toEqual([1]);
  });

  it('ignores a status-only update, and signals a spec edit (generation 2) exactly once', async () => {
    const since = Date.now();
    await kubectlOk([
      'patch',
      DB,
      'alpha',
      '-n',
      ns,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { phase: 'Provisioning', observedGeneration: 1 } }),
    ]);
    await settle(watcher, since);
    expect(generations(await specs(ns, 'alpha'))).toEqual([1]);

    await patchDbSpec(ns, 'alpha', { replicas: 2 });
    const got = await waitForSpecs(ns, 'alpha', 2);
    expect(got[1]).toMatchObject({ generation: 2, deleting: false, spec: { replicas: 2 } });
    await sleep(SETTLE_MS);
    expect(generations(await specs(ns, 'alpha'))).toEqual([1, 2]);
  });

  it('signals deleting: true once deletion starts (finalizer present), and nothing when the object goes', async () => {
    await createDb(ns, 'beta', [FINALIZER]);
    await waitForSpecs(ns, 'beta', 1);
    await kubectlOk(['delete', DB, 'beta', '-n', ns, '--wait=false']);
    const got = await waitForSpecs(ns, 'beta', 2);
    expect(got[0]).toMatchObject({ generation: 1, deleting: false });
    expect(got[1]!.deleting).toBe(true);
    expect(got[1]!.generation).toBeGreaterThanOrEqual(1);

    const since = Date.now();
    await kubectlOk([
      'patch',
      DB,
      'beta',
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"metadata":{"finalizers":null}}',
    ]);
    await waitFor('beta to disappear', async () => {
      const out = await kubectlOk(['get', DB, '-n', ns, '-o', 'name']);
      return !out.includes('/beta');
    });
    await settle(watcher, since);
    expect((await specs(ns, 'beta')).map((u) => u.deleting)).toEqual([false, true]);
  });

  it('signals drift of owned objects changed by others, debounced, and ignores its own applies and status updates', async () => {
    await createDb(ns, 'gamma');
    await waitForSpecs(ns, 'gamma', 1);
    const secretValue = `S3cr3t-${uniqueName('pw')}`;
    const configMap = (data: Record<string, string>) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'gamma-config', namespace: ns, labels: OWNED_LABELS('gamma') },
        data,
      });
    const statefulSet = (replicas: number) =>
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'gamma-db', namespace: ns, labels: OWNED_LABELS('gamma') },
        spec: {
          serviceName: 'gamma-db',
          replicas,
          selector: { matchLabels: { app: 'gamma-db' } },
          template: {
            metadata: { labels: { app: 'gamma-db' } },
            spec: { containers: [{ name: 'db', image: 'postgres:15', command: ['sleep', '3600'] }] },
          },
        },
      });
    const asOperator = ['apply', '--server-side', '--force-conflicts', '--field-manager=durable-db-operator'];
    // The ConfigMap and the Secret are created with kubectl: their field manager is not the operator's.
    await kubectlOk(['create', '-f', '-'], configMap({ a: '1' }));
    await kubectlOk(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'gamma-credentials', namespace: ns, labels: OWNED_LABELS('gamma') },
        stringData: { password: secretValue },
      }),
    );
    // The StatefulSet is applied as the operator does it.
    await kubectlOk([...asOperator, '-f', '-'], statefulSet(1));
    // The controller manager updates the StatefulSet's status several times on the way.
    await waitFor('gamma-db ready', async () => {
      const out = await kubectlOk([
        'get',
        'statefulset',
        'gamma-db',
        '-n',
        ns,
        '-o',
        'jsonpath={.status.readyReplicas}',
      ]);
      return out.trim() === '1';
    });

    // Its pods' readiness changed (status written by the controller manager): a readiness
    // notice, not drift (a Database at rest is looked over when its pods come and go).
    await waitFor(
      'a readiness notice',
      async () =>
        (await drifts(ns, 'gamma', true)).some((d) => d.kind === 'StatefulSet' && d.name === 'gamma-db'),
      { timeoutMs: 30_000 },
    );

    // The operator's own server-side apply (its field manager) is not drift.
    let since = Date.now();
    await kubectlOk([...asOperator, '-f', '-'], configMap({ a: '2' }));
    await settle(watcher, since);
    expect(await drifts(ns, 'gamma')).toEqual([]);

    // Someone else edits the data: drift.
    await kubectlOk([
      'patch',
      'configmap',
      'gamma-config',
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"data":{"a":"3"}}',
    ]);
    expect(await waitForDrifts(ns, 'gamma', 1)).toEqual([
      { kind: 'ConfigMap', name: 'gamma-config', change: 'modified' },
    ]);

    // A label change leaves the data alone: no drift.
    since = Date.now();
    await kubectlOk(['label', 'configmap', 'gamma-config', '-n', ns, 'touched=yes']);
    await settle(watcher, since);
    expect(await drifts(ns, 'gamma')).toHaveLength(1);

    // A burst of edits yields one signal.
    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    let cm = await core.readNamespacedConfigMap({ name: 'gamma-config', namespace: ns });
    for (const a of ['4', '5', '6']) {
      cm = await core.replaceNamespacedConfigMap({
        name: 'gamma-config',
        namespace: ns,
        body: { ...cm, data: { a } },
      });
    }
    await waitForDrifts(ns, 'gamma', 2);
    await sleep(SETTLE_MS);
    expect(await drifts(ns, 'gamma')).toHaveLength(2);

    // A new key in the Secret: no drift, Secrets are not watched (the watcher may not list them;
    // the workflow's resync re-ensures the credentials Secret, read by name). No informer sees
    // it, so there is no event to settle on: wait twice the drift debounce and more.
    await kubectlOk([
      'patch',
      'secret',
      'gamma-credentials',
      '-n',
      ns,
      '--type=merge',
      '-p',
      '{"stringData":{"user":"app"}}',
    ]);
    await sleep(2 * SETTLE_MS);
    expect(await drifts(ns, 'gamma')).toHaveLength(2);

    // A scale by someone else (its managedFields entry has no time) bumps the generation: drift.
    await kubectlOk(['scale', 'statefulset', 'gamma-db', '-n', ns, '--replicas=2']);
    expect((await waitForDrifts(ns, 'gamma', 3))[2]).toEqual({
      kind: 'StatefulSet',
      name: 'gamma-db',
      change: 'modified',
    });
    // The operator puts it back: its own write, no drift.
    since = Date.now();
    await kubectlOk([...asOperator, '-f', '-'], statefulSet(1));
    await settle(watcher, since);
    expect(await drifts(ns, 'gamma')).toHaveLength(3);

    // Deleted: drift.
    await kubectlOk(['delete', 'configmap', 'gamma-config', '-n', ns]);
    expect((await waitForDrifts(ns, 'gamma', 4))[3]).toEqual({
      kind: 'ConfigMap',
      name: 'gamma-config',
      change: 'deleted',
    });
    await sleep(SETTLE_MS);
    expect(await drifts(ns, 'gamma')).toHaveLength(4);

    const recorded = JSON.stringify(await recording(ns, 'gamma'));
    const log = logText();
    for (const secret of [secretValue, Buffer.from(secretValue).toString('base64')]) {
      expect(recorded).not.toContain(secret);
      expect(log).not.toContain(secret);
    }
  });

  it('after a restart, delivers a generation made while stopped and re-signals an unchanged one at most once', async () => {
    await stopWatcher(watcher);
    expect(watcher.status()).toMatchObject({ leader: false, informersRunning: false });
    await patchDbSpec(ns, 'alpha', { replicas: 3 }); // generation 3, while nobody watches

    watcher = newWatcher(ns);
    await watcher.start();
    const alpha = await waitForSpecs(ns, 'alpha', 3);
    expect(alpha[2]).toMatchObject({ generation: 3, spec: { replicas: 3 } });
    await waitFor('gamma re-signaled', async () => (await specs(ns, 'gamma')).length >= 2, {
      timeoutMs: 10_000,
    }).catch(
      () => undefined, // not re-signaling at all would be fine too
    );
    await sleep(SETTLE_MS);
    expect(generations(await specs(ns, 'alpha'))).toEqual([1, 2, 3]);
    const gamma = generations(await specs(ns, 'gamma'));
    expect(gamma.length).toBeLessThanOrEqual(2);
    expect(new Set(gamma)).toEqual(new Set([1]));
    await stopWatcher(watcher);
  });
});

describe('watcher: network trouble', () => {
  let ns: string;
  let kubeProxy: FaultyProxy;
  let temporalProxy: FaultyProxy;
  let proxiedConnection: Connection;
  let watcher: Watcher;

  beforeAll(async () => {
    ns = await newNamespace('watcher-net');
    kubeProxy = await FaultyProxy.start(stackInfo().kubernetes.server);
    temporalProxy = await FaultyProxy.start(stackInfo().temporal.address);
    proxiedConnection = await Connection.connect({ address: temporalProxy.address });
    watcher = newWatcher(ns, {
      kubeConfig: kubeConfigVia(kubeConfig(), kubeProxy),
      temporalClient: new Client({
        connection: proxiedConnection,
        namespace: stackInfo().temporal.namespace,
      }),
      watchdogMs: 4_000,
      signalTimeoutMs: 3_000,
    });
    await watcher.start();
    await waitFor('informers listed', async () => watcher.status().informersRunning, { timeoutMs: 30_000 });
    await createDb(ns, 'delta');
    await waitForSpecs(ns, 'delta', 1);
  });

  afterAll(async () => {
    await stopWatcher(watcher);
    await proxiedConnection?.close();
    await kubeProxy?.close();
    await temporalProxy?.close();
  });

  it('re-lists when a watch goes silent (half-open) and delivers the change it missed', async () => {
    const logBefore = logText().length;
    expect(kubeProxy.blackholeExisting()).toBeGreaterThanOrEqual(1); // the informers' watches
    await patchDbSpec(ns, 'delta', { replicas: 2 });
    const got = await waitForSpecs(ns, 'delta', 2, 40_000);
    expect(got[1]).toMatchObject({ generation: 2 });
    // The silenced watches never reported anything: the watchdog re-listed.
    expect(logText().slice(logBefore)).toContain('re-listing');
    await sleep(SETTLE_MS);
    expect(generations(await specs(ns, 'delta'))).toEqual([1, 2]);
  });

  it('restarts its informers with backoff while the API server refuses connections, then catches up', async () => {
    await kubeProxy.refuse();
    await patchDbSpec(ns, 'delta', { replicas: 3 });
    await waitFor('informers down', async () => !watcher.status().informersRunning, { timeoutMs: 20_000 });
    await sleep(3_000); // a few failed restarts
    await kubeProxy.accept();
    const got = await waitForSpecs(ns, 'delta', 3, 40_000);
    expect(got[2]).toMatchObject({ generation: 3 });
    await waitFor('informers up again', async () => watcher.status().informersRunning, { timeoutMs: 20_000 });
    await sleep(SETTLE_MS);
    expect(generations(await specs(ns, 'delta'))).toEqual([1, 2, 3]);
  });

  it('keeps a generation pending while Temporal is unreachable; a newer one supersedes it', async () => {
    await temporalProxy.refuse();
    const logBefore = logText().length;
    await patchDbSpec(ns, 'delta', { replicas: 4 }); // generation 4: its attempt fails...
    await patchDbSpec(ns, 'delta', { replicas: 5 }); // ...and generation 5 supersedes it
    // Once an attempt carrying generation 5 has failed, every attempt with 4 is over (and failed).
    await waitFor(
      'a failed attempt with generation 5',
      async () =>
        logText()
          .slice(logBefore)
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line) as { msg?: string; name?: string; attemptedGeneration?: number })
          .some(
            (e) =>
              e.msg === 'spec signal failed, will retry' && e.name === 'delta' && e.attemptedGeneration === 5,
          ),
      { timeoutMs: 60_000 },
    );
    await temporalProxy.accept();
    const got = await waitForSpecs(ns, 'delta', 4, 60_000);
    expect(got[3]).toMatchObject({ generation: 5, spec: { replicas: 5 } });
    await sleep(SETTLE_MS);
    expect(generations(await specs(ns, 'delta'))).toEqual([1, 2, 3, 5]);
  }, 150_000);
});

describe('watcher: leader election', () => {
  let ns: string;
  let leaseName: string;
  const lost: string[] = [];

  const elected = (identity: string, ns_: string) =>
    newWatcher(ns_, {
      leaderElection: {
        enabled: true,
        namespace: ns_,
        leaseName,
        identity,
        leaseDurationSeconds: 4,
        requestTimeoutMs: 2_000,
      },
      onLeadershipLost: () => lost.push(identity),
    });

  async function leaseHolder(): Promise<string> {
    return (
      await kubectlOk(['get', 'lease', leaseName, '-n', ns, '-o', 'jsonpath={.spec.holderIdentity}'])
    ).trim();
  }

  beforeAll(async () => {
    ns = await newNamespace('watcher-le');
    leaseName = uniqueName('watcher-lease');
  });

  it('lets only one of two watchers lead; the other takes over when the leader stops or loses the lease', async () => {
    const a = elected('watcher-a', ns);
    const b = elected('watcher-b', ns);
    await Promise.all([a.start(), b.start()]);
    const first = await waitFor('a leader', async () => [a, b].find((w) => w.status().leader), {
      timeoutMs: 20_000,
    });
    const second = first === a ? b : a;
    const firstId = first === a ? 'watcher-a' : 'watcher-b';
    const secondId = first === a ? 'watcher-b' : 'watcher-a';
    // Never two leaders, over a few renewals.
    for (let i = 0; i < 30; i++) {
      expect([a, b].filter((w) => w.status().leader).length).toBeLessThanOrEqual(1);
      await sleep(100);
    }
    expect(first.status().leader).toBe(true);
    expect(await leaseHolder()).toBe(firstId);
    await waitFor('leader informers', async () => first.status().informersRunning, { timeoutMs: 30_000 });
    expect(second.status()).toMatchObject({ leader: false, informersRunning: false });

    await createDb(ns, 'epsilon');
    await waitForSpecs(ns, 'epsilon', 1);
    await sleep(SETTLE_MS);
    expect(generations(await specs(ns, 'epsilon'))).toEqual([1]); // only the leader signaled

    // The leader stops cleanly and releases the lease: the other takes over without waiting.
    await stopWatcher(first);
    await waitFor('takeover', async () => second.status().leader, { timeoutMs: 10_000 });
    expect(await leaseHolder()).toBe(secondId);
    await waitFor('new leader informers', async () => second.status().informersRunning, {
      timeoutMs: 30_000,
    });
    await patchDbSpec(ns, 'epsilon', { replicas: 2 });
    await waitFor('generation 2', async () => generations(await specs(ns, 'epsilon')).includes(2));
    const gens = generations(await specs(ns, 'epsilon'));
    expect(gens.filter((g) => g === 1).length).toBeLessThanOrEqual(2); // re-signaled at most once
    expect(gens.filter((g) => g === 2)).toHaveLength(1);

    // Someone else grabs the lease: the leader notices at its next renewal and stops its informers.
    await kubectlOk([
      'patch',
      'lease',
      leaseName,
      '-n',
      ns,
      '--type=merge',
      '-p',
      JSON.stringify({
        spec: { holderIdentity: 'intruder', renewTime: new k8s.V1MicroTime(Date.now()).toISOString() },
      }),
    ]);
    await waitFor('leadership lost', async () => !second.status().leader, { timeoutMs: 10_000 });
    expect(lost).toContain(secondId);
    await waitFor('informers stopped', async () => !second.status().informersRunning, { timeoutMs: 10_000 });
    // The intruder never renews: after the lease duration the watcher takes the lease back.
    await waitFor('leader again', async () => second.status().leader, { timeoutMs: 20_000 });
    expect(await leaseHolder()).toBe(secondId);

    await stopWatcher(second);
    expect(await leaseHolder()).toBe(''); // released
  });
});
