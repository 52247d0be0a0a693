import fs from 'node:fs';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import type { NativeConnection, NativeConnectionOptions } from '@temporalio/worker';
import type { OperatorConfig } from './config';

/** TLS and API-key settings shared by the client (watcher) and the worker connections. */
function securityOptions(cfg: OperatorConfig): Pick<ConnectionOptions, 'tls' | 'apiKey'> {
  const apiKey = cfg.TEMPORAL_API_KEY_FILE
    ? fs.readFileSync(cfg.TEMPORAL_API_KEY_FILE, 'utf8').trim()
    : cfg.TEMPORAL_API_KEY;
  const mtls = cfg.TEMPORAL_TLS_CERT && cfg.TEMPORAL_TLS_KEY;
  if (!mtls && !apiKey && !cfg.TEMPORAL_TLS_CA) return {};
  return {
    apiKey,
    tls: {
      serverNameOverride: cfg.TEMPORAL_TLS_SERVER_NAME,
      serverRootCACertificate: cfg.TEMPORAL_TLS_CA ? fs.readFileSync(cfg.TEMPORAL_TLS_CA) : undefined,
      clientCertPair: mtls
        ? { crt: fs.readFileSync(cfg.TEMPORAL_TLS_CERT!), key: fs.readFileSync(cfg.TEMPORAL_TLS_KEY!) }
        : undefined,
    },
  };
}

export function connectClient(cfg: OperatorConfig): Promise<Connection> {
  return Connection.connect({ address: cfg.TEMPORAL_ADDRESS, ...securityOptions(cfg) });
}

/**
 * The worker's connection, through the SDK's native core. Loaded here only when asked for: the
 * watcher, which needs only the client, then does not load the worker package (its native
 * library, the bundler and rxjs: some 20 MiB of its memory).
 */
export async function connectWorker(cfg: OperatorConfig): Promise<NativeConnection> {
  // require, not import(): the code is CommonJS, and Jest's sandbox runs no dynamic import.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { NativeConnection } = require('@temporalio/worker') as typeof import('@temporalio/worker');
  return NativeConnection.connect({
    address: cfg.TEMPORAL_ADDRESS,
    ...(securityOptions(cfg) as Pick<NativeConnectionOptions, 'tls' | 'apiKey'>),
  });
}
