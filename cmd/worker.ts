import fs from 'node:fs';
import os from 'node:os';
import { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type LogLevel,
  type WorkerOptions,
} from '@temporalio/worker';
import { createActivities } from '../activities';
import { makeKubeClients } from '../activities/kube-clients';
import { activityInterceptors } from '../common/activity-interceptors';
import { loadConfig, type OperatorConfig } from '../common/config';
import { cached, kubernetesCheck, runChecks, temporalCheck } from '../common/health';
import { startObservabilityServer, type ObservabilityServer } from '../common/http-server';
import { loadKubeConfig } from '../common/kube';
import { createLogger, type Logger } from '../common/logger';
import { WorkerMetrics } from '../common/metrics';
import { connectWorker } from '../common/temporal-connection';
import { disabledTracingSinks, setupTracing, type Tracing } from '../common/tracing';
import { clusterDnsResolver, clusterResolver } from '../engines/resolver';

const TEMPORAL_LEVELS: Record<string, LogLevel> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'ERROR',
  silent: 'ERROR',
};

let runtimeInstalled = false;

/**
 * Routes the Temporal SDK's own logs (worker state, activity and workflow logs) into pino, and
 * those of its native core too (connection retries, poller trouble; warnings and up), which
 * would otherwise go to stderr as plain text.
 */
function installRuntimeLogger(logger: Logger, level: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: new DefaultLogger(TEMPORAL_LEVELS[level] ?? 'INFO', ({ level: l, message, meta }) => {
      const fn =
        l === 'ERROR' ? 'error' : l === 'WARN' ? 'warn' : l === 'DEBUG' || l === 'TRACE' ? 'debug' : 'info';
      // pino serialises an Error only under `err`: the SDK passes it as `error`. The failure's
      // type (Invalid, Unsatisfiable, Http409, …) gets a field of its own.
      const { error, ...rest } = (meta ?? {}) as { error?: unknown };
      const failureType = error instanceof ApplicationFailure ? error.type : undefined;
      logger[fn](
        error === undefined ? rest : { ...rest, err: error, ...(failureType && { failureType }) },
        message,
      );
    }),
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
  });
}

export function workflowsPath(): string {
  return require.resolve('../workflows');
}

/**
 * Workflow interceptor modules to bundle: the OpenTelemetry ones (workflows/interceptors.ts) for a
 * bundle that can trace. A bundle with them also runs quietly with tracing off (the worker then
 * registers a no-op span sink), at the cost of building spans nobody exports.
 */
export function workflowInterceptorModules({ tracing }: { tracing: boolean }): string[] {
  return tracing ? [require.resolve('../workflows/interceptors')] : [];
}

/** Whether a bundle's code includes the OpenTelemetry workflow interceptors. */
export function bundleCanTrace(code: string): boolean {
  return code.includes('OpenTelemetryInboundInterceptor');
}

/**
 * The workflow bundle: a pre-built file (WORKFLOW_BUNDLE_PATH) or bundled now from source, with the
 * tracing interceptors when tracing is on. With tracing on and a pre-built bundle without them,
 * the workflows are bundled now (a few seconds), so that the one setting is all tracing needs.
 */
export async function loadWorkflowBundle(
  cfg: Pick<OperatorConfig, 'WORKFLOW_BUNDLE_PATH'> & { OTEL_TRACING_ENABLED?: boolean },
  logger?: Logger,
): Promise<{ code: string }> {
  const tracing = cfg.OTEL_TRACING_ENABLED ?? false;
  const bundle = () =>
    bundleWorkflowCode({
      workflowsPath: workflowsPath(),
      workflowInterceptorModules: workflowInterceptorModules({ tracing }),
      logger: new DefaultLogger('WARN'),
    });
  if (!cfg.WORKFLOW_BUNDLE_PATH) return bundle();
  const code = fs.readFileSync(cfg.WORKFLOW_BUNDLE_PATH, 'utf8');
  if (!tracing || bundleCanTrace(code)) return { code };
  logger?.info(
    { bundle: cfg.WORKFLOW_BUNDLE_PATH },
    'the pre-built workflow bundle cannot trace: bundling the workflows with the tracing interceptors',
  );
  try {
    return await bundle();
  } catch (err) {
    logger?.warn(
      { err: err instanceof Error ? err.message : String(err) },
      'bundling failed: using the pre-built bundle; workflow spans are off, client and activity spans stay on',
    );
    return { code };
  }
}

/** What the worker reports to, besides its logs. */
export interface WorkerObservability {
  metrics?: WorkerMetrics;
  tracing?: Tracing;
}

/** Identity of this worker process in Temporal, Events and traces. */
function workerIdentity(cfg: Pick<OperatorConfig, 'POD_NAME'>): string {
  return cfg.POD_NAME ?? `${os.hostname()}-${process.pid}`;
}

/**
 * Creates a Worker on the operator's task queue with the Database workflow and its activities.
 * `interceptors` is for tests that need to stop a worker at a precise point (innermost); the
 * worker's own activity interceptors add log attributes, metrics (with `observability.metrics`)
 * and spans (with `observability.tracing`).
 */
export async function createWorker(
  cfg: OperatorConfig,
  logger: Logger,
  interceptors?: WorkerOptions['interceptors'],
  observability: WorkerObservability = {},
): Promise<Worker> {
  installRuntimeLogger(logger, cfg.LOG_LEVEL);
  const kc = loadKubeConfig(cfg.KUBECONFIG);
  const identity = workerIdentity(cfg);
  const { metrics, tracing } = observability;
  const workflowBundle = await loadWorkflowBundle(
    { ...cfg, OTEL_TRACING_ENABLED: tracing !== undefined },
    logger,
  );
  const connection = await connectWorker(cfg);
  const worker = await Worker.create({
    connection,
    namespace: cfg.TEMPORAL_NAMESPACE,
    taskQueue: cfg.TEMPORAL_TASK_QUEUE,
    identity: `worker@${identity}`,
    workflowBundle,
    activities: createActivities({
      clients: makeKubeClients(kc),
      report: { uiUrl: cfg.TEMPORAL_UI_URL, temporalNamespace: cfg.TEMPORAL_NAMESPACE, instance: identity },
      // The backup Schedule activities use the worker's own connection (a NativeConnection is
      // also a client connection) and start the scheduled runs on this worker's task queue.
      temporal: {
        client: new Client({ connection, namespace: cfg.TEMPORAL_NAMESPACE }),
        taskQueue: cfg.TEMPORAL_TASK_QUEUE,
      },
      metrics,
      engines: {
        resolver: cfg.CLUSTER_DNS ? clusterDnsResolver(cfg.CLUSTER_DNS) : clusterResolver(),
      },
    }),
    // The footprint knobs (common/config.ts says why each default).
    maxCachedWorkflows: cfg.WORKER_MAX_CACHED_WORKFLOWS,
    maxConcurrentWorkflowTaskExecutions: cfg.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxConcurrentActivityTaskExecutions: cfg.WORKER_MAX_CONCURRENT_ACTIVITIES,
    // A killed worker's sticky workflow tasks move to another worker after this long.
    stickyQueueScheduleToStartTimeout: '5 seconds',
    interceptors: {
      ...interceptors,
      activity: [
        ...(tracing?.activityInterceptors() ?? []),
        activityInterceptors(metrics),
        ...(interceptors?.activity ?? []),
      ],
    },
    sinks: tracing?.sinks() ?? disabledTracingSinks(),
  });
  // The connection is this worker's alone: it is closed when the worker stops. (With the core's
  // logs forwarded, an open connection would keep the process from exiting.)
  const run = worker.run.bind(worker);
  worker.run = () => run().finally(() => connection.close().catch(() => undefined));
  logger.info(
    { taskQueue: cfg.TEMPORAL_TASK_QUEUE, namespace: cfg.TEMPORAL_NAMESPACE, address: cfg.TEMPORAL_ADDRESS },
    'worker ready',
  );
  return worker;
}

/** Worker states in which the process is alive: starting, running, or shutting down in order. */
const LIVE_STATES = new Set(['STARTING', 'INITIALIZED', 'RUNNING', 'STOPPING', 'DRAINING', 'DRAINED']);

export interface WorkerProcess {
  worker: Worker;
  http: ObservabilityServer;
  metrics: WorkerMetrics;
  /** Settles when the worker has stopped and the endpoints are closed, the spans flushed. */
  done: Promise<void>;
  /** Shuts the worker down gracefully and waits for `done`. */
  stop(): Promise<void>;
}

/**
 * The worker process: serves /metrics, /healthz and /readyz from the start (liveness holds while
 * the workflows are bundled; readiness waits for the worker), creates the worker with its
 * metrics and, when enabled, tracing, and runs it.
 *
 * - liveness: the worker is starting, RUNNING, or shutting down in order (not FAILED or STOPPED);
 * - readiness: the worker is RUNNING, the Temporal frontend answers (GetSystemInfo) and the
 *   Kubernetes API server answers (GET /version); each check is cached for 5 s.
 */
export async function startWorkerProcess(
  cfg: OperatorConfig,
  logger: Logger,
  interceptors?: WorkerOptions['interceptors'],
): Promise<WorkerProcess> {
  const metrics = new WorkerMetrics();
  const tracing = await setupTracing(cfg, 'worker', logger, { instance: workerIdentity(cfg) });
  let worker: Worker | undefined;
  const state = () => worker?.getState() ?? 'STARTING';
  const dependencies = {
    temporal: cached(temporalCheck(() => worker?.connection)),
    kubernetes: cached(kubernetesCheck(loadKubeConfig(cfg.KUBECONFIG))),
  };
  const http = await startObservabilityServer({
    host: cfg.HTTP_HOST,
    port: cfg.HTTP_PORT,
    component: 'worker',
    registry: metrics.registry,
    logger,
    liveness: () => {
      const ok = LIVE_STATES.has(state());
      return { ok, checks: { worker: { ok, message: `state ${state()}` } } };
    },
    readiness: async () => {
      const running = state() === 'RUNNING';
      const checks = {
        worker: { ok: running, message: `state ${state()}` },
        ...(await runChecks(dependencies)),
      };
      return { ok: Object.values(checks).every((c) => c.ok), checks };
    },
  });
  const cleanup = async () => {
    await http.close();
    await tracing?.shutdown().catch((err: unknown) => {
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'flushing spans failed');
    });
  };
  try {
    worker = await createWorker(cfg, logger, interceptors, { metrics, tracing });
  } catch (err) {
    await cleanup();
    throw err;
  }
  const running = worker;
  const done = running.run().finally(cleanup);
  return {
    worker: running,
    http,
    metrics,
    done,
    stop: async () => {
      if (running.getState() === 'RUNNING') running.shutdown();
      await done;
    },
  };
}

/** `durable-db-operator worker`: runs until SIGINT/SIGTERM, then drains and exits. */
export async function main(): Promise<void> {
  const cfg = loadConfig();
  const logger = createLogger(cfg.LOG_LEVEL, 'worker');
  // The Worker shuts down gracefully on SIGINT/SIGTERM by default (Runtime shutdownSignals).
  const { done } = await startWorkerProcess(cfg, logger);
  await done;
  logger.info('worker stopped');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
