import { Client } from '@temporalio/client';
import { loadConfig, type OperatorConfig } from '../common/config';
import { loadKubeConfig } from '../common/kube';
import { createLogger, type Logger } from '../common/logger';
import { connectClient } from '../common/temporal-connection';
import { Watcher, watcherOptionsFromConfig } from '../watcher';

/** Creates the watcher (not yet started) with its own Temporal client. */
export async function createWatcher(
  cfg: OperatorConfig,
  logger: Logger,
  onLeadershipLost?: () => void,
): Promise<{ watcher: Watcher; close: () => Promise<void> }> {
  const connection = await connectClient(cfg);
  const temporalClient = new Client({ connection, namespace: cfg.TEMPORAL_NAMESPACE });
  const watcher = new Watcher(
    watcherOptionsFromConfig(cfg, {
      kubeConfig: loadKubeConfig(cfg.KUBECONFIG),
      temporalClient,
      logger,
      onLeadershipLost,
    }),
  );
  return {
    watcher,
    close: async () => {
      await watcher.stop();
      await connection.close();
    },
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
  const { watcher, close } = await createWatcher(cfg, logger, () => {
    logger.error('lost the leader Lease; exiting');
    void close().finally(() => process.exit(1));
  });
  const stop = (signal: string) => {
    logger.info({ signal }, 'stopping watcher');
    void close().then(() => process.exit(0));
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  await watcher.start();
  logger.info({ namespaces: cfg.WATCH_NAMESPACES.length ? cfg.WATCH_NAMESPACES : 'all' }, 'watcher started');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
