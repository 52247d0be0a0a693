import fs from 'node:fs';
import os from 'node:os';
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
import { loadConfig, type OperatorConfig } from '../common/config';
import { loadKubeConfig } from '../common/kube';
import { createLogger, type Logger } from '../common/logger';
import { connectWorker } from '../common/temporal-connection';

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

/** Routes the Temporal SDK's own logs (worker state, activity and workflow logs) into pino. */
function installRuntimeLogger(logger: Logger, level: string): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: new DefaultLogger(TEMPORAL_LEVELS[level] ?? 'INFO', ({ level: l, message, meta }) => {
      const fn =
        l === 'ERROR' ? 'error' : l === 'WARN' ? 'warn' : l === 'DEBUG' || l === 'TRACE' ? 'debug' : 'info';
      logger[fn]({ ...meta }, message);
    }),
  });
}

export function workflowsPath(): string {
  return require.resolve('../workflows');
}

/** The workflow bundle: a pre-built file (WORKFLOW_BUNDLE_PATH) or bundled now from source. */
export async function loadWorkflowBundle(
  cfg: Pick<OperatorConfig, 'WORKFLOW_BUNDLE_PATH'>,
): Promise<{ code: string }> {
  if (cfg.WORKFLOW_BUNDLE_PATH) return { code: fs.readFileSync(cfg.WORKFLOW_BUNDLE_PATH, 'utf8') };
  return bundleWorkflowCode({ workflowsPath: workflowsPath(), logger: new DefaultLogger('WARN') });
}

/**
 * Creates a Worker on the operator's task queue with the Database workflow and its activities.
 * `interceptors` is for tests that need to stop a worker at a precise point.
 */
export async function createWorker(
  cfg: OperatorConfig,
  logger: Logger,
  interceptors?: WorkerOptions['interceptors'],
): Promise<Worker> {
  installRuntimeLogger(logger, cfg.LOG_LEVEL);
  const kc = loadKubeConfig(cfg.KUBECONFIG);
  const identity = cfg.POD_NAME ?? `${os.hostname()}-${process.pid}`;
  const connection = await connectWorker(cfg);
  const worker = await Worker.create({
    connection,
    namespace: cfg.TEMPORAL_NAMESPACE,
    taskQueue: cfg.TEMPORAL_TASK_QUEUE,
    identity: `worker@${identity}`,
    workflowBundle: await loadWorkflowBundle(cfg),
    activities: createActivities({
      clients: makeKubeClients(kc),
      report: { uiUrl: cfg.TEMPORAL_UI_URL, temporalNamespace: cfg.TEMPORAL_NAMESPACE, instance: identity },
    }),
    // A killed worker's sticky workflow tasks move to another worker after this long.
    stickyQueueScheduleToStartTimeout: '5 seconds',
    interceptors,
  });
  logger.info(
    { taskQueue: cfg.TEMPORAL_TASK_QUEUE, namespace: cfg.TEMPORAL_NAMESPACE, address: cfg.TEMPORAL_ADDRESS },
    'worker ready',
  );
  return worker;
}

/** `durable-db-operator worker`: runs until SIGINT/SIGTERM, then drains and exits. */
export async function main(): Promise<void> {
  const cfg = loadConfig();
  const logger = createLogger(cfg.LOG_LEVEL, 'worker');
  const worker = await createWorker(cfg, logger);
  // The Worker shuts down gracefully on SIGINT/SIGTERM by default (Runtime shutdownSignals).
  await worker.run();
  logger.info('worker stopped');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
