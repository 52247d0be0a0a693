import { Client, type Connection } from '@temporalio/client';
import { loadConfig, type OperatorConfig } from '../common/config';
import { cached, kubernetesCheck, runChecks, temporalCheck } from '../common/health';
import { startObservabilityServer, type ObservabilityServer } from '../common/http-server';
import { loadKubeConfig } from '../common/kube';
import { createLogger, type Logger } from '../common/logger';
import { WatcherMetrics } from '../common/metrics';
import { connectClient } from '../common/temporal-connection';
import { setupTracing, type Tracing } from '../common/tracing';
import { defaultIdentity, Watcher, watcherOptionsFromConfig } from '../watcher';

/** What the watcher reports to, besides its logs. */
export interface WatcherObservability {
  metrics?: WatcherMetrics;
  tracing?: Tracing;
}

/** Creates the watcher (not yet started) with its own Temporal client. */
export async function createWatcher(
  cfg: OperatorConfig,
  logger: Logger,
  onLeadershipLost?: () => void,
  { metrics, tracing }: WatcherObservability = {},
): Promise<{ watcher: Watcher; close: () => Promise<void>; connection: Connection }> {
  const connection = await connectClient(cfg);
  const temporalClient = new Client({
    connection,
    namespace: cfg.TEMPORAL_NAMESPACE,
    interceptors: tracing ? { workflow: tracing.clientInterceptors() } : undefined,
  });
  const watcher = new Watcher(
    watcherOptionsFromConfig(cfg, {
      kubeConfig: loadKubeConfig(cfg.KUBECONFIG),
      temporalClient,
      logger,
      onLeadershipLost,
      observer: metrics,
    }),
  );
  metrics?.attach(watcher);
  return {
    watcher,
    connection,
    close: async () => {
      await watcher.stop();
      await connection.close();
    },
  };
}

export interface WatcherProcess {
  watcher: Watcher;
  http: ObservabilityServer;
  metrics: WatcherMetrics;
  /** Stops the watcher (releasing the Lease), closes the endpoints and flushes the spans. */
  stop(): Promise<void>;
}

/**
 * The watcher process: the watcher with its metrics and, when enabled, tracing, started, and
 * /metrics, /healthz and /readyz served.
 *
 * - liveness: the watcher is started, leading or standing by;
 * - readiness: the Temporal frontend (GetSystemInfo) and the Kubernetes API server (GET /version)
 *   answer, each check cached for 5 s, and a leader's informers are running (listed, watching).
 *   A standby is ready, as a standby: the body says `"leader": false`.
 */
export async function startWatcherProcess(
  cfg: OperatorConfig,
  logger: Logger,
  onLeadershipLost?: () => void,
): Promise<WatcherProcess> {
  const metrics = new WatcherMetrics();
  const tracing = await setupTracing(cfg, 'watcher', logger, { instance: defaultIdentity(cfg.POD_NAME) });
  const { watcher, close, connection } = await createWatcher(cfg, logger, onLeadershipLost, {
    metrics,
    tracing,
  });
  const dependencies = {
    temporal: cached(temporalCheck(() => connection)),
    kubernetes: cached(kubernetesCheck(loadKubeConfig(cfg.KUBECONFIG))),
  };
  const role = () => {
    const st = watcher.status();
    return { st, role: !st.started ? 'stopped' : st.leader ? 'leader' : 'standby' };
  };
  const http = await startObservabilityServer({
    host: cfg.HTTP_HOST,
    port: cfg.HTTP_PORT,
    component: 'watcher',
    registry: metrics.registry,
    logger,
    liveness: () => {
      const { st, role: r } = role();
      return {
        ok: st.started,
        checks: { watcher: { ok: st.started, message: r } },
        details: { leader: st.leader },
      };
    },
    readiness: async () => {
      const { st, role: r } = role();
      const informers = !st.leader
        ? { ok: true, message: 'standby: only the leader runs informers' }
        : st.informersRunning
          ? { ok: true, message: 'running' }
          : { ok: false, message: 'not (yet) listed and watching' };
      const checks = {
        watcher: { ok: st.started, message: r },
        informers,
        ...(await runChecks(dependencies)),
      };
      return {
        ok: Object.values(checks).every((c) => c.ok),
        checks,
        details: {
          leader: st.leader,
          ...(st.lastEventAt ? { lastEventAt: st.lastEventAt.toISOString() } : {}),
        },
      };
    },
  });
  try {
    await watcher.start();
  } catch (err) {
    await close().catch(() => undefined);
    await http.close();
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    watcher,
    http,
    metrics,
    stop: () =>
      (stopping ??= (async () => {
        await close();
        await http.close();
        await tracing?.shutdown().catch((err: unknown) => {
          logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'flushing spans failed');
        });
      })()),
  };
}

/**
 * `durable-db-operator watcher`: runs until SIGINT/SIGTERM. Losing the leader Lease ends the
 * process (its Deployment restarts it as a standby), as controller-runtime managers do: a
 * process that is unsure whether it still leads must not keep signalling.
 */
export async function main(): Promise<void> {
  const cfg = loadConfig();
  const logger = createLogger(cfg.LOG_LEVEL, 'watcher');
  const running: { proc?: WatcherProcess } = {};
  const exit = (code: number) =>
    void (running.proc?.stop() ?? Promise.resolve()).finally(() => process.exit(code));
  const stop = (signal: string) => {
    logger.info({ signal }, 'stopping watcher');
    exit(0);
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  running.proc = await startWatcherProcess(cfg, logger, () => {
    logger.error('lost the leader Lease; exiting');
    exit(1);
  });
  logger.info({ namespaces: cfg.WATCH_NAMESPACES.length ? cfg.WATCH_NAMESPACES : 'all' }, 'watcher started');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
