import fs from 'node:fs';
import { Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';
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

export function connectWorker(cfg: OperatorConfig): Promise<NativeConnection> {
  return NativeConnection.connect({
    address: cfg.TEMPORAL_ADDRESS,
    ...(securityOptions(cfg) as Pick<NativeConnectionOptions, 'tls' | 'apiKey'>),
  });
}
