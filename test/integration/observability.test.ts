import fs from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import pino from 'pino';
import { startWatcherProcess, type WatcherProcess } from '../../cmd/watcher';
import { startWorkerProcess, type WorkerProcess } from '../../cmd/worker';
import { waitFor } from '../../tools/stack/wait';
import { databaseWorkflowId } from '../../workflows/signals';
import { applyDatabase, installCrds, operatorConfig, waitForPhase } from '../support/operator';
import { PROVISION_STEPS } from '../support/provision-steps';
import { createNamespace, deleteNamespace, kubeConfig, stackInfo, uniqueName } from '../support/stack';
import { FaultyProxy } from '../support/watcher-proxy';

/**
 * The operator's observability against the real stack: the real worker and watcher processes
 * (cmd/, with HTTP_PORT=0) provision Databases, and their /metrics, /healthz and /readyz and their
 * logs are read back as Prometheus, a kubelet or a log collector would.
 */

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (enough of it for prom-client's output). */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]!] = l[2]!;
    }
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of the samples of `name` whose labels include `labels`; undefined when there is none. */
function metric(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hits = samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  return hits.length ? hits.reduce((sum, s) => sum + s.value, 0) : undefined;
}

async function scrape(url: string | undefined): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(await res.text());
}

interface ProbeBody {
  status: string;
  component: string;
  leader?: boolean;
  checks: Record<string, { ok: boolean; message?: string; latencyMs?: number }>;
}

async function probe(url: string | undefined, which: 'healthz' | 'readyz') {
  const res = await fetch(`${url}/${which}`);
  return { status: res.status, body: (await res.json()) as ProbeBody };
}

/** A pino logger writing JSON lines to the stack's log directory, synchronously (read back at once). */
function fileLogger(name: string): { logger: pino.Logger; file: string } {
  const file = path.join(stackInfo().dir, 'logs', `${name}.log`);
  const logger = pino(
    { level: 'debug', base: { component: name } },
    pino.destination({ dest: file, sync: true, mkdir: true }),
  );
  return { logger, file };
}

const readLines = (file: string) =>
  fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

const local = { HTTP_PORT: '0', HTTP_HOST: '127.0.0.1' };

describe('observability: metrics, probes and logs of the worker and the watcher', () => {
  const name = 'metered';
  let ns: string;
  let taskQueue: string;
  let worker: WorkerProcess;
  let watcher: WatcherProcess;
  let workerLog: string;
  const extra: { stop(): Promise<void> }[] = [];

  beforeAll(async () => {
    ns = await createNamespace('obs');
    await installCrds();
    taskQueue = uniqueName('obs');
    const cfg = operatorConfig(ns, taskQueue, {
      ...local,
      LEADER_ELECTION_ENABLED: 'true',
      LEADER_ELECTION_NAMESPACE: ns,
    });
    const w = fileLogger(`worker-${taskQueue}`);
    workerLog = w.file;
    worker = await startWorkerProcess(cfg, w.logger);
    watcher = await startWatcherProcess(cfg, fileLogger(`watcher-${taskQueue}`).logger);
  }, 180_000);

  afterAll(async () => {
    for (const p of extra.reverse()) await p.stop().catch(() => undefined);
    await watcher?.stop();
    await worker?.stop();
    await deleteNamespace(ns);
  }, 60_000);

  it('binds a free port for HTTP_PORT=0 and answers only its three paths', async () => {
    for (const p of [worker, watcher]) {
      expect(p.http.port).toBeGreaterThan(0);
      expect((await fetch(`${p.http.url}/nope`)).status).toBe(404);
      expect((await fetch(`${p.http.url}/metrics`, { method: 'POST' })).status).toBe(405);
    }
  });

  it('a Database provisioned to Ready shows in the metrics of both processes', async () => {
    await applyDatabase(ns, name, { engine: 'postgres', version: '15', replicas: 1 });
    await waitForPhase(ns, name, 'Ready', { timeoutMs: 120_000 });

    // The watcher sees the Ready status shortly after the API server has it.
    const w = await waitFor(
      'watcher metrics with the Database Ready',
      async () => {
        const s = await scrape(watcher.http.url);
        const ready = metric(s, 'durable_databases', { engine: 'postgres', phase: 'Ready' });
        const latency = metric(s, 'durable_reconcile_latency_seconds_count', {
          engine: 'postgres',
          result: 'Ready',
        });
        return ready === 1 && (latency ?? 0) >= 1 ? s : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(metric(w, 'durable_databases', { phase: 'Provisioning' })).toBe(0);
    expect(metric(w, 'durable_databases')).toBe(1); // only the test's namespace is watched
    expect(metric(w, 'durable_reconcile_latency_seconds_sum', { result: 'Ready' })).toBeGreaterThan(0);
    const events = (labels: Record<string, string>) => metric(w, 'durable_watcher_events_total', labels);
    expect(events({ resource: 'databases', type: 'add' })).toBeGreaterThanOrEqual(1);
    expect(events({ resource: 'databases', type: 'update' })).toBeGreaterThanOrEqual(1);
    expect(events({ resource: 'statefulsets' })).toBeGreaterThanOrEqual(1);
    expect(
      metric(w, 'durable_watcher_signals_total', { kind: 'spec', result: 'sent' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metric(w, 'durable_watcher_signal_latency_seconds_count', { kind: 'spec' }),
    ).toBeGreaterThanOrEqual(1);
    expect(metric(w, 'durable_watcher_leader')).toBe(1);
    expect(metric(w, 'durable_workflow_failures_total')).toBeUndefined();
    expect(metric(w, 'durable_build_info', { component: 'watcher' })).toBe(1);
    expect(metric(w, 'process_cpu_seconds_total', { component: 'watcher' })).toBeGreaterThan(0);

    const k = await scrape(worker.http.url);
    for (const activity of [...PROVISION_STEPS, 'reportStatus']) {
      const count = metric(k, 'durable_activity_duration_seconds_count', { activity, outcome: 'success' });
      expect({ activity, count }).toEqual({ activity, count: expect.any(Number) });
      expect(count).toBeGreaterThanOrEqual(1);
    }
    expect(metric(k, 'durable_activity_duration_seconds_sum')).toBeGreaterThan(0);
    expect(
      metric(k, 'durable_activity_duration_seconds_bucket', { le: '+Inf', activity: 'ensureObjects' }),
    ).toBe(metric(k, 'durable_activity_duration_seconds_count', { activity: 'ensureObjects' }));
    expect(metric(k, 'durable_backup_runs_total', { result: 'succeeded' })).toBe(0);
    expect(metric(k, 'durable_backup_runs_total', { result: 'failed' })).toBe(0);
    expect(metric(k, 'durable_build_info', { component: 'worker' })).toBe(1);
    expect(metric(k, 'nodejs_eventloop_lag_p99_seconds', { component: 'worker' })).toBeDefined();
    expect(metric(k, 'durable_watcher_leader')).toBeUndefined(); // each process serves its own metrics
  }, 180_000);

  it('counts a reconcile that fails, with its reason and the failing activity', async () => {
    await applyDatabase(ns, 'unsatisfied', {
      engine: 'postgres',
      version: '15',
      storage: { size: '1Gi', storageClassName: 'no-such-class' },
    });
    await waitForPhase(ns, 'unsatisfied', 'Failed', { timeoutMs: 90_000 });
    const w = await waitFor(
      'a workflow failure counted',
      async () => {
        const s = await scrape(watcher.http.url);
        const failures = metric(s, 'durable_workflow_failures_total', {
          engine: 'postgres',
          reason: 'Unsatisfiable',
        });
        return failures === 1 ? s : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(metric(w, 'durable_databases', { phase: 'Failed' })).toBe(1);
    expect(metric(w, 'durable_reconcile_latency_seconds_count', { result: 'Failed' })).toBeGreaterThanOrEqual(
      1,
    );
    const k = await scrape(worker.http.url);
    expect(
      metric(k, 'durable_activity_failures_total', { activity: 'ensureObjects', type: 'Unsatisfiable' }),
    ).toBeGreaterThanOrEqual(1);
    expect(
      metric(k, 'durable_activity_duration_seconds_count', {
        activity: 'ensureObjects',
        outcome: 'failure',
      }),
    ).toBeGreaterThanOrEqual(1);
  }, 150_000);

  it('reports liveness and readiness with their individual checks', async () => {
    const live = await probe(worker.http.url, 'healthz');
    expect(live).toMatchObject({ status: 200, body: { status: 'ok', component: 'worker' } });
    expect(live.body.checks.worker).toMatchObject({ ok: true, message: 'state RUNNING' });

    const ready = await probe(worker.http.url, 'readyz');
    expect(ready).toMatchObject({ status: 200, body: { status: 'ok', component: 'worker' } });
    for (const check of ['worker', 'temporal', 'kubernetes']) {
      expect({ check, result: ready.body.checks[check] }).toMatchObject({ check, result: { ok: true } });
    }
    expect(ready.body.checks.temporal!.latencyMs).toEqual(expect.any(Number));

    const wLive = await probe(watcher.http.url, 'healthz');
    expect(wLive).toMatchObject({ status: 200, body: { status: 'ok', component: 'watcher', leader: true } });
    const wReady = await probe(watcher.http.url, 'readyz');
    expect(wReady).toMatchObject({ status: 200, body: { status: 'ok', component: 'watcher', leader: true } });
    for (const check of ['watcher', 'informers', 'temporal', 'kubernetes']) {
      expect({ check, result: wReady.body.checks[check] }).toMatchObject({ check, result: { ok: true } });
    }
    expect(wReady.body.checks.informers!.message).toBe('running');
  });

  it('a standby watcher is live and ready, as a standby: leader false, leader gauge 0', async () => {
    const identity = `${taskQueue}-standby`;
    const standby = await startWatcherProcess(
      operatorConfig(ns, taskQueue, {
        ...local,
        LEADER_ELECTION_ENABLED: 'true',
        LEADER_ELECTION_NAMESPACE: ns,
        POD_NAME: identity,
      }),
      fileLogger(`watcher-${identity}`).logger,
    );
    extra.push(standby);
    // A few election rounds (every third of the 15 s lease) find the Lease held by the leader.
    await new Promise((r) => setTimeout(r, 6_000));
    expect(standby.watcher.status()).toMatchObject({ started: true, leader: false, informersRunning: false });
    const live = await probe(standby.http.url, 'healthz');
    expect(live).toMatchObject({
      status: 200,
      body: { leader: false, checks: { watcher: { message: 'standby' } } },
    });
    const ready = await probe(standby.http.url, 'readyz');
    expect(ready).toMatchObject({ status: 200, body: { status: 'ok', leader: false } });
    expect(ready.body.checks.informers).toMatchObject({
      ok: true,
      message: expect.stringContaining('standby'),
    });
    const s = await scrape(standby.http.url);
    expect(metric(s, 'durable_watcher_leader')).toBe(0);
    expect(metric(s, 'durable_databases')).toBe(0); // only the leader counts Databases
    expect(metric(await scrape(watcher.http.url), 'durable_watcher_leader')).toBe(1);
    await standby.stop();
  }, 60_000);

  it('a worker that cannot reach Temporal turns unready (503) and ready again once it can', async () => {
    const proxy = await FaultyProxy.start(stackInfo().temporal.address);
    extra.push({ stop: () => proxy.close() });
    const queue = uniqueName('obs-cut');
    const cut = await startWorkerProcess(
      operatorConfig(ns, queue, { ...local, TEMPORAL_ADDRESS: proxy.address }),
      fileLogger(`worker-${queue}`).logger,
    );
    extra.push(cut);
    await waitFor(
      'ready through the proxy',
      async () => (await probe(cut.http.url, 'readyz')).status === 200,
      {
        timeoutMs: 30_000,
      },
    );

    await proxy.refuse();
    const down = await waitFor(
      'unready without Temporal',
      async () => {
        const r = await probe(cut.http.url, 'readyz');
        return r.status === 503 ? r : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(down.body).toMatchObject({ status: 'unavailable', component: 'worker' });
    expect(down.body.checks.temporal).toMatchObject({ ok: false, message: expect.any(String) });
    expect(down.body.checks.kubernetes).toMatchObject({ ok: true });
    // Still alive: the worker keeps polling and recovers by itself, no restart is called for.
    expect((await probe(cut.http.url, 'healthz')).status).toBe(200);

    await proxy.accept();
    await waitFor('ready again', async () => (await probe(cut.http.url, 'readyz')).status === 200, {
      timeoutMs: 60_000,
    });
    await cut.stop();
    expect(cut.http.port).toBeUndefined(); // the endpoints close with the worker
  }, 150_000);

  it('logs each activity as JSON with the Database, the workflow and the activity, and no secret', async () => {
    const lines = await waitFor('activity log lines', async () => {
      const all = readLines(workerLog);
      return all.some((l) => l.msg === 'Activity completed' && l.activityType === 'ensureObjects')
        ? all
        : undefined;
    });
    const fromActivities = lines.filter((l) => l.activityType !== undefined);
    expect(fromActivities.length).toBeGreaterThan(10);
    for (const l of fromActivities) {
      expect(l).toMatchObject({
        activityType: expect.any(String),
        activityId: expect.any(String),
        workflowId: expect.stringMatching(/^database\//),
        workflowRunId: expect.any(String),
        database: expect.stringMatching(new RegExp(`^${ns}/`)),
      });
    }
    const completed = lines.find((l) => l.msg === 'Activity completed' && l.activityType === 'ensureObjects');
    expect(completed).toMatchObject({
      level: 20, // debug
      database: `${ns}/${name}`,
      workflowId: databaseWorkflowId(ns, name),
      durationMs: expect.any(Number),
    });
    expect(lines.some((l) => l.msg === 'Activity started' && l.activityType === 'assessSpec')).toBe(true);
    // The failing prerequisite check is a warning naming what failed.
    const failed = lines.find((l) => l.msg === 'Activity failed' && l.activityType === 'ensureObjects');
    expect(failed).toMatchObject({ level: 40, database: `${ns}/unsatisfied`, failureType: 'Unsatisfiable' });
    expect(JSON.stringify(failed)).toContain('no-such-class');

    const secret = await kubeConfig()
      .makeApiClient(k8s.CoreV1Api)
      .readNamespacedSecret({ name: `${name}-credentials`, namespace: ns });
    const needles = ['password', 'replication-password'].flatMap((key) => {
      const b64 = secret.data?.[key];
      expect(b64).toBeDefined();
      return [b64!, Buffer.from(b64!, 'base64').toString('utf8')];
    });
    const logs = fs
      .readdirSync(path.join(stackInfo().dir, 'logs'))
      .filter((f) => f.includes(taskQueue))
      .map((f) => fs.readFileSync(path.join(stackInfo().dir, 'logs', f), 'utf8'))
      .join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const needle of needles) expect(logs).not.toContain(needle);
  });
});
