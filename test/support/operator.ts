import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import pino from 'pino';
import { createWorker } from '../../cmd/worker';
import { createWatcher } from '../../cmd/watcher';
import { loadConfig, type OperatorConfig } from '../../common/config';
import { WorkerMetrics } from '../../common/metrics';
import { DATABASE, GROUP, VERSION, type Database, type DatabaseSpecInput } from '../../crds';
import { databaseManifest } from '../../crds/example-manifests';
import { repoRoot } from '../../tools/stack/binaries';
import { waitFor } from '../../tools/stack/wait';
import { explainingTimeout } from './diagnose';
import { kubeConfig, kubectlOk, stackInfo, uniqueName } from './stack';

/**
 * The operator as tests run it: the real worker and watcher entry points (cmd/), configured as a
 * user would through the environment, against the shared stack; one namespace and task queue of
 * its own per test file.
 */
export function operatorConfig(
  namespace: string,
  taskQueue: string,
  extra: NodeJS.ProcessEnv = {},
): OperatorConfig {
  const { temporal, kubernetes, clusterDns } = stackInfo();
  return loadConfig({
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    TEMPORAL_UI_URL: temporal.uiUrl,
    // The operator's own user: its writes are what the API-server audit log records.
    KUBECONFIG: kubernetes.operatorKubeconfig,
    // The worker runs on the machine, not in a pod: members' names resolve at the cluster's DNS.
    CLUSTER_DNS: clusterDns,
    WATCH_NAMESPACES: namespace,
    LEADER_ELECTION_ENABLED: 'false',
    LOG_LEVEL: 'debug',
    WORKFLOW_BUNDLE_PATH: process.env.DURABLE_WORKFLOW_BUNDLE,
    POD_NAME: taskQueue,
    ...extra,
  });
}

function testLogger(name: string): pino.Logger {
  const file = path.join(stackInfo().dir, 'logs', `${name}.log`);
  return pino(
    { level: 'debug', base: { component: name } },
    pino.destination({ dest: file, sync: false, mkdir: true }),
  );
}

export interface RunningOperator {
  namespace: string;
  taskQueue: string;
  /** The in-process worker's metrics (e.g. durable_backup_runs_total). */
  metrics: WorkerMetrics;
  stopWorker(): Promise<void>;
  startWorker(): Promise<void>;
  /** A new watcher process as after a restart: it lists every Database and signals each. */
  restartWatcher(): Promise<void>;
  stop(): Promise<void>;
}

/** Installs the CRDs (idempotent) and starts an in-process worker and watcher for `namespace`. */
export async function startOperator(
  namespace: string,
  extra: NodeJS.ProcessEnv = {},
): Promise<RunningOperator> {
  await installCrds();
  const taskQueue = uniqueName('db');
  const cfg = operatorConfig(namespace, taskQueue, extra);
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  const metrics = new WorkerMetrics({ defaultMetrics: false });
  const startWorker = async () => {
    worker = await createWorker(cfg, testLogger(`worker-${taskQueue}`), undefined, { metrics });
    running = worker.run();
  };
  const stopWorker = async () => {
    if (worker && worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    worker = undefined;
  };
  await startWorker();
  const startWatcher = async () => {
    const { watcher, close } = await createWatcher(cfg, testLogger(`watcher-${taskQueue}`));
    await watcher.start();
    return close;
  };
  let closeWatcher = await startWatcher();
  return {
    namespace,
    taskQueue,
    metrics,
    startWorker,
    stopWorker,
    restartWatcher: async () => {
      await closeWatcher();
      closeWatcher = await startWatcher();
    },
    stop: async () => {
      await closeWatcher();
      await stopWorker();
    },
  };
}

let crdsInstalled: Promise<void> | undefined;
export function installCrds(): Promise<void> {
  crdsInstalled ??= (async () => {
    await kubectlOk(['apply', '--server-side', '-f', path.join(repoRoot, 'crds', 'generated')]);
    await kubectlOk([
      'wait',
      '--for=condition=Established',
      '--timeout=60s',
      `crd/${DATABASE.plural}.${GROUP}`,
    ]);
  })();
  return crdsInstalled;
}

/**
 * An entry point as its own OS process, configured through its environment, for tests that
 * SIGKILL it: `cmd/watcher.ts`, `cmd/worker.ts`, or a test entry such as one-activity-worker.ts
 * (through tsx), or a compiled one with the node flags given (the benchmark: as the image runs).
 */
export function spawnOperatorProcess(
  entryFile: string,
  cfg: OperatorConfig,
  logName: string,
  nodeArgs: readonly string[] = ['--import', 'tsx'],
): ChildProcess {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Every setting, numbers and booleans too (parsed from strings, they go back as strings): an
  // override such as RESYNC_SECONDS or HTTP_PORT=0 must reach the process.
  for (const [k, v] of Object.entries(cfg)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') env[k] = String(v);
  }
  env.WATCH_NAMESPACES = cfg.WATCH_NAMESPACES.join(',');
  env.LEADER_ELECTION_ENABLED = String(cfg.LEADER_ELECTION_ENABLED);
  const out = path.join(stackInfo().dir, 'logs', `${logName}.log`);
  const child = spawn(process.execPath, [...nodeArgs, entryFile], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stream = fs.createWriteStream(out, { flags: 'a' });
  child.stdout!.pipe(stream);
  child.stderr!.pipe(stream);
  return child;
}

export const entryPoints = {
  worker: path.join(repoRoot, 'cmd', 'worker.ts'),
  watcher: path.join(repoRoot, 'cmd', 'watcher.ts'),
  oneActivityWorker: path.join(__dirname, 'one-activity-worker.ts'),
};

/**
 * The operator processes of one test: `start` spawns an entry point (kept track of), `kill`
 * SIGKILLs one and waits for it to exit, `killAll` (for afterAll) leaves none behind.
 */
export function operatorProcesses() {
  const children = new Set<ChildProcess>();
  return {
    start(entry: keyof typeof entryPoints, cfg: OperatorConfig, log: string): ChildProcess {
      const child = spawnOperatorProcess(entryPoints[entry], cfg, log);
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    kill: sigkill,
    killAll(): void {
      for (const child of children) child.kill('SIGKILL');
    },
  };
}

// ---- Database helpers ---------------------------------------------------------------------------

export async function applyDatabase(namespace: string, name: string, spec: DatabaseSpecInput): Promise<void> {
  await kubectlOk(['apply', '-f', '-'], JSON.stringify(databaseManifest(name, spec, namespace)));
}

const customApi = () => kubeConfig().makeApiClient(k8s.CustomObjectsApi);

/**
 * Creates a Database through the API (no kubectl process in between), for callers that time what
 * follows the create, such as the benchmarks.
 */
export async function createDatabase(
  namespace: string,
  name: string,
  spec: DatabaseSpecInput,
): Promise<void> {
  await customApi().createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: DATABASE.plural,
    namespace,
    body: databaseManifest(name, spec, namespace),
  });
}

/** An object of the durable.dev API (`plural`), undefined when it does not exist. */
export async function getCustomObject<T>(
  plural: string,
  namespace: string,
  name: string,
): Promise<T | undefined> {
  try {
    return (await customApi().getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural,
      namespace,
      name,
    })) as T;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

export function getDatabase(namespace: string, name: string): Promise<Database | undefined> {
  return getCustomObject<Database>(DATABASE.plural, namespace, name);
}

/** Waits until the Database reports `phase` for at least generation `generation` (default: current). */
export async function waitForPhase(
  namespace: string,
  name: string,
  phase: string,
  { generation, timeoutMs = 90_000 }: { generation?: number; timeoutMs?: number } = {},
): Promise<Database> {
  return explainingTimeout(namespace, name, () =>
    waitFor(
      `Database ${namespace}/${name} phase ${phase}`,
      async () => {
        const db = await getDatabase(namespace, name);
        if (!db) return undefined;
        const want = generation ?? db.metadata.generation ?? 0;
        return db.status?.phase === phase && (db.status.observedGeneration ?? 0) >= want ? db : undefined;
      },
      { timeoutMs, intervalMs: 300 },
    ),
  );
}

/** Reasons of the Events recorded on an object of a kind (Database, DatabaseBackup), oldest first. */
export async function eventReasons(namespace: string, kind: string, name: string): Promise<string[]> {
  const out = await kubectlOk([
    'get',
    'events',
    '-n',
    namespace,
    '--field-selector',
    `involvedObject.kind=${kind},involvedObject.name=${name}`,
    '--sort-by=.metadata.creationTimestamp',
    '-o',
    'jsonpath={range .items[*]}{.reason}{"\\n"}{end}',
  ]);
  return out.split('\n').filter(Boolean);
}

/** Reasons of the Events recorded on a Database, oldest first. */
export function databaseEventReasons(namespace: string, name: string): Promise<string[]> {
  return eventReasons(namespace, DATABASE.kind, name);
}

/** `kind/name` of the objects of these kinds labelled as belonging to a Database, sorted. */
export async function objectsOfDatabase(namespace: string, name: string, kinds: string): Promise<string[]> {
  const out = await kubectlOk([
    'get',
    kinds,
    '-n',
    namespace,
    '-l',
    `app.kubernetes.io/instance=${name}`,
    '-o',
    'name',
  ]);
  return out.split('\n').filter(Boolean).sort();
}

// ---- processes and histories (crash tests) -------------------------------------------------------

/** SIGKILLs a child process and waits until it has exited (nothing if it already has). */
export async function sigkill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}

/** Types of the activities completed so far in a workflow's history, in order ([] before it starts). */
export async function completedActivities(client: Client, workflowId: string): Promise<string[]> {
  try {
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const scheduled = new Map<string, string>();
    const done: string[] = [];
    for (const e of history.events ?? []) {
      const s = e.activityTaskScheduledEventAttributes;
      if (s) scheduled.set(String(e.eventId), s.activityType?.name ?? '?');
      const c = e.activityTaskCompletedEventAttributes;
      if (c) done.push(scheduled.get(String(c.scheduledEventId)) ?? '?');
    }
    return done;
  } catch {
    return []; // not started yet
  }
}
